"""Build the migrated template schema that new tenant schemas are cloned from."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from tenants.services.provisioning import TEMPLATE_SCHEMA, ensure_template_schema


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
        if options["verbosity"] >= 1:
            state = "built" if built else "already current"
            self.stdout.write(f"Template schema {TEMPLATE_SCHEMA}: {state}.")
