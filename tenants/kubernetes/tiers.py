"""Namespace sizes per tenant tier: quota, per-container limits, disruption budget, replicas.

The profile is the single source of the numbers written into a tenant's ResourceQuota and
LimitRange, so capacity planning and billing read the same figures the cluster enforces.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal

from tenants.kubernetes.exceptions import InvalidNamespaceProfile, UnknownTier
from tenants.kubernetes.quantity import parse_quantity


@dataclass(frozen=True)
class NamespaceProfile:
    """Resource settings for one tier; checked for internal consistency on creation.

    Quantities are Kubernetes quantity strings. ``container_default_*`` become the LimitRange
    ``default`` (limits) and ``container_default_request_*`` its ``defaultRequest``; they are
    what a container without resources gets, so a pod with none is still admitted under the
    quota (case C18).
    """

    tier: str
    # ResourceQuota: namespace totals.
    requests_cpu: str
    requests_memory: str
    limits_cpu: str
    limits_memory: str
    pods: int
    services: int
    persistent_volume_claims: int
    requests_storage: str
    # LimitRange, type Container.
    container_default_cpu: str
    container_default_memory: str
    container_default_request_cpu: str
    container_default_request_memory: str
    container_max_cpu: str
    container_max_memory: str
    # Workload shape.
    has_pod_disruption_budget: bool
    replicas: int

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if field.type == "str" and field.name != "tier":
                try:
                    parse_quantity(value)
                except ValueError as exc:
                    raise InvalidNamespaceProfile(
                        f"Tier {self.tier!r}: {field.name}={value!r} is not a Kubernetes "
                        "quantity; write it like '500m', '2' or '4Gi'.",
                        field=field.name,
                    ) from exc
        if self.replicas < 1 or self.pods < self.replicas:
            raise InvalidNamespaceProfile(
                f"Tier {self.tier!r}: replicas={self.replicas} must be at least 1 and at most "
                f"pods={self.pods}.",
                field="replicas",
            )
        for resource in ("cpu", "memory"):
            self._check_resource(resource)

    def _check_resource(self, resource: str) -> None:
        def q(name: str) -> Decimal:
            return parse_quantity(getattr(self, name))

        # Each pair must hold or the API server rejects the LimitRange, or pods that take the
        # defaults cannot fit the quota: the failure of case C18 in another form.
        ordered = [
            (f"container_default_request_{resource}", f"container_default_{resource}"),
            (f"container_default_{resource}", f"container_max_{resource}"),
            (f"container_max_{resource}", f"limits_{resource}"),
            (f"requests_{resource}", f"limits_{resource}"),
        ]
        for smaller, larger in ordered:
            if q(smaller) > q(larger):
                raise InvalidNamespaceProfile(
                    f"Tier {self.tier!r}: {smaller}={getattr(self, smaller)!r} exceeds "
                    f"{larger}={getattr(self, larger)!r}; lower the first or raise the second.",
                    field=smaller,
                )
        replica_pairs = [
            (f"container_default_request_{resource}", f"requests_{resource}"),
            (f"container_default_{resource}", f"limits_{resource}"),
        ]
        for per_container, total in replica_pairs:
            if q(per_container) * self.replicas > q(total):
                raise InvalidNamespaceProfile(
                    f"Tier {self.tier!r}: {self.replicas} replicas at {per_container}="
                    f"{getattr(self, per_container)!r} exceed {total}="
                    f"{getattr(self, total)!r}; raise the quota or lower the default.",
                    field=total,
                )


PROFILES: dict[str, NamespaceProfile] = {
    "free": NamespaceProfile(
        tier="free",
        requests_cpu="1",
        requests_memory="2Gi",
        limits_cpu="2",
        limits_memory="4Gi",
        pods=10,
        services=5,
        persistent_volume_claims=2,
        requests_storage="10Gi",
        container_default_cpu="500m",
        container_default_memory="512Mi",
        container_default_request_cpu="100m",
        container_default_request_memory="128Mi",
        container_max_cpu="1",
        container_max_memory="2Gi",
        # One replica: a budget could only say "one may go", which protects nothing.
        has_pod_disruption_budget=False,
        replicas=1,
    ),
    "team": NamespaceProfile(
        tier="team",
        requests_cpu="4",
        requests_memory="8Gi",
        limits_cpu="8",
        limits_memory="16Gi",
        pods=40,
        services=10,
        persistent_volume_claims=5,
        requests_storage="100Gi",
        container_default_cpu="1",
        container_default_memory="1Gi",
        container_default_request_cpu="250m",
        container_default_request_memory="256Mi",
        container_max_cpu="2",
        container_max_memory="4Gi",
        has_pod_disruption_budget=True,
        replicas=2,
    ),
    "enterprise": NamespaceProfile(
        tier="enterprise",
        requests_cpu="16",
        requests_memory="64Gi",
        limits_cpu="32",
        limits_memory="128Gi",
        pods=200,
        services=30,
        persistent_volume_claims=20,
        requests_storage="1Ti",
        container_default_cpu="2",
        container_default_memory="2Gi",
        container_default_request_cpu="500m",
        container_default_request_memory="512Mi",
        container_max_cpu="8",
        container_max_memory="32Gi",
        has_pod_disruption_budget=True,
        replicas=3,
    ),
}

TIERS: tuple[str, ...] = tuple(PROFILES)


def profile_for_tier(tier: str) -> NamespaceProfile:
    """Return the namespace profile for ``tier``.

    Raise :class:`UnknownTier` naming the tier and the accepted tiers when there is none.
    """
    try:
        return PROFILES[tier]
    except KeyError:
        raise UnknownTier(
            f"Tier {tier!r} has no namespace profile; use one of {', '.join(TIERS)} or add a "
            "profile in tenants/kubernetes/tiers.py.",
            field="tier",
        ) from None
