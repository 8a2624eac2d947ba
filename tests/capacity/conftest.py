"""Fixtures for capacity and billing tests: clean counters and staff operators."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

# A fixed clock: a Wednesday, so hours and weekdays in expectations are easy to check.
NOW = datetime(2026, 3, 4, 12, 30, 15, tzinfo=UTC)


@pytest.fixture
def counters_clean() -> Iterator[None]:
    """Start and end with no capacity keys in the suite's Redis."""
    from capacity import counters, recording

    counters.reset_client()
    counters.delete_all()
    recording._process_state["last_at"] = 0.0
    yield
    counters.reset_client()
    counters.delete_all()


@pytest.fixture
def operator_client(public_tenant: object) -> object:
    """A Django client logged in as a staff user of the public site."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.create_user(
        username="operator", email="ops@example.com", password="pw-operator-123", is_staff=True
    )
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    return client
