"""Bounded load test of a running portal over loopback, printed as figures (not a test).

Steps through increasing numbers of concurrent users (threads, each with its own keep-alive
connection), each for a fixed time, and prints latency percentiles, throughput and error rate
per step. Then it soaks at one concurrency for longer and prints the resident memory of the
portal's processes (children of --portal-pid: gunicorn, Celery, the vector-store owner) every
--memory-every seconds, to show whether memory settles or keeps growing.

Each user mostly searches (a share of queries is made unique so they miss the response cache
and really reach the embedder and the vector store) and sometimes lists repositories.
Rate limits answer 429 long before the portal is saturated: run the portal with
PORTAL_RATE_LIMITS_ENABLED=false to measure capacity, or leave them on to measure limiting.

  .venv/bin/python bench/load_test.py --url http://127.0.0.1:8000 --host demo.localhost \\
      --token csp_... --portal-pid <supervisor pid> [--users 1,2,4,8,16,32] [--seconds 30] \\
      [--soak-seconds 600] [--soak-users 8]
"""

from __future__ import annotations

import argparse
import http.client
import random
import statistics
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field

import psutil

QUERIES = [
    "parse the command line options",
    "wrap text to the terminal width",
    "read a configuration file",
    "escape special characters",
    "convert a string to a slug",
    "split a header value on commas",
    "retry a failing network call",
    "format a date",
    "validate an email address",
    "open a file and decode it",
    "sym:wrap_text",
    '"is not a valid"',
]
# Words appended to make a query unique (a cache miss) without making it nonsense.
SUFFIXES = ["quickly", "safely", "again", "in python", "for a user", "with a default"]
REPOSITORIES_SHARE = 0.1
REQUEST_TIMEOUT_SECONDS = 60.0


@dataclass
class StepResult:
    """What one concurrency step (or one soak interval) measured."""

    latencies_ms: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, latency_ms: float, outcome: str) -> None:
        with self.lock:
            self.latencies_ms.append(latency_ms)
            self.outcomes[outcome] += 1

    def take(self) -> StepResult:
        """Return what was recorded so far and start afresh (soak intervals)."""
        with self.lock:
            taken = StepResult(self.latencies_ms, self.outcomes)
            self.latencies_ms, self.outcomes = [], Counter()
        return taken


class User(threading.Thread):
    """One simulated client: sends requests back to back on a keep-alive connection."""

    def __init__(
        self, *, target: urllib.parse.SplitResult, host: str, token: str, seed: int
    ) -> None:
        super().__init__(daemon=True)
        self.target = target
        self.headers = {"Host": host, "Authorization": f"Bearer {token}"}
        self.rng = random.Random(seed)
        self.uncached_share = 0.2
        self.result = StepResult()
        self.stop_at = 0.0
        self.connection: http.client.HTTPConnection | None = None

    def _path(self) -> str:
        if self.rng.random() < REPOSITORIES_SHARE:
            return "/api/v1/repositories/"
        query = self.rng.choice(QUERIES)
        if self.rng.random() < self.uncached_share:
            query = f"{query} {self.rng.choice(SUFFIXES)} {self.rng.randrange(10**6)}"
        return "/api/v1/search/?" + urllib.parse.urlencode({"q": query, "limit": 10})

    def _send(self, path: str) -> str:
        if self.connection is None:
            self.connection = http.client.HTTPConnection(
                self.target.hostname, self.target.port or 80, timeout=REQUEST_TIMEOUT_SECONDS
            )
        try:
            self.connection.request("GET", path, headers=self.headers)
            response = self.connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException) as exc:
            # A broken keep-alive connection is replaced on the next request.
            self.connection.close()
            self.connection = None
            return exc.__class__.__name__
        return str(response.status)

    def run(self) -> None:
        while time.monotonic() < self.stop_at:
            path = self._path()
            started = time.perf_counter()
            outcome = self._send(path)
            self.result.add((time.perf_counter() - started) * 1000, outcome)
        if self.connection is not None:
            self.connection.close()


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summarize(label: str, result: StepResult, seconds: float) -> str:
    total = sum(result.outcomes.values())
    if not total:
        return f"{label:>14}  no requests finished"
    ordered = sorted(result.latencies_ms)
    errors = sum(n for outcome, n in result.outcomes.items() if not outcome.startswith("2"))
    detail = ", ".join(f"{k}:{v}" for k, v in sorted(result.outcomes.items()))
    return (
        f"{label:>14}  {total:7d} req  {total / seconds:8.1f} req/s  "
        f"p50 {percentile(ordered, 0.50):7.1f}  p95 {percentile(ordered, 0.95):7.1f}  "
        f"p99 {percentile(ordered, 0.99):7.1f} ms  mean {statistics.fmean(ordered):7.1f}  "
        f"errors {100 * errors / total:5.2f}%  [{detail}]"
    )


