"""Byte counts on capacity pages are shown in binary units."""

from __future__ import annotations

import pytest

from capacity.templatetags.capacity_units import human_bytes


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1023.7, "1.00 KiB"),
        (1024, "1.00 KiB"),
        (1536, "1.50 KiB"),
        (10 * 2**20 + 1, "10.0 MiB"),
        (1664 * 10_000, "15.9 MiB"),
        (123 * 2**30, "123 GiB"),
        (2**50, "1.00 PiB"),
        (-2048, "-2.00 KiB"),
        ("4096", "4.00 KiB"),
    ],
)
def test_human_bytes_uses_binary_units_with_three_significant_digits(value, shown):
    assert human_bytes(value) == shown


@pytest.mark.parametrize(("value", "shown"), [(None, ""), ("n/a", "n/a"), (float("nan"), "nan")])
def test_human_bytes_shows_values_that_are_not_numbers_as_they_are(value, shown):
    assert human_bytes(value) == shown


@pytest.mark.django_db
def test_capacity_plan_shows_memory_and_storage_in_binary_units(acme):
    response = acme.client().get("/manage/capacity/")

    assert response.status_code == 200
    page = response.content.decode()
    memory_row = next(line for line in page.splitlines() if "<td>Memory total</td>" in line)
    assert "iB</td>" in memory_row and 'title="' in memory_row
    assert "<td>bytes</td>" not in page
