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


def test_values_fold_into_the_same_statistics_as_points():
    a, b = Telemetry(), Telemetry()
    key = a.series("AWS/SQS", "SentMessageSize", {"QueueName": "q"}, "Bytes")
    data = list(range(1, 201))
    for v in data:
        a.point(key, v)
    buf = b.values(key)
    buf.extend(data)
    (pa,), _ = a.drain()
    (pb,), _ = b.drain(window=123)
    assert pa[7][:4] == pb[7][:4] == [200, sum(data), 1, 200]
    assert pb[6] == 123
    assert len(pb[7][4]) == 64 and set(pb[7][4]) <= set(data)
    assert buf == []                                       # cleared, kept for the next window


def test_values_and_points_of_one_series_merge():
    t = Telemetry()
    key = t.series("N", "m")
    t.point(key, 5)
    t.values(key).extend([1, 9])
    (p,), _ = t.drain()
    assert p[7][:4] == [3, 15, 1, 9] and sorted(p[7][4]) == [1, 5, 9]


def test_idle_values_list_is_forgotten():
    t = Telemetry()
    key = t.series("N", "m")
    t.values(key).append(1)
    t.drain()
    assert key in t._values                      # used this window: kept
    assert t.drain()[0] == []
    assert key not in t._values                  # idle for a window: forgotten


def test_values_disabled_records_nothing():
    t = Telemetry()
    t.enabled = False
    t.values(t.series("N", "m")).append(1)
    assert t.drain()[0] == [] and not t._values


def test_tally_folds_values_and_their_count_each_window():
    t = Telemetry()
    size, sent = t.series("AWS/SQS", "SentMessageSize", unit="Bytes"), t.series("AWS/SQS", "NumberOfMessagesSent")
    tally = t.tally(size, sent)
    tally.extend([10, 30, 20])
    t.point(sent, 5)                             # a batch's point merges with the counted values
    stats = _stats(t.drain()[0])
    assert stats == {size: [3, 60, 10, 30], sent: [4, 8, 1, 5]}
    assert tally == [] and t.tally(size, sent) is tally        # cleared in place, same list
    tally.append(7)                              # the caller's kept list still records
    assert _stats(t.drain()[0]) == {size: [1, 7, 7, 7], sent: [1, 1, 1, 1]}
    assert t.drain()[0] == []                    # an idle window: nothing


def test_tally_dropped_by_its_caller_keeps_its_values_then_is_forgotten():
    t = Telemetry()
    key = t.series("N", "m")
    tally = t.tally(key)
    tally.append(4)
    del tally                                    # e.g. a caller's cache evicted it mid-window
    assert _stats(t.drain()[0]) == {key: [1, 4, 4, 4]}
    assert key not in t._tallies                 # empty and held by nobody: forgotten
    kept = t.tally(key)
    t.drain()
    assert key in t._tallies and t.tally(key) is kept        # empty but held: kept


def test_tally_disabled_records_nothing():
    t = Telemetry()
    t.enabled = False
    tally = t.tally(t.series("N", "m"))
    tally.append(1)
    assert not tally and t.drain()[0] == [] and not t._tallies
