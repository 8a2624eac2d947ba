"""Measure end-to-end tenant provisioning: signup, schema, search storage, namespace, admin.

Usage (from the repository root)::

    .venv/bin/python bench/provision_tenants.py [--tenants 100] [--keep]

Everything runs against a throwaway ``PORTAL_VAR_DIR`` (embedded PostgreSQL, Redis and the
Qdrant engine in this process, Celery eager), which is removed at the end unless ``--keep``.
Tenants cycle through every tier, so dedicated storage is exercised too. The figures include
the shared migrations only once, in the "setup" line, not in the per-tenant times.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _configure(var_dir: Path) -> None:
    os.environ["PORTAL_VAR_DIR"] = str(var_dir)
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import logging

    import django

    django.setup()
    # Each provisioning logs a dozen info lines; they would drown the figures.
    logging.disable(logging.INFO)


def _setup_public() -> float:
    from django.core.management import call_command

    from tenants.models import Domain, Tenant

    started = time.perf_counter()
    call_command("migrate_schemas", "--shared", verbosity=0)
    call_command("tenant_template", verbosity=0)
    public, _ = Tenant.objects.get_or_create(
        schema_name="public",
        defaults={"name": "Public", "slug": "public", "status": Tenant.Status.READY},
    )
    Domain.objects.get_or_create(domain="localhost", defaults={"tenant": public})
    return time.perf_counter() - started


def _provision(count: int) -> tuple[list[float], list[str]]:
    from tenants.models import Tenant
    from tenants.services.signup import sign_up
    from tenants.tiers import TIERS

    tiers = list(TIERS)
    seconds: list[float] = []
    failed: list[str] = []
    for index in range(count):
        slug = f"bench-{index:04d}"
        started = time.perf_counter()
        result = sign_up(
            name=slug,
            slug=slug,
            admin_email=f"admin@{slug}.example.com",
            password="Bench-Password-123",  # noqa: S106 -- throwaway tenants
            tier=tiers[index % len(tiers)],
        )
        seconds.append(time.perf_counter() - started)
        if Tenant.objects.get(pk=result.tenant.pk).status != Tenant.Status.READY:
            failed.append(slug)
    return seconds, failed


def _clean_up(var_dir: Path, *, keep: bool) -> None:
    from django.conf import settings
    from django.db import connections

    from portal import embedded
    from search.vector_store import reset_vector_store

    reset_vector_store()
    connections.close_all()
    embedded.stop_redis(settings.VAR_DIR)
    embedded.stop_postgres(settings.VAR_DIR)
    if not keep:
        shutil.rmtree(var_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--keep", action="store_true", help="Keep the throwaway data folder.")
    args = parser.parse_args()

    var_dir = Path(tempfile.mkdtemp(prefix="bench-provision-"))
    started = time.perf_counter()
    _configure(var_dir)
    try:
        setup_seconds = _setup_public()
        seconds, failed = _provision(args.tenants)
    finally:
        _clean_up(var_dir, keep=args.keep)
    total = sum(seconds)

    print(f"tenants: {args.tenants}, not ready: {len(failed)} {failed[:5]}")
    print(f"setup (embedded servers, shared migrations, template): {setup_seconds:.2f} s")
    print(f"provisioning total: {total:.2f} s")
    print(
        "per tenant: "
        f"mean {statistics.mean(seconds) * 1000:.0f} ms, "
        f"median {statistics.median(seconds) * 1000:.0f} ms, "
        f"max {max(seconds) * 1000:.0f} ms"
    )
    print(f"wall clock including start-up and clean-up: {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
