"""Archives (pattern, retention, counts) and replays (event-time window, replay-name,
rule filter, states, cancel) through boto3."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from tests.helpers.brokerproc import wait_for
from tests.services.events._helpers import error, quiet, receive, rule_to_queue, uid

ACCOUNT = "000000000000"


def _entry(src, bus, detail, t=None):
    e = {"Source": src, "DetailType": "Archived", "Detail": json.dumps(detail), "EventBusName": bus}
    if t is not None:
        e["Time"] = t
    return e


def test_archive_lifecycle_and_errors(events, bus):
    b = bus()
    bus_arn = f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/{b}"
    name = uid("arc")
    pattern = {"source": ["orders"]}
    out = events.create_archive(ArchiveName=name, EventSourceArn=bus_arn, Description="keep",
                                EventPattern=json.dumps(pattern), RetentionDays=1)
    assert out["ArchiveArn"] == f"arn:aws:events:us-east-1:{ACCOUNT}:archive/{name}" and out["State"] == "ENABLED"
    d = events.describe_archive(ArchiveName=name)
    assert d["EventSourceArn"] == bus_arn and d["RetentionDays"] == 1 and d["EventCount"] == 0
    assert d["SizeBytes"] == 0 and json.loads(d["EventPattern"]) == pattern and d["Description"] == "keep"
    listed = events.list_archives(NamePrefix=name)["Archives"]
    assert [a["ArchiveName"] for a in listed] == [name] and "EventPattern" not in listed[0]
    assert [a["ArchiveName"] for a in events.list_archives(EventSourceArn=bus_arn)["Archives"]] == [name]
    with pytest.raises(ClientError) as e:
        events.create_archive(ArchiveName=name, EventSourceArn=bus_arn)
    assert error(e) == ("ResourceAlreadyExistsException", f"Archive {name} already exists.")
    with pytest.raises(ClientError) as e:
        events.update_archive(ArchiveName=name)
    assert error(e) == ("ValidationException",
                        "At least one of EventPattern, RetentionDays or Description must be provided.")
    events.update_archive(ArchiveName=name, RetentionDays=3)
    assert events.describe_archive(ArchiveName=name)["RetentionDays"] == 3
    events.delete_archive(ArchiveName=name)
    with pytest.raises(ClientError) as e:
        events.describe_archive(ArchiveName=name)
    assert error(e) == ("ResourceNotFoundException", f"Archive {name} does not exist.")
    missing = uid("nobus")
    with pytest.raises(ClientError) as e:
        events.create_archive(ArchiveName=uid("arc"),
                              EventSourceArn=f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/{missing}")
    assert error(e) == ("ResourceNotFoundException", f"Event bus {missing} does not exist.")
    with pytest.raises(ClientError) as e:
        events.list_archives(EventSourceArn=f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/{missing}")
    assert error(e) == ("ResourceNotFoundException", f"Event bus {missing} does not exist.")


def test_archive_and_replay_window(events, sqs, queue, bus):
    b = bus()
    bus_arn = f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/{b}"
    src = uid("app")
    archive = uid("arc")
    events.create_archive(ArchiveName=archive, EventSourceArn=bus_arn, EventPattern=json.dumps({"source": [src]}))
    url, arn = queue()
    rule = rule_to_queue(events, arn, {"source": [src]}, bus=b)
    base = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=30)
    entries = [_entry(src, b, {"i": i}, base + timedelta(minutes=i)) for i in range(6)]
    entries.append(_entry("other", b, {"i": 99}, base))            # not matched by the archive pattern
    assert events.put_events(Entries=entries)["FailedEntryCount"] == 0
    assert len(receive(sqs, url, 6)) == 6
    wait_for(lambda: events.describe_archive(ArchiveName=archive)["EventCount"] == 6, 15, what="6 archived")
    d = events.describe_archive(ArchiveName=archive)
    assert d["SizeBytes"] > 0
    replay = uid("rep")
    out = events.start_replay(ReplayName=replay, EventSourceArn=d["ArchiveArn"],
                              EventStartTime=base + timedelta(minutes=1), EventEndTime=base + timedelta(minutes=4),
                              Destination={"Arn": bus_arn, "FilterArns": [
                                  f"arn:aws:events:us-east-1:{ACCOUNT}:rule/{b}/{rule}"]})
    assert out["State"] == "STARTING" and out["ReplayArn"] == f"arn:aws:events:us-east-1:{ACCOUNT}:replay/{replay}"
    msgs = receive(sqs, url, 3)
    bodies = [json.loads(m["Body"]) for m in msgs]
    assert sorted(x["detail"]["i"] for x in bodies) == [1, 2, 3]
    assert all(x["replay-name"] == replay for x in bodies)
    assert list(bodies[0])[:8] == ["version", "id", "detail-type", "source", "account", "time", "region",
                                   "replay-name"]
    wait_for(lambda: events.describe_replay(ReplayName=replay)["State"] == "COMPLETED", 15, what="completed")
    r = events.describe_replay(ReplayName=replay)
    assert r["EventSourceArn"] == d["ArchiveArn"] and r["Destination"]["Arn"] == bus_arn
    assert r["EventLastReplayedTime"] and r["ReplayEndTime"] and r["ReplayStartTime"]
    assert [x["ReplayName"] for x in events.list_replays(NamePrefix=replay)["Replays"]] == [replay]
    assert quiet(sqs, url, 1.0) == []
    # replayed events are not archived again
    assert events.describe_archive(ArchiveName=archive)["EventCount"] == 6
    with pytest.raises(ClientError) as e:
        events.cancel_replay(ReplayName=replay)
    assert error(e)[0] == "IllegalStatusException"


def test_replay_errors(events, bus):
    b = bus()
    other = bus()
    bus_arn = f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/{b}"
    archive = uid("arc")
    arc_arn = events.create_archive(ArchiveName=archive, EventSourceArn=bus_arn)["ArchiveArn"]
    now = datetime.now(timezone.utc)
    start, end = now - timedelta(hours=1), now
    missing = f"arn:aws:events:us-east-1:{ACCOUNT}:archive/{uid('none')}"
    with pytest.raises(ClientError) as e:
        events.start_replay(ReplayName=uid("r"), EventSourceArn=missing, EventStartTime=start, EventEndTime=end,
                            Destination={"Arn": bus_arn})
    assert error(e) == ("ValidationException", f"Parameter EventSourceArn is not valid. Reason: Archive "
                                               f"{missing.rsplit('/', 1)[1]} does not exist.")
    with pytest.raises(ClientError) as e:
        events.start_replay(ReplayName=uid("r"), EventSourceArn=arc_arn, EventStartTime=start, EventEndTime=end,
                            Destination={"Arn": f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/{other}"})
    assert error(e) == ("ValidationException",
                        "Parameter Destination.Arn is not valid. Reason: Cross event bus replay is not permitted.")
    with pytest.raises(ClientError) as e:
        events.start_replay(ReplayName=uid("r"), EventSourceArn=arc_arn, EventStartTime=end, EventEndTime=start,
                            Destination={"Arn": bus_arn})
    assert error(e) == ("ValidationException",
                        "Parameter EventEndTime is not valid. Reason: EventStartTime must be before EventEndTime.")
    name = uid("r")
    events.start_replay(ReplayName=name, EventSourceArn=arc_arn, EventStartTime=start, EventEndTime=end,
                        Destination={"Arn": bus_arn})
    with pytest.raises(ClientError) as e:
        events.start_replay(ReplayName=name, EventSourceArn=arc_arn, EventStartTime=start, EventEndTime=end,
                            Destination={"Arn": bus_arn})
    assert error(e) == ("ResourceAlreadyExistsException", f"Replay {name} already exists.")
    with pytest.raises(ClientError) as e:
        events.describe_replay(ReplayName=uid("nope"))
    assert error(e)[0] == "ResourceNotFoundException"
    events.delete_archive(ArchiveName=archive)
