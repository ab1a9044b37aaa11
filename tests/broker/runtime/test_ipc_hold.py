"""IPC connections in hold mode (the shard's): replies and pushes wait for the owner's
release (the group commit), except a push sent with ``now`` (a delivery to a consumer),
which goes out at once, one write per loop tick, in the order sent."""

from __future__ import annotations

import asyncio

from broker.runtime import ipc
from tests.helpers.aio import until


class _Recorder(ipc.Handler):
    def __init__(self):
        self.pushes: list = []

    def on_push(self, conn, topic, payload):
        self.pushes.append((topic, payload))


class _Server(ipc.Handler):
    conn: ipc.Connection | None = None

    def on_request(self, conn, rid, op, args):
        _Server.conn = conn
        conn.reply(rid, args)
        conn.push("later", 1)                   # held with the reply
        conn.push("deliver", 2, now=True)       # not held
        conn.push("deliver", 3, now=True)


def test_a_push_sent_now_skips_the_hold_and_the_rest_waits_for_release(tmp_path):
    async def main():
        path = str(tmp_path / "s.sock")
        server = await ipc.serve(path, _Server, hold=True)
        rec = _Recorder()
        client = await ipc.connect(path, rec)
        call = client.call_nowait("op", "x")
        await until(lambda: len(rec.pushes) == 2)
        assert rec.pushes == [("deliver", 2), ("deliver", 3)] and not call.done()
        conn = _Server.conn
        conn.release(conn.take_held())          # the commit is durable
        assert await asyncio.wait_for(call, 2) == "x"
        await until(lambda: len(rec.pushes) == 3)
        assert rec.pushes[2] == ("later", 1)
        client.close()
        server.close()
    asyncio.run(main())
