"""Create the public tenant and the demo tenant, and start indexing the demo codebase.

Safe to run again: existing rows are kept, the demo password is reused, and indexing is only
queued when the demo repository has never been indexed and no job is active.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import django
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django_tenants.utils import tenant_context

from search.models import IndexJob, Repository
from search.services.indexing import start_index_job
from search.services.repositories import create_local_repository
from tenants.models import Domain, Tenant
from tenants.services.provisioning import run_provisioning
from tenants.services.signup import sign_up

DEMO_SLUG = "demo"
DEMO_EMAIL = "admin@example.com"
# The demo indexes Django's own source; translations and vendored assets add nothing to search.
DEMO_IGNORE = "locale/\n*.po\n*.mo\nstatic/\ncontrib/gis/\n"


class Command(BaseCommand):
    help = "Create the public and demo tenants and queue indexing of the demo repository."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--no-index", action="store_true", help="Do not queue indexing.")
        parser.add_argument(
            "--public-only", action="store_true", help="Only create the public site's tenant."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self._public_tenant()
        if options["public_only"]:
            return
        credentials = self._demo_credentials()
        password = credentials["password"]
        demo = Tenant.objects.filter(slug=DEMO_SLUG).first()
        if demo is None:
            result = sign_up(
                name="Demo",
                slug=DEMO_SLUG,
                admin_email=DEMO_EMAIL,
                password=password,
                tier="team",
                # Provisioned right below, in this process: a queued run would race it.
                queue_provisioning=False,
            )
            demo = result.tenant
            credentials["api_token"] = result.api_token
            self._save_credentials(credentials)
        if not demo.is_ready:
            demo = run_provisioning(demo.pk)
        port = settings.PORTAL_PORT
        self.stdout.write(
            f"Demo tenant: http://{DEMO_SLUG}.{settings.PORTAL_BASE_DOMAIN}:{port}/  "
            f"login {DEMO_EMAIL} / {password}"
        )
        if credentials.get("api_token"):
            self.stdout.write(f"Demo API token: {credentials['api_token']}")
        # Labelled generated history (source=generated) so the dashboards have weeks to show.
        call_command("seed_demo_metrics", DEMO_SLUG, weeks=4, stdout=self.stdout)
        if not options["no_index"]:
            self._queue_demo_index(demo)

    def _public_tenant(self) -> None:
        public, _ = Tenant.objects.get_or_create(
            schema_name=settings.PUBLIC_SCHEMA_NAME,
            defaults={"name": "Public", "slug": "public", "status": Tenant.Status.READY},
        )
        for host in settings.PORTAL_PUBLIC_HOSTS:
            Domain.objects.get_or_create(
                domain=host, defaults={"tenant": public, "is_primary": host == "localhost"}
            )

    def _demo_credentials(self) -> dict[str, str]:
        """Reuse the demo login across runs (a demo convenience, kept 0600 under var/)."""
        path = settings.VAR_DIR / "demo_credentials.json"
        if path.exists():
            return json.loads(path.read_text())
        credentials = {"email": DEMO_EMAIL, "password": secrets.token_urlsafe(12)}
        self._save_credentials(credentials)
        return credentials

    def _save_credentials(self, credentials: dict[str, str]) -> None:
        path = settings.VAR_DIR / "demo_credentials.json"
        path.write_text(json.dumps(credentials))
        path.chmod(0o600)

    def _queue_demo_index(self, demo: Tenant) -> None:
        source = Path(django.__file__).resolve().parent
        with tenant_context(demo):
            repository = Repository.objects.filter(name="django").first()
            if repository is None:
                repository = create_local_repository(
                    name="django", path=str(source), ignore_patterns=DEMO_IGNORE
                )
            has_job = repository.jobs.exclude(status=IndexJob.Status.FAILED).exists()
            if repository.last_indexed_at is None and not has_job:
                job = start_index_job(repository=repository)
                self.stdout.write(f"Indexing {source} as job {job.pk}; watch it on the site.")
            else:
                self.stdout.write("Demo repository already indexed or being indexed.")
