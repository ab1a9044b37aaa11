"""A prebuilt series key records exactly what `metric` records for the same series."""

from broker.runtime.telemetry import Telemetry


def _stats(points):
    return {tuple(p[:6]): p[7][:4] for p in points}


def test_point_matches_metric():
    a, b = Telemetry(), Telemetry()
    key = b.series("AWS/SQS", "SentMessageSize", {"QueueName": "q"}, "Bytes", account="111122223333",
                   region="eu-west-1")
    for v in (10, 3, 250, 7):
        a.metric("AWS/SQS", "SentMessageSize", {"QueueName": "q"}, v, "Bytes", account="111122223333",
                 region="eu-west-1")
        b.point(key, v)
    pa, _ = a.drain()
    pb, _ = b.drain()
    assert _stats(pa) == _stats(pb) == {key: [4, 270, 3, 250]}


def test_series_key_sorts_dimensions():
    t = Telemetry()
    assert t.series("N", "m", {"b": "2", "a": "1"}) == t.series("N", "m", {"a": "1", "b": "2"})


def test_point_disabled_is_a_no_op():
    t = Telemetry()
    t.enabled = False
    t.point(t.series("N", "m"), 1)
    assert t.drain()[0] == []
