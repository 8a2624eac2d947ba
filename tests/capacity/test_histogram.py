"""Percentiles from the fixed-bucket latency histogram, against hand-computed values."""

from __future__ import annotations

import pytest

from capacity import histogram


def test_bucket_index_puts_bounds_in_their_own_bucket_and_overflow_last():
    assert histogram.bucket_index(0.3) == 0
    assert histogram.bucket_index(2) == 0
    assert histogram.bucket_index(2.01) == 1
    assert histogram.bucket_index(100) == histogram.LATENCY_BOUNDS_MS.index(100)
    assert histogram.bucket_index(10_000) == len(histogram.LATENCY_BOUNDS_MS)


def test_percentile_interpolates_inside_the_bucket_holding_the_rank():
    counts = histogram.empty()
    counts[0] = 10  # 0-2 ms
    counts[2] = 10  # 5-10 ms
    assert histogram.percentile(counts, 0.5) == pytest.approx(2.0)
    assert histogram.percentile(counts, 0.75) == pytest.approx(7.5)
    assert histogram.percentile(counts, 0.95) == pytest.approx(9.5)
    assert histogram.percentile(counts, 1.0) == pytest.approx(10.0)


def test_percentile_in_the_overflow_bucket_returns_its_lower_bound():
    counts = histogram.empty()
    counts[-1] = 3
    assert histogram.percentile(counts, 0.99) == histogram.LATENCY_BOUNDS_MS[-1]


def test_percentile_of_an_empty_histogram_is_none_and_bad_quantiles_raise():
    assert histogram.percentile(histogram.empty(), 0.5) is None
    with pytest.raises(ValueError):
        histogram.percentile([1], 1.5)


def test_merge_adds_bucket_by_bucket_and_treats_short_lists_as_zeros():
    merged = histogram.merge([[1, 2], [0, 1, 5], []])
    assert merged[:3] == [1, 3, 5]
    assert len(merged) == histogram.BUCKET_COUNT


def test_vendored_plotly_matches_the_installed_package():
    from capacity.management.commands.vendor_plotly import installed_plotly_js, vendored_plotly_js

    assert vendored_plotly_js().read_bytes() == installed_plotly_js().read_bytes()


def test_bounded_labels_keep_the_busiest_and_sum_the_rest():
    from capacity.prometheus import bounded_labels

    totals = {1: {"req": 5.0}, 2: {"req": 9.0}, 3: {"req": 1.0}, 4: {"req": 2.0}}
    grouped = bounded_labels(totals, {1: "a", 2: "b", 3: "other", 4: "d"}, top=2)
    assert grouped == {"b": {"req": 9.0}, "a": {"req": 5.0}, "other": {"req": 3.0}}
