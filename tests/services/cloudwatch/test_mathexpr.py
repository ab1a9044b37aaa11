"""Metric math: parsing, point-by-point arithmetic, functions, SEARCH selection."""

from __future__ import annotations

import math

import pytest

from services.cloudwatch.mathexpr import TS, Evaluator, ExprError, Parser, references
from services.cloudwatch.metrics import Series
from services.cloudwatch.search import Search, label_for

GRID = [0, 60, 120, 180, 240]


def run(expr: str, **series):
    values = {k: (TS(dict(v), k, 60) if isinstance(v, dict) else v) for k, v in series.items()}
    ev = Evaluator(lambda i: values[i], lambda p: list(range(0, 300, p)),
                   lambda: [(k, v) for k, v in values.items()], lambda *a: [], 60)
    return ev.eval(Parser(expr).parse())


M1 = {0: 1.0, 60: 2.0, 120: 4.0, 240: 8.0}
M2 = {0: 10.0, 60: 20.0, 180: 30.0, 240: 40.0}


def test_arithmetic_is_point_by_point_and_missing_stays_missing():
    out = run("m1 + m2 * 2", m1=M1, m2=M2)
    assert out.points == {0: 21.0, 60: 42.0, 240: 88.0}
    assert run("(m1 + 1) ^ 2", m1=M1).points[60] == 9.0
    assert run("-m1", m1=M1).points[0] == -1.0
    assert run("2 ^ 3 ^ 2") == 512.0                      # right-associative
    assert run("10 - 2 - 3") == 5.0


def test_division_by_zero_gives_infinity_or_nan_not_an_error():
    out = run("m1 / 0", m1={0: 1.0, 60: 0.0})
    assert out.points[0] == math.inf and math.isnan(out.points[60])


def test_aggregates_of_a_series_are_scalars_and_of_arrays_are_series():
    assert run("SUM(m1)", m1=M1) == 15.0
    assert run("AVG(m1)", m1=M1) == 3.75
    assert run("MAX(m1)", m1=M1) == 8.0
    assert run("MIN(m1)", m1=M1) == 1.0
    assert run("SUM([m1, m2])", m1=M1, m2=M2).points == {0: 11.0, 60: 22.0, 120: 4.0, 180: 30.0, 240: 48.0}
    assert run("MAX(METRICS())", m1=M1, m2=M2).points[240] == 40.0
    assert run("METRIC_COUNT(METRICS())", m1=M1, m2=M2) == 2.0
    assert len(run("METRICS('m2')", m1=M1, m2=M2)) == 1


def test_rate_diff_fill_running_sum():
    assert run("DIFF(m1)", m1=M1).points == {60: 1.0, 120: 2.0, 240: 4.0}
    assert run("RATE(m1)", m1=M1).points == {60: 1 / 60, 120: 2 / 60, 240: 4 / 120}
    assert run("DIFF_TIME(m1)", m1=M1).points[240] == 120.0
    assert run("FILL(m1, 0)", m1=M1).points[180] == 0.0
    assert run("FILL(m1, REPEAT)", m1=M1).points[180] == 4.0
    assert run("FILL(m1, LINEAR)", m1=M1).points[180] == 6.0
    assert run("RUNNING_SUM(m1)", m1=M1).points[240] == 15.0


def test_if_and_comparisons():
    out = run("IF(m1 > 2, m1, 0)", m1=M1)
    assert out.points == {0: 0.0, 60: 0.0, 120: 4.0, 240: 8.0}
    assert run("IF(m1 >= 2 AND m1 < 8, 1)", m1=M1).points == {60: 1.0, 120: 1.0}


def test_sort_slice_first_last_remove_empty():
    arr = "[m1, m2, m3]"
    series = dict(m1=M1, m2=M2, m3={})
    assert [t.label for t in run(f"SORT({arr}, MAX, DESC)", **series)] == ["m2", "m1", "m3"]
    assert [t.label for t in run(f"SORT({arr}, SUM, ASC, 1)", **series)] == ["m3"]
    assert [t.label for t in run(f"REMOVE_EMPTY({arr})", **series)] == ["m1", "m2"]
    assert run(f"FIRST({arr})", **series).label == "m1"
    assert [t.label for t in run(f"SLICE({arr}, 1, 3)", **series)] == ["m2", "m3"]


def test_time_functions_and_time_series():
    out = run("TIME_SERIES(5)")
    assert out.points == {t: 5.0 for t in range(0, 300, 60)}
    assert run("MINUTE(m1)", m1={120: 1.0}).points == {120: 2.0}
    assert run("PERIOD(m1)", m1=M1) == 60.0


@pytest.mark.parametrize("expr", ["m1 +", "SUM(", "(m1", "m1 m2", "FOO(m1)", "m1 $ 2", "", "SORT(m1, NOPE, ASC)"])
def test_bad_expressions_raise(expr):
    with pytest.raises(ExprError):
        run(expr, m1=M1, m2=M2)


def test_references():
    assert references(Parser("SUM([m1, e2]) / m3 + FILL(m4, REPEAT)").parse()) == {"m1", "e2", "m3", "m4", "REPEAT"}


def _series(ns, name, **dims):
    return Series(0, "a", "r", ns, name, tuple(sorted(dims.items())), 0, False)


def test_search_schema_terms_and_properties():
    s1 = _series("AWS/SQS", "NumberOfMessagesSent", QueueName="orders")
    s2 = _series("AWS/SQS", "NumberOfMessagesSent", QueueName="orders-dlq")
    s3 = _series("AWS/SQS", "NumberOfMessagesDeleted", QueueName="orders")
    s4 = _series("Custom", "NumberOfMessagesSent", QueueName="orders", Env="prod")
    all_ = [s1, s2, s3, s4]

    def hits(text):
        sr = Search(text)
        return [s for s in all_ if sr.matches(s)]
    assert hits('{AWS/SQS,QueueName} MetricName="NumberOfMessagesSent"') == [s1, s2]
    assert hits("{AWS/SQS,QueueName} NumberOfMessagesSent NOT dlq") == [s1]
    assert hits('{AWS/SQS,QueueName} (Sent OR Deleted) QueueName="orders"') == [s1, s3]
    assert hits("orders prod") == [s4]
    assert hits('"orders-dlq"') == [s2]
    assert hits("{Custom,QueueName}") == []                  # the schema is the exact dimension set
    assert label_for(s1, [s1, s2]) == "orders"
    assert label_for(s1, [s1, s3]) == "orders NumberOfMessagesSent"


def test_search_syntax_errors():
    for bad in ("(a", "{}", "a)"):
        with pytest.raises(ExprError):
            Search(bad)
