"""IPC inside one process (server.single_worker: gateway and shard on one loop): a connect
to a path served in this process and loop is an in-memory link, with a socket's order and
close semantics; other processes (and a closed server) go through the socket."""

from __future__ import annotations

import asyncio

import pytest

from broker.runtime import ipc
from tests.helpers.aio import until


class _Echo(ipc.Handler):
    conns: list = []
    lost: list = []

    def on_request(self, conn, rid, op, args):
        _Echo.conns.append(conn)
        if op == "fail":
            conn.reply_error(rid, "Nope", "refused", 400, True)
        else:
            conn.reply(rid, [op, args])
            conn.push("after", args)

    def on_lost(self, conn, exc):
        _Echo.lost.append(conn)


class _Client(ipc.Handler):
    def __init__(self):
        self.pushes, self.lost = [], []

    def on_push(self, conn, topic, payload):
        self.pushes.append((topic, payload))

    def on_lost(self, conn, exc):
        self.lost.append(exc)


@pytest.fixture(autouse=True)
def _fresh():
    _Echo.conns, _Echo.lost = [], []


async def _linked(tmp_path):
    """An echo server and an in-process client of it: (server, client's handler, client)."""
    server = await ipc.serve(str(tmp_path / "s.sock"), _Echo)
    rec = _Client()
    return server, rec, await ipc.connect(str(tmp_path / "s.sock"), rec)


def test_in_process_connect_is_local_and_keeps_order_errors_and_pushes(tmp_path):
    async def main():
        server, rec, client = await _linked(tmp_path)
        assert isinstance(client.transport, ipc._LocalTransport)
        calls = [client.call_nowait("op", i) for i in range(200)]
        assert await asyncio.gather(*calls) == [["op", i] for i in range(200)]
        await until(lambda: len(rec.pushes) == 200)
        assert rec.pushes == [("after", i) for i in range(200)]      # in the order sent
        with pytest.raises(ipc.RemoteError) as err:
            await client.call("fail", None)
        assert (err.value.code, err.value.message) == ("Nope", "refused")
        big = b"x" * (3 << 20)                                         # larger than a socket buffer
        assert await client.call("op", big) == ["op", big]
        client.close()
        server.close()
    asyncio.run(main())


def test_closing_one_end_delivers_what_was_sent_then_ends_both(tmp_path):
    async def main():
        server, rec, client = await _linked(tmp_path)
        await client.call("op", 0)
        pending = client.call_nowait("op", 1)
        _Echo.conns[0].push("last", 9)
        _Echo.conns[0].close()          # the server end goes away with a call outstanding
        await until(lambda: rec.lost and _Echo.lost)
        assert ("last", 9) in rec.pushes
        with pytest.raises(ipc.ConnectionLost):
            await pending
        with pytest.raises(ipc.ConnectionLost):
            client.call_nowait("op", 2)
        server.close()
    asyncio.run(main())


def test_a_closed_server_takes_no_more_connects_and_other_loops_use_the_socket(tmp_path):
    path = str(tmp_path / "s.sock")

    async def other_loop():
        client = await ipc.connect(path, _Client())        # another loop: the socket
        assert not isinstance(client.transport, ipc._LocalTransport)
        assert await client.call("op", "via socket") == ["op", "via socket"]
        client.close()

    async def main():
        server = await ipc.serve(path, _Echo)
        await asyncio.get_running_loop().run_in_executor(None, asyncio.run, other_loop())
        server.close()
        await server.wait_closed()
        with pytest.raises(OSError):
            await ipc.connect(path, _Client())
    asyncio.run(main())
