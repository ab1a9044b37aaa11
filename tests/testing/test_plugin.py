"""The pytest plugin (entry point pytest11), driven with pytester: each inner run is a
real `python -m pytest` with the installed plugin, starting (or reusing) a real server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.testing._helpers import refused

pytest_plugins = ["pytester"]

INNER_TIMEOUT = 240


def _run(pytester, *args):
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=INNER_TIMEOUT)




def test_fixtures_accounts_clients_and_waits(pytester):
    pytester.makepyfile(test_app="""
        import pytest
        from broker.testing import WaitError, WaitTimeout

        def test_each_account_sees_only_its_own_queue(broker, broker_account):
            sqs = broker_account.client("sqs")
            url = sqs.create_queue(QueueName="orders")["QueueUrl"]
            assert url.endswith(f"/{broker_account.id}/orders")
            sqs.send_message(QueueUrl=url, MessageBody="one")
            assert broker_account.wait_for("sqs", queue="orders", count=1)["value"] == 1
            other = broker.account()
            assert other.id != broker_account.id and len(other.id) == 12
            assert other.client("sqs").list_queues().get("QueueUrls", []) == []
            assert broker.client("sqs").list_queues(QueueNamePrefix="orders").get("QueueUrls", []) == []

        def test_a_second_test_gets_a_fresh_account(broker_account):
            assert broker_account.client("sqs").list_queues().get("QueueUrls", []) == []
            assert broker_account.client("sts").get_caller_identity()["Account"] == broker_account.id

        def test_env_for_subprocesses_and_predicates(broker, broker_account):
            assert broker.env["AWS_ENDPOINT_URL"] == broker.url
            assert broker.env["AWS_ENDPOINT_URL_SQS"] == broker.url
            assert broker_account.env["AWS_ACCESS_KEY_ID"] == broker_account.id
            assert broker.wait_for(lambda: "yes", timeout=1) == "yes"
            with pytest.raises(WaitTimeout):
                broker.wait_for(lambda: None, timeout=0.1)

        def test_server_side_waits(broker, broker_account):
            with pytest.raises(WaitTimeout):
                broker.wait_for("http", name="never", timeout=0.2)
            with pytest.raises(WaitError) as err:
                broker_account.wait_for("sqs", queue="missing", timeout=1)
            assert err.value.status == 404
            import urllib.request
            urllib.request.urlopen(urllib.request.Request(broker.capture_url("hook"), data=b"ping"), timeout=10)
            assert broker.wait_for("http", name="hook", text="ping")["count"] == 1
            assert broker.captured("hook")[0]["body"] == "ping"

        def test_wire_helpers(broker):
            conn = broker.pika_connection()
            ch = conn.channel()
            q = ch.queue_declare(queue="", exclusive=True).method.queue
            ch.basic_publish("", q, b"hi")
            conn.close()
            smtp = broker.smtp()
            assert smtp.noop()[0] == 250
            smtp.quit()
    """)
    result = _run(pytester)
    result.assert_outcomes(passed=5)


def test_broker_url_uses_a_running_server(pytester, server, unique_name):
    pytester.makepyfile(test_remote=f"""
        def test_remote(broker):
            assert broker.url == {server.url!r}
            assert broker.data_dir is None
            assert broker.endpoints["amqp"] == {server.read_endpoints()["amqp"]!r}    # from /_broker/info
            broker.client("sqs").create_queue(QueueName={unique_name!r})
    """)
    _run(pytester, "--broker-url", server.url).assert_outcomes(passed=1)
    assert server.client("sqs").get_queue_url(QueueName=unique_name)["QueueUrl"].endswith(unique_name)


def test_broker_keep_keeps_the_data_dir_of_a_failed_run_only(pytester, monkeypatch):
    pytester.makepyfile(test_fails="""
        import os
        def test_fails(broker):
            with open(os.environ["WHERE"], "w") as f:
                f.write(broker.data_dir + " " + broker.url)
            assert False, "on purpose"
    """)
    where = pytester.path / "where.txt"
    monkeypatch.setenv("WHERE", str(where))
    result = _run(pytester, "--broker-keep")
    result.assert_outcomes(failed=1)
    data_dir, url = where.read_text().split()
    result.stdout.fnmatch_lines([f"broker: data directory kept for inspection: {data_dir}*"])
    assert (Path(data_dir) / "broker.log").exists()
    assert refused(url)                          # the server stopped all the same
    result = _run(pytester)                       # without the flag: gone
    result.assert_outcomes(failed=1)
    data_dir, url = where.read_text().split()
    assert not Path(data_dir).exists()
    assert "data directory kept" not in result.stdout.str()


def test_nothing_starts_unless_a_fixture_is_used_and_local_fixtures_win(pytester):
    pytester.makeconftest("""
        import pytest

        @pytest.fixture
        def broker():
            return "the suite's own"
    """)
    pytester.makepyfile(test_plain="""
        def test_plain(tmp_path):
            assert tmp_path.is_dir()

        def test_local_fixture_wins(broker):
            assert broker == "the suite's own"

        def test_options_are_there(pytestconfig):
            assert pytestconfig.getoption("broker_keep") is False
    """)
    base = pytester.path / "basetemp"
    _run(pytester, f"--basetemp={base}").assert_outcomes(passed=3)
    assert base.is_dir()
    assert not [p.name for p in base.iterdir() if p.name.startswith("broker")]    # no server's data dir


def test_xdist_workers_share_one_server_and_never_see_each_others_queues(pytester, monkeypatch):
    pytest.importorskip("xdist")
    pytester.makepyfile(test_parallel="""
        import json, os
        import pytest

        @pytest.mark.parametrize("n", range(8))
        def test_same_queue_name_in_every_test(broker, broker_account, n, worker_id):
            sqs = broker_account.client("sqs")
            url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=f"from {n}")
            assert sqs.list_queues()["QueueUrls"] == [url]
            got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"]
            assert [m["Body"] for m in got] == [f"from {n}"]
            line = json.dumps({"worker": worker_id, "url": broker.url, "account": broker_account.id})
            with open(os.environ["LOG"], "a") as f:
                f.write(line + "\\n")
    """)
    log = pytester.path / "log.jsonl"
    monkeypatch.setenv("LOG", str(log))
    result = _run(pytester, "-n", "2")
    result.assert_outcomes(passed=8)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(rows) == 8
    assert {r["worker"] for r in rows} == {"gw0", "gw1"}
    assert len({r["url"] for r in rows}) == 1          # one server for both workers
    assert len({r["account"] for r in rows}) == 8      # a fresh account per test
    assert refused(rows[0]["url"])                    # stopped when the run ended
