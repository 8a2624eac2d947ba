"""Index a tenant's repository from the command line, with a progress bar."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import tenant_context
from tqdm import tqdm

from portal.exceptions import PortalError
from search.models import IndexJob, Repository
from search.services.indexing import run_index_job
from search.services.repositories import create_local_repository
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Index a repository of a tenant now, in this process. "
        "Example: manage.py index_repository demo django --path /path/to/django --create"
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("tenant", help="Tenant slug.")
        parser.add_argument("repository", help="Repository name or id.")
        parser.add_argument("--path", help="Directory to register with --create.")
        parser.add_argument("--create", action="store_true", help="Register it if missing.")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None or not tenant.is_ready:
            raise CommandError(f"No ready tenant with slug {options['tenant']!r}.")
        with tenant_context(tenant):
            repository = self._repository(options)
            job = IndexJob.objects.create(repository=repository)
            bar = tqdm(total=0, unit="file", desc=repository.name, file=self.stderr)

            def progress(current: IndexJob) -> None:
                bar.total = current.files_total
                bar.n = current.files_done
                bar.set_postfix(chunks=current.chunks_indexed, refresh=False)
                bar.refresh()

            try:
                finished = run_index_job(job.pk, on_progress=progress)
            finally:
                bar.close()
            if finished is None or finished.status == IndexJob.Status.FAILED:
                raise CommandError(
                    f"Index job {job.pk} failed: {finished.error if finished else ''}"
                )
            self.stdout.write(
                f"{finished.status}: {finished.files_indexed} files indexed, "
                f"{finished.files_unchanged} unchanged, {finished.files_skipped} skipped, "
                f"{finished.files_failed} failed, {finished.chunks_indexed} chunks in "
                f"{finished.elapsed_seconds:.1f} s (embedding {finished.embed_seconds:.1f} s)"
            )

    def _repository(self, options: dict[str, Any]) -> Repository:
        ref = options["repository"]
        repository = (
            Repository.objects.filter(pk=int(ref)).first()
            if ref.isdigit()
            else Repository.objects.filter(name=ref).first()
        )
        if repository is not None:
            return repository
        if not options["create"] or not options["path"]:
            raise CommandError(f"No repository {ref!r}; pass --create --path DIR to register it.")
        try:
            return create_local_repository(name=ref, path=options["path"])
        except PortalError as exc:
            raise CommandError(exc.message) from exc
