"""A queue longer than the core queue's in-memory window (`store.queue_memory_window`, set to
4,096 here: that many ready messages stay in memory, the rest only in the store): after kill -9 and a restart,
and again mid-way through draining it, every acknowledged message is served exactly once,
in the order sent, and the count is right throughout; a peek shows it all."""

from __future__ import annotations

import sqlite3

from tests.helpers.brokerproc import BrokerProcess
from tests.services.sqs.test_sqs_devendpoint import peek

N = 7000


def _depth(sqs, url) -> int:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attrs["Attributes"]["ApproximateNumberOfMessages"])


def _drain(sqs, url, n: int) -> list[str]:
    got: list[str] = []
    while len(got) < n:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=120).get("Messages", [])
        if not msgs:
            break
        got.extend(m["Body"] for m in msgs)
        out = sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)])
        assert len(out.get("Successful", [])) == len(msgs)
    return got


def _spilled_chunks(data_dir) -> int:
    """Chunk records of backlogs left in the store (their kind and key are stored in clear)."""
    n = 0
    for db in (data_dir / "partitions").glob("p-*.db"):
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            n += con.execute("SELECT count(*) FROM entities WHERE kind = 'core.backlog'").fetchone()[0]
        finally:
            con.close()
    return n


def test_backlog_beyond_the_window_survives_kill9_in_order(tmp_path):
    data = tmp_path / "data"
    with BrokerProcess(data, "--workers", "1", "--shards", "1", "--durability", "process",
                       env={"BROKER_STORE_QUEUE_MEMORY_WINDOW": "4096"}) as b:
        sqs = b.client("sqs")
        url = sqs.create_queue(QueueName="long-backlog")["QueueUrl"]
        bodies = [f"m-{i:05d}" for i in range(N)]
        for i in range(0, N, 10):
            out = sqs.send_message_batch(QueueUrl=url, Entries=[
                {"Id": str(j), "MessageBody": body} for j, body in enumerate(bodies[i:i + 10])])
            assert len(out.get("Successful", [])) == 10
        assert _depth(sqs, url) == N
        # the developer endpoint's peek reads the part left on disk too, in order
        assert [m["Body"] for m in peek(b, url)] == bodies

        b.kill_all()
        assert _spilled_chunks(data) > 0        # most of it was left on disk, not in memory
        b.restart()
        sqs = b.client("sqs")
        assert _depth(sqs, url) == N
        first = _drain(sqs, url, N // 2)
        assert first == bodies[:len(first)] and len(first) >= N // 2
        assert _depth(sqs, url) == N - len(first)

        b.kill_all()                            # mid-way: part of the backlog paged back in
        b.restart()
        sqs = b.client("sqs")
        assert _depth(sqs, url) == N - len(first)
        rest = _drain(sqs, url, N)
        assert first + rest == bodies
        assert sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []) == []
        assert _depth(sqs, url) == 0
