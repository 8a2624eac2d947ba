"""Build the migrated template schema that new tenant schemas are cloned from."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from tenants.services.schema_template import (
    TEMPLATE_SCHEMA,
    ensure_template_schema,
    template_copy_method,
)


class Command(BaseCommand):
    help = (
        "Build (or rebuild when its migrations are behind) the template schema new tenants "
        "are cloned from. Run after `migrate_schemas` on every deploy."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--rebuild", action="store_true", help="Rebuild even when the template is current."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        built = ensure_template_schema(rebuild=options["rebuild"])
        # Capturing the copy script here surfaces an unusable pg_dump at deploy time rather
        # than as slow signups.
        method = template_copy_method()
        if options["verbosity"] >= 1:
            state = "built" if built else "already current"
            self.stdout.write(f"Template schema {TEMPLATE_SCHEMA}: {state}.")
            if method == "replayed":
                self.stdout.write("New tenant schemas will be copied with its pg_dump script.")
            else:
                self.stdout.write(
                    "No pg_dump can read it (see the warnings above): new tenant schemas will "
                    "be migrated one by one, seconds each. Put a pg_dump as new as the server "
                    "on PATH."
                )
