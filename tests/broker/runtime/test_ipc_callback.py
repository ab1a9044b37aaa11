"""IPC calls answered by a plain callback (call_cb, the edge's per-tick batches): the
reply, an error and a lost peer each reach it; a callback that raises is logged and
leaves the link up for the calls after it."""

from __future__ import annotations

import asyncio

from broker.runtime import ipc


class _Echo(ipc.Handler):
    def on_request(self, conn, rid, op, args):
        if op == "fail":
            conn.reply_error(rid, "NotFound", "no such thing", 404)
        elif op == "hang":
            pass                                  # never answered
        else:
            conn.reply(rid, args)


def test_call_cb_gets_replies_errors_and_lost_peers_and_survives_a_raising_callback(tmp_path):
    async def main():
        path = str(tmp_path / "s.sock")
        server = await ipc.serve(path, _Echo)
        client = await ipc.connect(path, ipc.Handler())
        got: list = []
        done = asyncio.Event()

        def record(result, exc):
            got.append((result, type(exc).__name__ if exc else None, getattr(exc, "code", None)))
            if len(got) == 3:
                done.set()

        def boom(result, exc):
            raise RuntimeError("a callback bug")

        client.call_cb("echo", [1, 2], boom)          # raises: logged, the link stays up
        client.call_cb("echo", [3], record)
        client.call_cb("fail", None, record)
        client.call_cb("hang", None, record)
        for _ in range(400):
            if len(got) == 2:
                break
            await asyncio.sleep(0.005)
        assert got == [([3], None, None), (None, "RemoteError", "NotFound")]
        assert not client.closed
        client.transport.close()                       # the pending "hang" call is lost
        await asyncio.wait_for(done.wait(), 2)
        assert got[2] == (None, "ConnectionLost", None)
        server.close()
    asyncio.run(main())
