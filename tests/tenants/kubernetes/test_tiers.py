"""Tier namespace profiles and the quantity parser they rely on."""

from __future__ import annotations

import dataclasses

import pytest
from kubernetes.utils import parse_quantity as reference_parse_quantity

from tenants.kubernetes.exceptions import InvalidNamespaceProfile, UnknownTier
from tenants.kubernetes.quantity import parse_quantity
from tenants.kubernetes.tiers import PROFILES, TIERS, profile_for_tier
from tenants.tiers import TIERS as TENANT_TIERS


def test_profile_for_tier_returns_profile_when_tier_is_known() -> None:
    assert profile_for_tier("team").tier == "team"


def test_profile_for_tier_raises_unknown_tier_naming_choices_when_tier_is_unknown() -> None:
    with pytest.raises(UnknownTier) as excinfo:
        profile_for_tier("platinum")

    assert excinfo.value.code == "unknown_tier"
    assert "'platinum'" in excinfo.value.message
    assert all(tier in excinfo.value.message for tier in TIERS)


def test_profiles_exist_when_a_tenant_tier_is_defined() -> None:
    # A tier added to the tenant plans without a namespace profile would fail provisioning.
    assert set(TENANT_TIERS) == set(PROFILES)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("container_default_request_cpu", "3"),  # above container_default_cpu
        ("container_max_memory", "64Gi"),  # above limits_memory
        ("requests_memory", "not-a-quantity"),
        ("replicas", 0),
    ],
)
def test_profile_raises_invalid_profile_when_numbers_contradict(field: str, value: object) -> None:
    with pytest.raises(InvalidNamespaceProfile) as excinfo:
        dataclasses.replace(PROFILES["free"], **{field: value})

    assert excinfo.value.code == "invalid_namespace_profile"


def test_profile_raises_invalid_profile_when_replicas_defaults_exceed_quota() -> None:
    with pytest.raises(InvalidNamespaceProfile) as excinfo:
        dataclasses.replace(PROFILES["free"], replicas=9)

    assert excinfo.value.field in {"requests_cpu", "limits_cpu", "requests_memory", "limits_memory"}


@pytest.mark.parametrize(
    "text", ["0", "1", "250m", "1.5", "128Mi", "2Gi", "1Ti", "500k", "3M", "100Gi", "42"]
)
def test_parse_quantity_matches_kubernetes_client_when_quantity_is_valid(text: str) -> None:
    assert parse_quantity(text) == reference_parse_quantity(text)


@pytest.mark.parametrize("text", ["", "Mi", "1.5.2", "-1", "12Xi", "1e3"])
def test_parse_quantity_raises_value_error_when_text_is_not_a_quantity(text: str) -> None:
    with pytest.raises(ValueError, match="quantity"):
        parse_quantity(text)
