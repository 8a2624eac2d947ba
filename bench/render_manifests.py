"""Measure how long rendering and strict offline validation of tenant namespaces take.

Usage (from the repository root)::

    .venv/bin/python bench/render_manifests.py [--tenants 100] [--kubernetes-version 1.33]

Tenants cycle through every tier. Rendering is pure Python; validation loads
kubernetes-validate's bundled JSON schemas for every document, which dominates the total.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tenants.kubernetes.render import manifests_to_yaml, render_tenant_manifests
from tenants.kubernetes.tiers import TIERS
from tenants.kubernetes.validation import validate_manifests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--kubernetes-version", default="1.33")
    args = parser.parse_args()

    render_seconds: list[float] = []
    validate_seconds: list[float] = []
    documents = 0
    yaml_bytes = 0
    started = time.perf_counter()
    for index in range(args.tenants):
        tier = TIERS[index % len(TIERS)]
        slug = f"bench-tenant-{index:04d}"

        t0 = time.perf_counter()
        manifests = render_tenant_manifests(slug=slug, tier=tier)
        yaml_bytes += len(manifests_to_yaml(manifests).encode("utf-8"))
        t1 = time.perf_counter()
        validate_manifests(manifests, kubernetes_version=args.kubernetes_version)
        t2 = time.perf_counter()

        render_seconds.append(t1 - t0)
        validate_seconds.append(t2 - t1)
        documents += len(manifests)
    total = time.perf_counter() - started

    per_tenant = [r + v for r, v in zip(render_seconds, validate_seconds, strict=True)]
    print(f"tenants: {args.tenants} ({', '.join(TIERS)} in turn), documents: {documents}")
    print(f"kubernetes version: {args.kubernetes_version}, YAML bytes: {yaml_bytes}")
    print(f"total: {total:.2f} s")
    print(
        "per tenant: "
        f"mean {statistics.mean(per_tenant) * 1000:.1f} ms, "
        f"median {statistics.median(per_tenant) * 1000:.1f} ms, "
        f"max {max(per_tenant) * 1000:.1f} ms"
    )
    print(
        "  render + YAML: "
        f"mean {statistics.mean(render_seconds) * 1000:.2f} ms; "
        f"validate: mean {statistics.mean(validate_seconds) * 1000:.1f} ms "
        f"({statistics.mean(validate_seconds) / (documents / args.tenants) * 1000:.1f} ms per "
        "document)"
    )


if __name__ == "__main__":
    main()
