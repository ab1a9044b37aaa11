"""Statistic sets: exact standard statistics, percentiles within 1 %, exact merges."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from services.cloudwatch import stats


def slot_of(values, counts=None):
    s = stats.new_slot()
    for v, n in zip(values, counts or [1.0] * len(values)):
        stats.add_value(s, v, n)
    return s


def test_standard_statistics_are_exact():
    s = slot_of([1.0, 2.0, 3.0, 10.0])
    assert stats.statistic(s, "SampleCount") == 4
    assert stats.statistic(s, "Sum") == 16
    assert stats.statistic(s, "Average") == 4
    assert stats.statistic(s, "Minimum") == 1
    assert stats.statistic(s, "Maximum") == 10


def test_percentiles_of_equal_values_are_exact_and_of_spread_values_within_one_percent():
    assert stats.statistic(slot_of([3.0] * 50), "p50") == 3.0
    values = [float(i) for i in range(1, 1001)]
    s = slot_of(values)
    for p in (10, 50, 90, 99, 99.9):
        got = stats.statistic(s, f"p{p}")
        want = values[math.ceil(p / 100 * len(values)) - 1]
        assert abs(got - want) <= 0.01 * want, (p, got, want)
    assert stats.statistic(s, "p100") == 1000.0
    assert stats.statistic(s, "p0") == 1.0


def test_values_with_counts_weigh_percentiles():
    s = slot_of([1.0, 100.0], [99.0, 1.0])
    assert stats.statistic(s, "p50") == 1.0
    assert stats.statistic(s, "p99") == 1.0
    assert stats.statistic(s, "p99.5") == 100.0
    assert stats.statistic(s, "SampleCount") == 100


def test_trimmed_and_winsorized_means_and_percentile_rank():
    s = slot_of([float(i) for i in range(1, 101)])
    assert abs(stats.statistic(s, "tm90") - 45.5) <= 1.0   # within one 2 % bucket
    assert abs(stats.statistic(s, "TM(10%:90%)") - 50.5) < 0.6
    assert abs(stats.statistic(s, "IQM") - 50.5) < 0.6
    assert abs(stats.statistic(s, "TC(10%:90%)") - 80) <= 1
    assert abs(stats.statistic(s, "wm90") - 50.0) < 1.0
    assert abs(stats.statistic(s, "PR(:25)") - 25.0) <= 1.0
    assert stats.statistic(s, "PR(25%:)") is None        # percentile rank takes absolute bounds only


def test_statistic_sets_have_no_percentiles():
    s = [10.0, 55.0, 1.0, 10.0, {}]
    assert stats.statistic(s, "Average") == 5.5
    assert stats.statistic(s, "p99") is None


def test_extended_statistic_names():
    for good in ("p99", "p99.9", "p0.1", "p100", "tm99", "wm50", "tc90", "ts90", "TM(10%:90%)", "TM(:0.5)",
                 "PR(:300)", "PR(100:2000)", "IQM"):
        assert stats.valid_extended(good), good
    for bad in ("p101", "p", "pp50", "TM()", "TM(:)", "TM(10%:101%)", "Average", "tm", "p99.99999999999"):
        assert not stats.valid_extended(bad), bad


values = st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False),
                  min_size=1, max_size=40)


@settings(max_examples=80, deadline=None)
@given(values, values)
def test_merge_equals_adding_all_values(a, b):
    merged = slot_of(a)
    stats.merge(merged, slot_of(b))
    whole = slot_of(a + b)
    assert merged[0] == whole[0]
    assert math.isclose(merged[1], whole[1], rel_tol=1e-9, abs_tol=1e-6)
    assert merged[2] == whole[2] and merged[3] == whole[3]
    assert {k: v[0] for k, v in merged[4].items()} == {k: v[0] for k, v in whole[4].items()}
    for p in ("p50", "p90"):
        assert math.isclose(stats.statistic(merged, p), stats.statistic(whole, p), rel_tol=1e-9, abs_tol=1e-9)


@settings(max_examples=60, deadline=None)
@given(values, st.floats(min_value=0.1, max_value=99.9))
def test_percentile_lies_within_observed_range(vals, p):
    s = slot_of(vals)
    got = stats.statistic(s, f"p{p:.1f}")
    assert min(vals) <= got <= max(vals)
