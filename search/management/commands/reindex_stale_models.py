"""Queue an index job for every repository indexed with another model or term scheme.

After ``EMBEDDING_MODEL`` changes, each repository's stored vectors belong to the old model
and dense ranking against them is meaningless until it is re-indexed; after a release that
changes the keyword terms (``search.sparse.TERM_SCHEME``) its keyword vectors miss terms.
This command finds those repositories in every tenant and queues their index jobs (which
re-embed every file, see search.services.indexing). It can be run again at any time: a
repository whose job is already queued or running is reported, not queued twice.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import get_public_schema_name, tenant_context

from portal.exceptions import PortalError
from search import selectors
from search.embeddings import KNOWN_MODELS
from search.exceptions import JobAlreadyRunning
from search.models import Repository
from search.services.indexing import start_index_job
from search.sparse import TERM_SCHEME
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Queue an index job for each repository, in every tenant, whose vectors come from "
        "another embedding model than EMBEDDING_MODEL (or from an unrecorded one), or whose "
        "keyword terms follow an older scheme. "
        "Example: manage.py reindex_stale_models --dry-run"
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="List the repositories; queue nothing."
        )
        parser.add_argument("--tenant", help="Only this tenant (slug).")

    def handle(self, *args: Any, **options: Any) -> None:
        model = selectors.configured_embedding_model()
        if model not in KNOWN_MODELS:
            raise CommandError(
                f"EMBEDDING_MODEL={model!r} is not a registered model ("
                f"{', '.join(sorted(KNOWN_MODELS))}); fix the setting before re-indexing."
            )
        tenants = Tenant.objects.exclude(schema_name=get_public_schema_name())
        if options["tenant"]:
            tenants = tenants.filter(slug=options["tenant"])
            if not tenants.exists():
                raise CommandError(f"No tenant with slug {options['tenant']!r}.")
        if not tenants.exists():
            self.stdout.write("No tenants to check.")
            return
        refused = 0
        for tenant in tenants:
            if not tenant.is_ready:
                self.stdout.write(f"{tenant.slug}: skipped, tenant is {tenant.status}")
                continue
            with tenant_context(tenant):
                refused += self._tenant(tenant, model, dry_run=options["dry_run"])
        if refused:
            raise CommandError(
                f"{_repositories(refused)} not queued "
                "(reasons above); run the command again once running index jobs have finished."
            )

    def _tenant(self, tenant: Tenant, model: str, *, dry_run: bool) -> int:
        """Report (and unless ``dry_run`` queue) the tenant's stale repositories; return how
        many could not be queued."""
        stale = list(selectors.repositories_needing_reindex())
        total = selectors.repositories().count()
        if not stale:
            self.stdout.write(f"{tenant.slug}: up to date ({_repositories(total)}, {model})")
            return 0
        verb = "would queue" if dry_run else "queueing"
        self.stdout.write(
            f"{tenant.slug}: {len(stale)} of {_repositories(total)} indexed with another model "
            f"or term scheme than {model}, terms v{TERM_SCHEME}; {verb} index jobs"
        )
        refused = 0
        for repository in stale:
            was = (
                f"{repository.embedding_model or 'unrecorded model'}, "
                f"terms v{repository.term_scheme}"
            )
            if dry_run:
                self.stdout.write(f"  {repository.name}: indexed with {was}")
                continue
            outcome, ok = self._queue(repository)
            refused += not ok
            self.stdout.write(f"  {repository.name}: indexed with {was}; {outcome}")
        return refused

    @staticmethod
    def _queue(repository: Repository) -> tuple[str, bool]:
        """Queue the repository's index job; return what happened and whether it is on its
        way (a job that is already queued or running re-embeds it too)."""
        try:
            job = start_index_job(repository=repository)
        except JobAlreadyRunning as exc:
            return f"job {exc.data.get('job_id')} is already queued or running", True
        except PortalError as exc:
            return f"not queued: {exc.message}", False
        return f"queued job {job.pk}", True


def _repositories(count: int) -> str:
    return f"{count} repositor{'y' if count == 1 else 'ies'}"
