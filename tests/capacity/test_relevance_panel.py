"""The relevance panel of /manage/performance/: offline runs, online figures, who sees what."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from capacity import recording
from capacity.models import EvaluationRun
from capacity.search_feedback import issue_click_token, record_click
from capacity.services.rollups import flush_metrics

pytestmark = pytest.mark.django_db

DATA_URL = "/manage/performance/relevance.json"


def _searches(tenant, count, *, results=3, took_ms=20.0, at=None):
    for _ in range(count):
        recording.record_search(
            tenant.pk,
            took_ms=took_ms,
            cache_level="miss",
            result_count=results,
            response_bytes=100,
            at=at or timezone.now(),
        )


def _shown_and_clicked(tenant, *, ranks, unclicked=0, at=None):
    for rank in ranks:
        token = issue_click_token(tenant.pk, result_count=10, at=at)
        assert record_click(tenant.pk, token=token, rank=str(rank), at=at)
    for _ in range(unclicked):
        issue_click_token(tenant.pk, result_count=10, at=at)


def _run(mode, mrr, *, corpus="eval/dev", days_ago=0):
    return EvaluationRun.objects.create(
        created_at=timezone.now() - timedelta(days=days_ago),
        corpus=corpus,
        mode=mode,
        embedding_model="minilm-l6-int8",
        query_count=440,
        metrics={"n": 440, "mrr": mrr, "recall_at_1": 0.3, "recall_at_k": 0.7, "ndcg": 0.5},
        metrics_by_type={"nl": {"n": 400, "mrr": mrr - 0.05}, "symbol": {"n": 20, "mrr": 0.9}},
        command="manage.py evaluate_search ...",
    )


def test_panel_renders_without_any_data(acme, counters_clean):
    page = acme.client().get("/manage/performance/")
    html = page.content.decode()

    assert page.status_code == 200
    assert "Search relevance" in html and "Your searches" in html
    assert "No offline evaluation has been recorded yet" in html
    assert '<td class="num" data-field="searches">0</td>' in html
    assert '<td class="num" data-field="click_through_rate">\u2013</td>' in html
    assert "/static/capacity/relevance.js" in html
    assert 'data-url="/manage/performance/relevance.json"' in html


def test_panel_shows_offline_runs_labelled_with_corpus_and_online_figures(acme, counters_clean):
    _run("hybrid", 0.41, days_ago=2)
    _run("hybrid", 0.45)
    _run("dense", 0.43)
    _searches(acme.tenant, 9)
    _searches(acme.tenant, 1, results=0)
    _shown_and_clicked(acme.tenant, ranks=[1, 2], unclicked=2)

    html = acme.client().get("/manage/performance/").content.decode()

    assert "Offline benchmark (not your data)" in html
    assert "<strong>eval/dev</strong>" in html and "not your repositories" in html
    assert "0.450" in html and "0.410" not in html  # the latest hybrid run only
    assert "nl 0.400 · symbol 0.900" in html
    row_24h = html.split('data-window="24h"')[1].split("</tr>")[0]
    assert 'data-field="searches">10<' in row_24h
    assert 'data-field="zero_result_rate">10.0 %<' in row_24h
    assert 'data-field="click_through_rate">50.0 %<' in row_24h
    assert 'data-field="mrr_first_click">0.750<' in row_24h


def test_json_has_latest_run_per_mode_and_a_trend_on_the_newest_corpus(acme, counters_clean):
    _run("hybrid", 0.30, corpus="other/corpus", days_ago=5)
    _run("hybrid", 0.41, days_ago=2)
    _run("dense", 0.43, days_ago=1)
    _run("hybrid", 0.45)

    offline = acme.client().get(DATA_URL).json()["offline"]

    assert offline["corpus"] == "eval/dev"
    assert [(r["mode"], r["metrics"]["mrr"]) for r in offline["latest"]] == [
        ("dense", 0.43),
        ("hybrid", 0.45),
    ]
    assert offline["trend"]["hybrid"]["mrr"] == [0.41, 0.45]  # oldest first, other corpus out
    assert offline["trend"]["dense"]["mrr"] == [0.43]


def test_online_windows_separate_the_last_day_from_the_week(acme, counters_clean):
    three_days_ago = timezone.now() - timedelta(days=3)
    _searches(acme.tenant, 4, at=three_days_ago, took_ms=900)
    _shown_and_clicked(acme.tenant, ranks=[4], at=three_days_ago)
    _searches(acme.tenant, 6, took_ms=8)
    _shown_and_clicked(acme.tenant, ranks=[1], unclicked=1)
    flush_metrics()  # old minutes become hour rows; minute rows past retention are pruned
    _searches(acme.tenant, 2, took_ms=8)  # this minute, still in Redis

    online = acme.client().get(DATA_URL).json()["online"]
    day, week = online["windows"]["24h"], online["windows"]["7d"]

    assert day["searches"] == 8 and week["searches"] == 12
    assert day["click_through_rate"] == 0.5 and day["mrr_first_click"] == 1.0
    assert week["searches_clicked"] == 2 and week["mrr_first_click"] == pytest.approx(0.625)
    assert day["p95_ms"] <= 10 and week["p95_ms"] > 750
    assert len(online["hourly"]["t"]) == 7 * 24
    assert sum(online["hourly"]["searches"]) == 12


def test_a_tenant_sees_only_its_own_online_figures(acme, globex, counters_clean):
    _searches(acme.tenant, 5)
    _shown_and_clicked(acme.tenant, ranks=[1])
    _searches(globex.tenant, 2, results=0)

    acme_day = acme.client().get(DATA_URL).json()["online"]["windows"]["24h"]
    globex_day = globex.client().get(DATA_URL).json()["online"]["windows"]["24h"]

    assert (acme_day["searches"], acme_day["searches_clicked"]) == (5, 1)
    assert acme_day["zero_result_rate"] == 0.0
    assert (globex_day["searches"], globex_day["searches_clicked"]) == (2, 0)
    assert globex_day["zero_result_rate"] == 1.0 and globex_day["click_through_rate"] is None


def test_relevance_json_is_for_admins_and_operators_see_all_tenants(
    operator_client, acme, globex, counters_clean
):
    assert Client(HTTP_HOST=acme.host).get(DATA_URL).status_code == 302
    _searches(acme.tenant, 3)
    _searches(globex.tenant, 4)

    data = operator_client.get("/operator/performance/relevance.json").json()

    assert data["scope"] == "all tenants"
    assert data["online"]["windows"]["24h"]["searches"] == 7
    assert (
        "Searches of all tenants" in operator_client.get("/operator/performance/").content.decode()
    )
