"""Measure end-to-end tenant provisioning: signup, schema, search storage, namespace, admin.

Usage (from the repository root)::

    .venv/bin/python bench/provision_tenants.py [--tenants 100] [--workers 2] [--keep]

Everything runs against a throwaway ``PORTAL_VAR_DIR`` (embedded PostgreSQL, Redis and the
Qdrant engine in this process, Celery eager), which is removed at the end unless ``--keep``.
Tenants cycle through every tier, so dedicated storage is exercised too. The figures include
the shared migrations only once, in the "setup" line, not in the per-tenant times; so is
``manage.py tenant_template`` (as a deploy runs it), which builds the template schema and
captures its pg_dump script in this process. A Celery worker process captures the script on
its first signup instead (two pg_dump runs, a few hundred ms).

The serial run signs tenants up one after another, as one Celery worker would. With
``--workers N`` (N > 1) a second batch of as many tenants is then signed up by N threads at
once, as N Celery workers (``-P threads``) sharing this process's vector store would; those
tenants land on top of the serial batch, so the database holds twice the schemas by the end.

The per-step breakdown comes from the timestamps the state machine records in
``ProvisioningStep``; "signup" is the request part (validation, Argon2 hash of the admin
password, tenant rows) and "bookkeeping" is what remains (step status writes, loading the
tenant, marking it ready).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.throwaway import close_throwaway_portal  # noqa: E402 -- needs the path above

STEP_LABELS = {
    "signup": "signup (validate, hash, rows)",
    "schema": "schema",
    "search_storage": "search storage",
    "namespace": "namespace (render, validate)",
    "admin_user": "admin user and token",
    "bookkeeping": "bookkeeping",
}


@dataclass
class TenantTiming:
    slug: str
    tier: str
    total_seconds: float
    step_seconds: dict[str, float] = field(default_factory=dict)
    is_ready: bool = True


@dataclass
class RunResult:
    label: str
    timings: list[TenantTiming]
    wall_seconds: float


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


def _sign_up_one(slug: str, tier: str) -> TenantTiming:
    from django.utils import timezone

    from tenants.models import Tenant
    from tenants.services.signup import sign_up

    called_at = timezone.now()
    started = time.perf_counter()
    result = sign_up(
        name=slug,
        slug=slug,
        admin_email=f"admin@{slug}.example.com",
        password="Bench-Password-123",  # noqa: S106 -- throwaway tenants
        tier=tier,
    )
    total = time.perf_counter() - started
    tenant = Tenant.objects.get(pk=result.tenant.pk)
    return TenantTiming(
        slug=slug,
        tier=tier,
        total_seconds=total,
        step_seconds=_step_breakdown(tenant, called_at, total),
        is_ready=tenant.status == Tenant.Status.READY,
    )


def _step_breakdown(tenant: object, called_at: datetime, total_seconds: float) -> dict[str, float]:
    """Split one signup's wall time into the recorded steps, the signup and the rest."""
    steps = list(tenant.steps.order_by("position"))  # type: ignore[attr-defined]
    seconds: dict[str, float] = {}
    if steps and steps[0].started_at is not None:
        seconds["signup"] = (steps[0].started_at - called_at).total_seconds()
    for step in steps:
        if step.started_at is not None and step.finished_at is not None:
            seconds[step.name] = (step.finished_at - step.started_at).total_seconds()
    seconds["bookkeeping"] = total_seconds - sum(seconds.values())
    return seconds


def _tiers() -> list[str]:
    from tenants.tiers import TIERS

    return list(TIERS)


def _run_serial(count: int, prefix: str) -> RunResult:
    tiers = _tiers()
    started = time.perf_counter()
    timings = [
        _sign_up_one(f"{prefix}-{index:04d}", tiers[index % len(tiers)]) for index in range(count)
    ]
    return RunResult("serial", timings, time.perf_counter() - started)


