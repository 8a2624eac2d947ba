"""Write generated (clearly labelled) metrics history for one tenant, for demos."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from capacity.services.demo_history import seed_demo_history
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Replace a tenant's GENERATED metrics history with N weeks of daily and weekly "
        "cycles. Measured rows are never touched; charts label generated series."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("tenant_slug")
        parser.add_argument("--weeks", type=int, default=4)

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant_slug"]).first()
        if tenant is None:
            raise CommandError(
                f"No tenant with slug {options['tenant_slug']!r}; list tenants in /admin/."
            )
        if not 1 <= options["weeks"] <= 52:
            raise CommandError(f"--weeks must be between 1 and 52, got {options['weeks']}.")
        rows = seed_demo_history(tenant, weeks=options["weeks"])
        self.stdout.write(f"Wrote {rows} generated rows for {tenant.slug} (source=generated).")
