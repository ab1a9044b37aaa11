"""The account's concurrency is counted server-wide (2 shards, a limit of 3), reservations
are checked against every function of the account, and asynchronous invocations
survive a kill -9 of the shard that owns the function."""

from __future__ import annotations

import importlib
import json
import os
import signal
import threading

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from broker.core.partition import partition_of
from tests.helpers.brokerproc import BrokerProcess, wait_for

_conf = importlib.import_module("tests.services.lambda.conftest")   # "lambda" is a keyword
ROLE, zipped = _conf.ROLE, _conf.zipped

LIMIT = 3
# Blocks until the test drops a "go" file, after marking that it started.
GATED = """
import os, time
def handler(event, context):
    open(os.path.join(event["dir"], "started-" + context.aws_request_id), "w").close()
    deadline = time.time() + 60
    while not os.path.exists(os.path.join(event["dir"], "go")) and time.time() < deadline:
        time.sleep(0.02)
    return "done"
"""


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    with BrokerProcess(tmp_path_factory.mktemp("lambda-limit"), "--workers", "1", "--shards", "2",
                       "--durability", "process", env={"BROKER_LAMBDA_CONCURRENT_EXECUTIONS": str(LIMIT)}) as b:
        yield b


def _client(b: BrokerProcess):
    return b.client("lambda", config=Config(retries={"total_max_attempts": 1}, read_timeout=90))


def _names_on_each_shard(b: BrokerProcess, prefix: str) -> tuple[str, str]:
    """Two function names whose records live on different shard processes."""
    info = b.info()
    found: dict[int, str] = {}
    i = 0
    while len(found) < 2:
        name = f"{prefix}-{i}"
        p = partition_of(f"lambda/000000000000/us-east-1/{name}", info["partitions"])
        found.setdefault(p % info["shards"], name)
        i += 1
    return found[0], found[1]


def _create(lam, name: str, code: str = GATED, **kw) -> None:
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="handler.handler",
                        Code={"ZipFile": zipped({"handler.py": code})}, Timeout=90, **kw)


def _invoke(lam, name: str, payload: dict) -> dict:
    r = lam.invoke(FunctionName=name, Payload=json.dumps(payload).encode())
    return {"status": r["StatusCode"], "error": r.get("FunctionError"), "body": json.loads(r["Payload"].read())}


def _throttled(call) -> dict:
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response


def test_account_limit_counted_across_shards(limited, tmp_path):
    lam = _client(limited)
    a, b = _names_on_each_shard(limited, "gated")
    _create(lam, a)
    _create(lam, b)
    gate = {"dir": str(tmp_path)}
    results: list = []
    threads = [threading.Thread(target=lambda n=n: results.append(_invoke(_client(limited), n, gate)))
               for n in (a, a, b)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: len([f for f in os.listdir(tmp_path) if f.startswith("started-")]) == LIMIT, 60,
                 what=f"{LIMIT} invocations running")
        # a process-local count would allow 3 more on each shard
        for name in (a, b):
            resp = _throttled(lambda n=name: lam.invoke(FunctionName=n, Payload=json.dumps(gate).encode()))
            assert resp["Error"]["Code"] == "TooManyRequestsException"
            assert resp["Error"]["Message"] == "Rate Exceeded."
            assert resp["Reason"] == "ConcurrentInvocationLimitExceeded"
            assert resp["ResponseMetadata"]["HTTPStatusCode"] == 429
    finally:
        (tmp_path / "go").touch()
        for t in threads:
            t.join(90)
    assert [r["body"] for r in results] == ["done"] * LIMIT
    assert _invoke(lam, b, gate)["body"] == "done"       # the units came back
    assert _invoke(lam, a, gate)["body"] == "done"


def test_reservations_checked_account_wide(limited):
    lam = _client(limited)
    a, b = _names_on_each_shard(limited, "reserve")
    _create(lam, a, "def handler(e, c):\n    return 1\n")
    _create(lam, b, "def handler(e, c):\n    return 1\n")
    assert lam.put_function_concurrency(FunctionName=a, ReservedConcurrentExecutions=2)[
        "ReservedConcurrentExecutions"] == 2
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == LIMIT - 2
    with pytest.raises(ClientError) as e:
        lam.put_function_concurrency(FunctionName=b, ReservedConcurrentExecutions=2)
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert e.value.response["Error"]["Message"] == (
        "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution "
        "below its minimum value of [0].")
    assert lam.get_function_concurrency(FunctionName=b).get("ReservedConcurrentExecutions") is None
    lam.put_function_concurrency(FunctionName=b, ReservedConcurrentExecutions=1)
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 0
    assert lam.invoke(FunctionName=a)["StatusCode"] == 200          # reserved: its own count
    lam.delete_function_concurrency(FunctionName=a)
    lam.delete_function(FunctionName=b)                              # its reservation goes back
    wait_for(lambda: lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == LIMIT, 20,
             what="the deleted function's reservation back in the pool")
    lam.delete_function(FunctionName=a)


MARK = """
import os, time
def handler(event, context):
    time.sleep(1.0)        # long enough for the kill to land mid-invocation
    with open(event["file"], "a") as f:
        f.write(context.aws_request_id + "\\n")
"""


def test_event_invocation_survives_kill_9_of_its_shard(tmp_path):
    with BrokerProcess(tmp_path / "data", "--workers", "1", "--shards", "2", "--durability", "process") as b:
        lam = _client(b)
        name, _ = _names_on_each_shard(b, "durable")
        _create(lam, name, MARK)
        out = tmp_path / "ran.txt"
        r = lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"file": str(out)}).encode())
        assert r["StatusCode"] == 202
        shard = next(p for p in b.info()["processes"] if p["role"] == "shard" and p["index"] == 0)
        os.kill(shard["pid"], signal.SIGKILL)
        assert not out.exists()                  # killed before the function got to write
        wait_for(lambda: any(p["role"] == "shard" and p["index"] == 0 and p["restarts"] >= 1
                             and p["state"] == "running" for p in b.info()["processes"]), 30,
                 what="the shard restarted")
        wait_for(lambda: out.exists() and out.read_text().strip(), 60, what="the event run after recovery")
        assert lam.get_function(FunctionName=name)["Configuration"]["FunctionName"] == name
