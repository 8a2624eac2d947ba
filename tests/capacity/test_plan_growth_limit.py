"""What-if inputs the form accepts never fail the planner (snag 1): growth that outruns
what the planner sizes stops the plan with a note, and bad export parameters are 400s."""

from __future__ import annotations

import csv
import io

import pytest

from capacity.planner import MAX_USERS, PlanInputs, growth_limit, scaling_plan
from tests.capacity.test_planner import COEFFICIENTS, Prices

# The snag: 200% a month for 60 months (3**60 ~ 4e28) made quantize() fail.
STEEP = "users=50&repositories=3&peak_qps=0.5&monthly_growth=2&months=60&tenants=1"


def test_growth_stops_at_the_first_month_past_the_user_limit():
    inputs = PlanInputs(users=50, repositories=3, peak_qps=0.5, monthly_growth=2, months=60)

    limit = growth_limit(inputs)
    months = scaling_plan(inputs, COEFFICIENTS, Prices())

    # 50 x 3**11 = 8,857,350 users fit; 50 x 3**12 = 26,572,050 pass 10,000,000.
    assert limit is not None
    assert (limit.month, limit.quantity, limit.value, limit.limit) == (
        12,
        "users",
        26_572_050,
        MAX_USERS,
    )
    assert [m.month for m in months] == list(range(12))
    assert months[-1].users == 8_857_350
    assert "month 12" in limit.message and "stops at month 11" in limit.message


def test_the_form_maxima_with_the_steepest_growth_are_sized_for_month_zero():
    inputs = PlanInputs(
        users=10_000_000,
        repositories=10_000_000,
        peak_qps=1_000_000,
        monthly_growth=5,
        months=60,
        tenants=1_000_000,
        is_dedicated_collections=True,
    )

    months = scaling_plan(inputs, COEFFICIENTS, Prices())

    assert growth_limit(inputs).month == 1
    assert [m.month for m in months] == [0]
    assert months[0].monthly_cost > 0


def test_gentle_growth_is_planned_to_the_end():
    inputs = PlanInputs(users=50, repositories=3, peak_qps=0.5, monthly_growth=0.05, months=60)
    assert growth_limit(inputs) is None
    assert len(scaling_plan(inputs, COEFFICIENTS, Prices())) == 61


@pytest.mark.django_db
def test_steep_growth_answers_every_plan_view_with_the_stopping_month(acme, operator_client):
    client = acme.client()

    page = client.get(f"/manage/capacity/?{STEEP}")
    assert page.status_code == 200
    assert "stops at month 11" in page.content.decode()

    data = client.get(f"/manage/capacity/plan.json?{STEEP}").json()
    assert data["scaling_plan_limit"]["month"] == 12
    assert data["scaling_plan_limit"]["quantity"] == "users"
    assert [m["month"] for m in data["scaling_plan"]] == list(range(12))
    assert any("stops at month 11" in note for note in data["notes"])

    rows = list(
        csv.DictReader(
            io.StringIO(client.get(f"/manage/capacity/plan.csv?{STEEP}").content.decode())
        )
    )
    assert [int(r["month"]) for r in rows] == list(range(12))

    assert operator_client.get(f"/operator/capacity/?{STEEP}").status_code == 200
    assert operator_client.get(f"/operator/capacity/plan.json?{STEEP}").status_code == 200
    assert operator_client.get(f"/operator/capacity/plan.csv?{STEEP}").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("months=nan", "months"),
        ("monthly_growth=nan", "monthly_growth"),
        ("peak_qps=inf", "peak_qps"),
        ("months=61", "months"),
    ],
)
@pytest.mark.parametrize("export", ["plan.json", "plan.csv"])
def test_a_bad_value_without_users_is_refused_not_ignored(acme, query, field, export):
    response = acme.client().get(f"/manage/capacity/{export}?{query}")

    assert response.status_code == 400
    if export == "plan.json":
        body = response.json()
        assert body["code"] == "invalid_plan_input"
        assert body["detail"].startswith(f"{field}: ")


@pytest.mark.django_db
def test_one_input_in_the_query_changes_only_that_input(acme):
    client = acme.client()
    default = client.get("/manage/capacity/plan.json").json()

    data = client.get("/manage/capacity/plan.json?months=24").json()

    assert len(data["scaling_plan"]) == 25
    assert {k: v for k, v in data["inputs"].items() if k != "months"} == {
        k: v for k, v in default["inputs"].items() if k != "months"
    }


@pytest.mark.django_db
def test_bad_input_on_the_operator_export_is_refused(operator_client):
    response = operator_client.get("/operator/capacity/plan.json?months=nan")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_plan_input"


@pytest.mark.django_db
def test_a_link_with_users_and_a_few_fields_keeps_the_defaults_for_the_rest(acme):
    """The walkthrough's link ?users=50&monthly_growth=2&months=60 was refused with
    "repositories: This field is required." instead of showing a plan."""
    client = acme.client()
    default = client.get("/manage/capacity/plan.json").json()

    response = client.get("/manage/capacity/plan.json?users=50&monthly_growth=2&months=60")

    assert response.status_code == 200, response.content
    inputs = response.json()["inputs"]
    assert inputs["users"] == 50 and inputs["months"] == 60
    changed = {"users", "monthly_growth", "months"}
    assert {k: v for k, v in inputs.items() if k not in changed} == {
        k: v for k, v in default["inputs"].items() if k not in changed
    }
    page = client.get("/manage/capacity/?users=50&monthly_growth=2&months=60")
    assert page.status_code == 200
