"""Alarm evaluation in AWS's words: thresholds, M of N, missing data, composite rules."""

from __future__ import annotations

import json

import pytest

from services.cloudwatch import alarmrule
from services.cloudwatch.alarmeval import evaluate
from services.errors import ServiceError

T0 = 1_700_000_000 - 1_700_000_000 % 60


def cfg(**kw):
    base = {"Statistic": "Sum", "Period": 60, "EvaluationPeriods": 1, "Threshold": 1.0,
            "ComparisonOperator": "GreaterThanThreshold"}
    base.update(kw)
    return base


def pts(*values):
    return [(T0 + 60 * i, v, None if v is None else 1.0) for i, v in enumerate(values)]


def test_one_datapoint_over_the_threshold():
    state, reason, data = evaluate(cfg(), pts(5.0), "INSUFFICIENT_DATA", T0 + 61)
    assert state == "ALARM"
    assert reason == ("Threshold Crossed: 1 datapoint [5.0 (14/11/23 22:13:00)] was greater than the "
                      "threshold (1.0).")
    doc = json.loads(data)
    assert doc["recentDatapoints"] == [5.0] and doc["threshold"] == 1.0 and doc["statistic"] == "Sum"
    assert doc["period"] == 60 and doc["evaluatedDatapoints"][0]["value"] == 5.0


def test_under_the_threshold_is_ok():
    state, reason, _ = evaluate(cfg(), pts(0.5), "ALARM", T0 + 61)
    assert state == "OK"
    assert reason.endswith("was not greater than the threshold (1.0).")


def test_m_out_of_n():
    c = cfg(EvaluationPeriods=3, DatapointsToAlarm=2)
    state, reason, _ = evaluate(c, pts(5.0, 0.0, 3.0), "OK", T0 + 200)
    assert state == "ALARM"
    assert "2 out of the last 3 datapoints" in reason and "were greater than" in reason
    assert reason.endswith("(minimum 2 datapoints for OK -> ALARM transition).")
    assert evaluate(c, pts(5.0, 0.0, 0.0), "ALARM", T0 + 200)[0] == "OK"


@pytest.mark.parametrize("treat,current,expected", [
    ("missing", "OK", "INSUFFICIENT_DATA"),
    ("breaching", "OK", "ALARM"),
    ("notBreaching", "ALARM", "OK"),
    ("ignore", "OK", None),
])
def test_missing_data(treat, current, expected):
    out = evaluate(cfg(TreatMissingData=treat), pts(None), current, T0 + 61)
    assert (out[0] if out else None) == expected


def test_insufficient_data_reason():
    state, reason, _ = evaluate(cfg(EvaluationPeriods=2), pts(None, None), "OK", T0 + 130)
    assert state == "INSUFFICIENT_DATA" and reason == "Insufficient Data: 2 datapoints were unknown."


def test_comparison_operators():
    assert evaluate(cfg(ComparisonOperator="GreaterThanOrEqualToThreshold"), pts(1.0), "OK", T0)[0] == "ALARM"
    assert evaluate(cfg(ComparisonOperator="LessThanThreshold"), pts(0.5), "OK", T0)[0] == "ALARM"
    assert evaluate(cfg(ComparisonOperator="LessThanOrEqualToThreshold"), pts(1.5), "ALARM", T0)[0] == "OK"


def test_composite_rules():
    tree = alarmrule.parse('ALARM("a") AND NOT (OK(b) OR INSUFFICIENT_DATA("arn:aws:cloudwatch:us-east-1:1:alarm:c"))')
    assert alarmrule.children(tree) == {"a", "b", "arn:aws:cloudwatch:us-east-1:1:alarm:c"}
    states = {"a": "ALARM", "b": "ALARM", "arn:aws:cloudwatch:us-east-1:1:alarm:c": "OK"}
    assert alarmrule.evaluate(tree, states.get)
    states["b"] = "OK"
    assert not alarmrule.evaluate(tree, states.get)
    assert alarmrule.evaluate(alarmrule.parse("TRUE OR FALSE AND FALSE"), states.get)   # AND binds tighter


@pytest.mark.parametrize("rule", ["ALARM(a) AND", "(ALARM(a)", "ALARM(a) XOR OK(b)", "", "ALARMS(a)"])
def test_bad_composite_rules(rule):
    with pytest.raises(ServiceError):
        alarmrule.parse(rule)
