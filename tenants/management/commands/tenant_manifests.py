"""Print a tenant's rendered and validated namespace bundle; optionally diff or apply it."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.exceptions import PortalError
from tenants.kubernetes.render import manifests_to_yaml
from tenants.models import Tenant
from tenants.services.namespaces import cluster_applier, provision_namespace, render_for


class Command(BaseCommand):
    help = (
        "Print the tenant's Kubernetes bundle as YAML (ready for `kubectl apply -f -`). "
        "--diff compares it with the configured cluster; --apply applies it there."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="The tenant's slug.")
        parser.add_argument(
            "--diff", action="store_true", help="Print drift against the live cluster instead."
        )
        parser.add_argument(
            "--apply",
            action="store_true",
            help="Server-side apply the bundle to the configured cluster and store it.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["slug"]).exclude(schema_name="public").first()
        if tenant is None:
            raise CommandError(f"No tenant with slug {options['slug']!r}; check the slug.")
        try:
            manifests = render_for(tenant)
            if not options["diff"] and not options["apply"]:
                self.stdout.write(manifests_to_yaml(manifests), ending="")
                return
            applier = cluster_applier()
            if applier is None:
                raise CommandError(
                    "No Kubernetes cluster is configured (set KUBECONFIG or "
                    "KUBERNETES_IN_CLUSTER); without one, print the bundle and apply it with "
                    "`kubectl apply -f -`."
                )
            if options["diff"]:
                self._print_drift(applier.diff(manifests))
            if options["apply"]:
                provision_namespace(tenant)
                self.stdout.write(f"Applied {len(manifests)} object(s) to {applier.host}.")
        except PortalError as exc:
            raise CommandError(exc.message) from exc

    def _print_drift(self, drifts: list[Any]) -> None:
        if not drifts:
            self.stdout.write("No drift: the cluster matches the rendered bundle.")
            return
        for drift in drifts:
            where = f"{drift.kind} {drift.namespace + '/' if drift.namespace else ''}{drift.name}"
            if drift.is_missing:
                self.stdout.write(f"missing  {where}")
            else:
                self.stdout.write(
                    f"changed  {where} {drift.path}: want {drift.desired!r}, live {drift.live!r}"
                )
        self.stdout.write(f"{len(drifts)} difference(s).")
