"""Namespace names and tenant label values derived from slugs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tenants.kubernetes.exceptions import InvalidKubernetesName
from tenants.kubernetes.naming import label_value, namespace_name

# Written out here rather than imported, so a wrong pattern in the code cannot hide itself.
REPO_ROOT = Path(__file__).resolve().parents[3]
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

ODD_SLUGS = [
    "acme",
    "Acme-Corp",
    "acme_corp",
    "-leading-and-trailing-",
    "dots.and.more.dots",
    "ünïcödé-tenant",
    "___",
    "a" * 200,
    "x" * 60 + "-" + "y" * 60,
]


def test_namespace_name_keeps_plain_slug_readable_when_it_fits() -> None:
    assert namespace_name("acme") == "cs-acme"
    assert namespace_name("acme", prefix="") == "acme"


@pytest.mark.parametrize("slug", ODD_SLUGS)
def test_namespace_name_is_dns1123_label_when_slug_is_long_or_odd(slug: str) -> None:
    name = namespace_name(slug)

    assert len(name) <= 63
    assert DNS1123_LABEL.match(name), name
    assert name.startswith("cs-")


def test_namespace_name_uses_63_characters_when_slug_is_long() -> None:
    assert len(namespace_name("a" * 200)) == 63


def test_namespace_name_differs_when_long_slugs_share_70_characters() -> None:
    shared = "tenant-" + "k" * 63
    first, second = shared + "a" * 10, shared + "b" * 10
    assert len(first) == len(second) == 80

    assert namespace_name(first) != namespace_name(second)


def test_namespace_name_differs_when_slugs_normalise_to_the_same_text() -> None:
    names = {namespace_name(slug) for slug in ("acme-corp", "acme_corp", "Acme-Corp", "acme.corp")}

    assert len(names) == 4


def test_namespace_name_is_identical_when_computed_in_another_process() -> None:
    slug = "Some_Very-Long.Tenant " * 5
    code = (
        "import sys; from tenants.kubernetes.naming import namespace_name; "
        "sys.stdout.write(namespace_name(sys.argv[1]))"
    )
    # A fresh interpreter gets a different hash() salt; the name must not depend on it.
    other = subprocess.run(
        [sys.executable, "-c", code, slug],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
        env={"PYTHONHASHSEED": "12345", "PYTHONPATH": str(REPO_ROOT)},
    )

    assert other.stdout == namespace_name(slug)


@pytest.mark.parametrize("slug", ["", "   "])
def test_namespace_name_raises_invalid_name_when_slug_is_empty(slug: str) -> None:
    with pytest.raises(InvalidKubernetesName) as excinfo:
        namespace_name(slug)

    assert excinfo.value.code == "invalid_kubernetes_name"


@pytest.mark.parametrize("prefix", ["CS-", "-cs", "cs_", "p" * 21])
def test_namespace_name_raises_invalid_name_when_prefix_is_unusable(prefix: str) -> None:
    with pytest.raises(InvalidKubernetesName):
        namespace_name("acme", prefix=prefix)


def test_label_value_is_slug_when_slug_is_a_valid_label_value() -> None:
    assert label_value("Acme_Corp.eu") == "Acme_Corp.eu"


@pytest.mark.parametrize("slug", ["a" * 64, "ünïcödé", "-x-"])
def test_label_value_is_valid_and_distinct_when_slug_is_not_a_label_value(slug: str) -> None:
    value = label_value(slug)

    assert len(value) <= 63
    assert DNS1123_LABEL.match(value)
    assert value != label_value(slug + "z")
