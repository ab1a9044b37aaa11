"""The data directory: fixed partition count, W/K changes, schema version, master key sources."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess

import pytest

from tests.helpers.brokerproc import BrokerProcess, broker_cmd, server_env
from tests.helpers.entities import check_entities, create_entities


def serve_expect_failure(data_dir, *args, env=None, timeout=30.0) -> subprocess.CompletedProcess:
    """Run `broker serve` that must fail at startup; returns the finished process."""
    cmd = broker_cmd("serve", "--data-dir", str(data_dir), "--free-ports", "--workers", "1", "--shards", "1",
                     *args)
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=server_env(env), timeout=timeout,
                           stdin=subprocess.DEVNULL, start_new_session=True)
    except subprocess.TimeoutExpired as exc:  # it started instead of failing: clean up the group
        raise AssertionError(f"server started although it should have failed: {exc.stderr}") from None
    assert not (data_dir / "endpoints.json").exists()
    return r


def test_partition_count_is_fixed_at_creation(tmp_path):
    data = tmp_path / "d"
    with BrokerProcess(data, "--workers", "1", "--shards", "2", "--partitions", "4") as b:
        assert b.info()["partitions"] == 4
        owned = sorted(p for s in b.health()["shards"] for p in s["partitions"])
        assert owned == [0, 1, 2, 3]
        assert b.stop()[0] == 0
    assert json.loads((data / "broker.json").read_text())["partitions"] == 4
    with BrokerProcess(data, "--workers", "1", "--shards", "3", "--partitions", "32") as b:
        assert b.info()["partitions"] == 4, "--partitions of an existing data dir is ignored"
        owned = sorted(p for s in b.health()["shards"] for p in s["partitions"])
        assert owned == [0, 1, 2, 3]
        assert sorted(p.name for p in (data / "partitions").glob("*.db")) == [f"p-{i:04d}.db" for i in range(4)]
        assert b.stop()[0] == 0


def test_changing_workers_and_shards_keeps_every_entity(tmp_path, unique_name):
    data = tmp_path / "d"
    with BrokerProcess(data, "--workers", "1", "--shards", "1", "--partitions", "6") as b:
        entities = create_entities(b, unique_name, n=5)
        check_entities(b, entities)
        for w, k in ((2, 3), (1, 2), (3, 5)):
            b.restart("--workers", str(w), "--shards", str(k))
            info = b.info()
            assert (info["workers"], info["shards"], info["partitions"]) == (w, k, 6)
            assert len(b.pids("shard")) == k and len(b.pids("gateway")) == w
            check_entities(b, entities)
            more = create_entities(b, f"{unique_name}-{w}{k}", n=1)
            entities += more
        assert b.stop()[0] == 0


@pytest.mark.parametrize("mutate,needle", [
    (lambda m: {**m, "schema": 99}, "schema version 99"),
    (lambda m: {k: v for k, v in m.items() if k != "schema"}, "schema version None"),
    (None, "unreadable"),
])
def test_bad_schema_version_is_a_clear_startup_error(tmp_path, mutate, needle):
    data = tmp_path / "d"
    with BrokerProcess(data, "--workers", "1", "--shards", "1") as b:
        assert b.stop()[0] == 0
    meta_path = data / "broker.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps(mutate(meta)) if mutate else "{not json")
    r = serve_expect_failure(data)
    assert r.returncode != 0
    assert needle in r.stderr, r.stderr
    assert "Traceback" not in r.stderr, r.stderr


def test_wrong_master_key_is_a_clear_startup_error(tmp_path, unique_name):
    data = tmp_path / "d"
    with BrokerProcess(data, "--workers", "1", "--shards", "1") as b:
        create_entities(b, unique_name, n=1)
        assert b.stop()[0] == 0
    other = base64.b64encode(os.urandom(32)).decode()
    r = serve_expect_failure(data, env={"BROKER_SECURITY_MASTER_KEY": other})
    assert r.returncode != 0
    assert "master key" in r.stderr and "does not match" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    # a malformed key is rejected too, naming the key
    r = serve_expect_failure(data, env={"BROKER_SECURITY_MASTER_KEY": "c2hvcnQ="})
    assert r.returncode != 0 and "security.master_key" in r.stderr, r.stderr


def test_generated_master_key_is_private(tmp_path):
    data = tmp_path / "d"
    with BrokerProcess(data, "--workers", "1", "--shards", "1") as b:
        mode = stat.S_IMODE((data / "master.key").stat().st_mode)
        assert mode == 0o600, oct(mode)
        assert len(base64.b64decode((data / "master.key").read_bytes().strip())) == 32
        assert stat.S_IMODE(data.stat().st_mode) & 0o077 == 0, "data dir is private"
        assert b.stop()[0] == 0


def _key_setups(tmp_path):
    key = os.urandom(32)
    b64 = base64.b64encode(key).decode()
    key_file = tmp_path / "secrets" / "master.key"
    key_file.parent.mkdir()
    key_file.write_bytes(key)                     # raw 32 bytes
    key_file.chmod(0o600)
    cfg = tmp_path / "broker.toml"
    cfg.write_text(f'[security]\nmaster_key_file = "{key_file}"\n')
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "master-key").write_text(b64 + "\n")  # base64 form
    return {
        "file": ((["--config", str(cfg)], None)),
        "env": (([], {"BROKER_SECURITY_MASTER_KEY": b64})),
        "systemd-credential": (([], {"CREDENTIALS_DIRECTORY": str(creds)})),
    }


@pytest.mark.parametrize("source", ["file", "env", "systemd-credential"])
def test_supplied_master_key_is_used_and_not_generated(tmp_path, source, unique_name):
    args, env = _key_setups(tmp_path)[source]
    data = tmp_path / "d"
    with BrokerProcess(data, "--workers", "1", "--shards", "1", *args, env=env) as b:
        entities = create_entities(b, unique_name, n=2)
        assert not (data / "master.key").exists(), f"master.key generated although supplied by {source}"
        b.restart()
        check_entities(b, entities)
        assert not (data / "master.key").exists()
        assert b.stop()[0] == 0
    # without the supplied key the data dir does not open, and no new key is made
    r = serve_expect_failure(data)
    assert r.returncode != 0 and "no master key found" in r.stderr, r.stderr
    assert not (data / "master.key").exists()


@pytest.mark.parametrize("raw", [b" " + os.urandom(30) + b"\n", b"\t" * 32, b"\n" + os.urandom(31)])
def test_raw_master_keys_with_whitespace_bytes_are_raw_keys(raw):
    from broker.runtime.datadir import _decode_key
    assert _decode_key(raw, "test") == raw
    assert _decode_key(base64.b64encode(raw) + b"\n", "test") == raw
