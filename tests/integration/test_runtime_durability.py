"""Durability levels and crash recovery: every acknowledged write survives kill -9.

Each test starts its own server (it kills processes). Writes go through the
public path (boto3 -> gateway -> shard); a write counts as acknowledged when
the client got a success response. KMS keeps all keys of an account+region in
one partition, so the tests kill every shard in turn (one of them owns it).
"""

from __future__ import annotations

import threading
import time

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from tests.helpers.brokerproc import BrokerProcess, wait_for
from tests.helpers.entities import check_entities, create_entities


class Writer:
    """Background CreateKey writes (each a new entity); records which were acknowledged."""

    def __init__(self, server: BrokerProcess, tag: str):
        self.kms = server.client("kms")
        self.tag = tag
        self.acked: dict[str, str] = {}    # key id -> description
        self.failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        i = 0
        while not self._stop.is_set():
            desc = f"{self.tag}-w{i:05d}"
            i += 1
            try:
                key_id = self.kms.create_key(Description=desc)["KeyMetadata"]["KeyId"]
            except (ClientError, BotoCoreError):
                self.failed += 1
                time.sleep(0.01)  # back-off while a shard restarts (not synchronisation)
            else:
                self.acked[key_id] = desc

    def __enter__(self):
        self._thread.start()
        wait_for(lambda: len(self.acked) >= 5, 10, what="first acknowledged writes")
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(30)


def assert_acked_present(server: BrokerProcess, acked: dict[str, str]) -> None:
    kms = server.client("kms")
    present = set()
    for page in kms.get_paginator("list_keys").paginate(PaginationConfig={"PageSize": 1000}):
        present.update(k["KeyId"] for k in page["Keys"])
    missing = sorted(set(acked) - present)
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged CreateKey writes lost, e.g. {missing[:5]}"
    for key_id in sorted(acked)[-5:]:
        assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == acked[key_id]


@pytest.mark.parametrize("durability", ["fsync", "process"])
def test_kill_shards_and_whole_group_keeps_acknowledged_writes(tmp_path, durability, unique_name):
    with BrokerProcess(tmp_path / "d", "--workers", "1", "--shards", "2", "--durability", durability) as b:
        assert b.info()["durability"] == durability
        entities = create_entities(b, unique_name)
        with Writer(b, f"{unique_name}-a") as w:
            for k in (0, 1):
                old, new = b.kill_worker("shard", k)
                assert old != new
                n = len(w.acked)
                wait_for(lambda: len(w.acked) >= n + 5, 20, what=f"writes resuming after shard {k} restart")
        restarts = {(p["role"], p["index"]): p["restarts"] for p in b.processes()}
        assert restarts[("shard", 0)] == 1 and restarts[("shard", 1)] == 1
        assert_acked_present(b, w.acked)
        check_entities(b, entities)

        # kill -9 the supervisor and every worker mid-stream, restart on the same data dir
        with Writer(b, f"{unique_name}-b") as w2:
            wait_for(lambda: len(w2.acked) >= 20, 20, what="writes before the crash")
            b.kill_all()
        assert b.returncode == -9
        b.restart()
        b.wait_healthy()
        assert_acked_present(b, w.acked)
        assert_acked_present(b, w2.acked)
        check_entities(b, entities)
        rc, _ = b.stop()
        assert rc == 0, b.log_text()


def test_memory_durability_writes_nothing_under_partitions(tmp_path, unique_name):
    data = tmp_path / "d"
    with BrokerProcess(data, "--workers", "1", "--shards", "2", "--durability", "memory") as b:
        entities = create_entities(b, unique_name, n=3)
        check_entities(b, entities)
        written = sorted(p.name for p in (data / "partitions").rglob("*")) if (data / "partitions").exists() else []
        assert written == [], f"durability=memory wrote {written}"
        assert b.stop()[0] == 0
    written = sorted(p.name for p in (data / "partitions").rglob("*")) if (data / "partitions").exists() else []
    assert written == [], f"durability=memory wrote {written}"


def test_kill_gateway_is_restarted_and_serves(tmp_path, unique_name):
    with BrokerProcess(tmp_path / "d", "--workers", "2", "--shards", "1") as b:
        entities = create_entities(b, unique_name, n=2)
        for i in (0, 1):
            old, new = b.kill_worker("gateway", i)
            assert old != new
        kms = b.client("kms")
        # retry loop with a deadline: a request may hit the dying gateway's last moments
        desc = wait_for(lambda: kms.describe_key(KeyId=entities[0]["id"])["KeyMetadata"]["Description"],
                        20, what="describe_key after gateway restart")
        assert desc == f"{unique_name} key 0"
        # many fresh connections: SO_REUSEPORT spreads them over both (new) gateways
        for _ in range(20):
            assert b.client("kms").describe_key(KeyId=entities[1]["id"])["KeyMetadata"]["KeyId"] == entities[1]["id"]
        check_entities(b, entities)
        assert b.health()["status"] == "ok"
        assert b.stop()[0] == 0


def test_redo_logs_follow_a_change_of_shard_count_and_durability(tmp_path, unique_name):
    """At "fsync" each shard keeps one redo log (broker.core.redo) named for the layout;
    a start with another shard count or durability replays the old layout's logs first
    (the supervisor) and removes them, so nothing acknowledged is lost across the change."""
    data = tmp_path / "d"
    with BrokerProcess(data, "--workers", "1", "--shards", "2", "--durability", "fsync") as b:
        entities = create_entities(b, unique_name, n=3)
        assert sorted(p.name for p in (data / "partitions").glob("redo-*")) == [
            "redo-0-of-2.log", "redo-1-of-2.log"]
        with Writer(b, f"{unique_name}-a") as w:
            wait_for(lambda: len(w.acked) >= 20, 20, what="writes before the crash")
            b.kill_all()
        b.restart("--workers", "1", "--shards", "1", "--durability", "fsync")
        b.wait_healthy()
        assert sorted(p.name for p in (data / "partitions").glob("redo-*")) == ["redo-0-of-1.log"]
        assert_acked_present(b, w.acked)
        check_entities(b, entities)
        with Writer(b, f"{unique_name}-b") as w2:
            wait_for(lambda: len(w2.acked) >= 20, 20, what="writes before the second crash")
            b.kill_all()
        b.restart("--workers", "1", "--shards", "2", "--durability", "process")
        b.wait_healthy()
        assert not list((data / "partitions").glob("redo-*"))
        assert_acked_present(b, w.acked)
        assert_acked_present(b, w2.acked)
        check_entities(b, entities)
        assert b.stop()[0] == 0, b.log_text()
