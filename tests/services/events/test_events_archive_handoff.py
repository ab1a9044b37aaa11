"""The archive's end of the durable hand-off from a bus: the hand-off is at least once (a kill -9
between the archive's commit and the sender's record of it sends the batch again), so the
archive counts each event once however often the batch arrives."""

from __future__ import annotations

from broker.core.store import MemoryPartitionStore
from services.events.namespace import K_EVENT, Namespace, NamespaceOps

KEY = "ns/000000000000/us-east-1"


class Archives(NamespaceOps):
    """The namespace half's archive state on a store in memory (no processes)."""

    def __init__(self):
        self.store = MemoryPartitionStore(0)
        self.ns = Namespace(KEY, "000000000000", "us-east-1")
        self.ns.archives["all"] = {"n": "all", "cnt": 0, "size": 0, "ret": 0}

    def _ns_of_key(self, key, create=False):
        return self.ns if key == KEY else None


def _event(i: int) -> dict:
    return {"version": "0", "id": f"id-{i}", "detail-type": "t", "source": "app", "account": "000000000000",
            "time": "2026-11-30T05:00:0%dZ" % i, "region": "us-east-1", "resources": [], "detail": {"i": i}}


def test_a_batch_handed_off_twice_is_archived_once():
    arc = Archives()
    batch = [_event(i) for i in range(3)]
    arc.op_ArchiveEvents({"k": KEY, "archive": "all", "ev": batch})
    size = arc.ns.archives["all"]["size"]
    arc.op_ArchiveEvents({"k": KEY, "archive": "all", "ev": batch})          # the same hand-off again
    arc.op_ArchiveEvents({"k": KEY, "archive": "all", "ev": [_event(3)]})    # and a new event
    a = arc.ns.archives["all"]
    assert a["cnt"] == 4 and a["size"] > size
    assert len(list(arc.store.scan(K_EVENT, ""))) == 4