def start_users(args: argparse.Namespace, count: int, seconds: float, seed: int) -> list[User]:
    target = urllib.parse.urlsplit(args.url)
    stop_at = time.monotonic() + seconds
    users = []
    for index in range(count):
        user = User(target=target, host=args.host, token=args.token, seed=seed * 1000 + index)
        user.uncached_share = args.uncached_share
        user.stop_at = stop_at
        users.append(user)
        user.start()
    return users


def merged(users: list[User]) -> StepResult:
    total = StepResult()
    for user in users:
        part = user.result.take()
        total.latencies_ms.extend(part.latencies_ms)
        total.outcomes.update(part.outcomes)
    return total


def run_steps(args: argparse.Namespace) -> None:
    print(f"steps of {args.seconds:.0f} s against {args.url} (Host: {args.host})")
    for step, count in enumerate(args.users):
        users = start_users(args, count, args.seconds, seed=step + 1)
        started = time.monotonic()
        for user in users:
            user.join()
        print(summarize(f"{count} users", merged(users), time.monotonic() - started), flush=True)


def portal_processes(portal_pid: int) -> list[psutil.Process]:
    root = psutil.Process(portal_pid)
    return [root, *root.children(recursive=True)]


def role(process: psutil.Process) -> str:
    """A short name for a portal process, from its command line."""
    try:
        command = " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return "gone"
    for needle, name in (
        ("gunicorn", "gunicorn"),
        ("celery -A portal worker", "celery-worker"),
        ("celery -A portal beat", "celery-beat"),
        ("run_vector_store", "vector-store"),
        ("portal.supervisor", "supervisor"),
    ):
        if needle in command:
            return name
    return process.name()


def memory_line(processes: list[psutil.Process]) -> tuple[str, dict[int, int]]:
    readings: dict[int, int] = {}
    parts = []
    for process in processes:
        try:
            rss = process.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        readings[process.pid] = rss
        parts.append(f"{role(process)}[{process.pid}] {rss / 2**20:.0f}")
    total = sum(readings.values()) / 2**20
    return f"RSS MiB total {total:.0f}: " + ", ".join(parts), readings


def run_soak(args: argparse.Namespace) -> None:
    if args.soak_seconds <= 0:
        return
    processes = portal_processes(args.portal_pid) if args.portal_pid else []
    print(f"soak: {args.soak_users} users for {args.soak_seconds:.0f} s")
    users = start_users(args, args.soak_users, args.soak_seconds, seed=99)
    started = last = time.monotonic()
    first: dict[int, int] = {}
    if processes:
        line, first = memory_line(processes)
        print(f"{0:>6.0f} s  {line}", flush=True)
    readings = first
    while True:
        is_running = any(user.is_alive() for user in users)
        now = time.monotonic()
        if is_running and now - last < args.memory_every:
            time.sleep(0.5)
            continue
        print(summarize(f"{now - started:.0f} s", merged(users), now - last), flush=True)
        last = now
        if processes:
            line, readings = memory_line(processes)
            print(f"{now - started:>6.0f} s  {line}", flush=True)
        if not is_running:
            break
    if processes:
        names = {process.pid: role(process) for process in processes}
        growth = [
            f"{names[pid]}[{pid}] {(readings[pid] - first[pid]) / 2**20:+.1f}"
            for pid in readings
            if pid in first
        ]
        print("RSS growth over the soak (MiB): " + ", ".join(growth))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="portal base URL")
    parser.add_argument("--host", required=True, help="tenant domain for the Host header")
    parser.add_argument("--token", required=True, help="the tenant's API token")
    parser.add_argument(
        "--users",
        default="1,2,4,8,16,32",
        type=lambda value: [int(part) for part in value.split(",") if part.strip()],
        help="concurrency steps, comma-separated",
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds per step")
    parser.add_argument("--soak-seconds", type=float, default=600.0, help="0 skips the soak")
    parser.add_argument("--soak-users", type=int, default=8)
    parser.add_argument("--memory-every", type=float, default=30.0, help="seconds")
    parser.add_argument(
        "--portal-pid", type=int, help="supervisor (or gunicorn master) pid for RSS readings"
    )
    parser.add_argument(
        "--uncached-share",
        type=float,
        default=0.2,
        help="share of searches made unique so they miss the response cache",
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    run_steps(args)
    run_soak(args)


if __name__ == "__main__":
    main()