def _run_concurrent(count: int, prefix: str, workers: int) -> RunResult:
    """Sign up ``count`` tenants from ``workers`` threads, each with its own DB connection."""
    from django.db import connections

    tiers = _tiers()
    jobs = [(f"{prefix}-{index:04d}", tiers[index % len(tiers)]) for index in range(count)]
    lock = threading.Lock()
    timings: list[TenantTiming] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            while True:
                with lock:
                    if not jobs:
                        return
                    slug, tier = jobs.pop(0)
                timing = _sign_up_one(slug, tier)
                with lock:
                    timings.append(timing)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, name=f"worker-{n}") for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if errors:
        raise errors[0]
    return RunResult(f"concurrent, {workers} workers", timings, wall)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _report(run: RunResult) -> None:
    timings = run.timings
    seconds = [t.total_seconds for t in timings]
    failed = [t.slug for t in timings if not t.is_ready]
    print(f"\n== {run.label}: {len(timings)} tenants, not ready: {len(failed)} {failed[:5]}")
    print(
        f"wall clock {run.wall_seconds:.2f} s, "
        f"{run.wall_seconds / len(timings) * 1000:.0f} ms per tenant of wall clock, "
        f"{len(timings) / run.wall_seconds:.2f} tenants/s"
    )
    print(
        "per tenant (latency): "
        f"mean {_ms(statistics.mean(seconds))}, median {_ms(statistics.median(seconds))}, "
        f"p90 {_ms(_quantile(seconds, 0.9))}, max {_ms(max(seconds))}"
    )
    print("per step (median, mean, max over tenants; dedicated = enterprise tier):")
    for name, label in STEP_LABELS.items():
        values = [t.step_seconds[name] for t in timings if name in t.step_seconds]
        if values:
            print(
                f"  {label:32s} {_ms(statistics.median(values)):>8s} "
                f"{_ms(statistics.mean(values)):>8s} {_ms(max(values)):>8s}"
            )
    for tier in sorted({t.tier for t in timings}):
        tier_seconds = [t.total_seconds for t in timings if t.tier == tier]
        label = f"total, {tier} tier"
        print(f"  {label:32s} {_ms(statistics.median(tier_seconds)):>8s}")
    _report_growth(timings)


def _report_growth(timings: list[TenantTiming]) -> None:
    """Compare the first and last fifth of a run: does the cost grow with the schema count?"""
    fifth = len(timings) // 5
    if fifth < 2:
        return
    first = statistics.median(t.total_seconds for t in timings[:fifth])
    last = statistics.median(t.total_seconds for t in timings[-fifth:])
    print(f"growth: median of first {fifth} {_ms(first)}, of last {fifth} {_ms(last)}")


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="Threads for a second, concurrent batch of --tenants tenants (0 or 1: serial only).",
    )
    parser.add_argument("--keep", action="store_true", help="Keep the throwaway data folder.")
    args = parser.parse_args()
    if args.tenants < 1 or args.workers < 0:
        parser.error("--tenants must be at least 1 and --workers at least 0.")

    var_dir = Path(tempfile.mkdtemp(prefix="bench-provision-"))
    started = time.perf_counter()
    print(f"load average at start: {_load()}")
    _configure(var_dir)
    runs: list[RunResult] = []
    steps: list[Callable[[], RunResult]] = [lambda: _run_serial(args.tenants, "serial")]
    if args.workers > 1:
        steps.append(lambda: _run_concurrent(args.tenants, "concurrent", args.workers))
    try:
        setup_seconds = _setup_public()
        for step in steps:
            runs.append(step())
    finally:
        close_throwaway_portal(var_dir, keep=args.keep)

    print(f"setup (embedded servers, shared migrations, template): {setup_seconds:.2f} s")
    for run in runs:
        _report(run)
    print(f"\nload average at end: {_load()}")
    print(f"wall clock including start-up and clean-up: {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
