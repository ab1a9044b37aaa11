"""A gateway process: every listener (SO_REUSEPORT), TLS, and links to all shards.

Gateways hold no durable state. Each binds its own socket on every listener
port, so the kernel spreads connections across gateways. A listener in
"sniff" mode serves plain and TLS on one port: the first byte of a new
connection is peeked (0x16 is a TLS handshake record) before the transport
is built.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time

from broker.runtime.cluster import Cluster
from broker.runtime.plugins import ListenerSpec, Plugins
from broker.runtime.runinfo import RunInfo
from broker.runtime.worker import ControlLink, stop_event

log = logging.getLogger("broker.gateway")

TLS_HANDSHAKE = 0x16
SNIFF_TIMEOUT = 30.0


def bind_reuseport(host: str, port: int, backlog: int = 1024) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


class _SniffingListener:
    """Accepts by hand, peeks one byte, then builds a plain or TLS transport."""

    def __init__(self, loop, sock, factory, ssl_ctx):
        self.loop, self.sock, self.factory, self.ssl_ctx = loop, sock, factory, ssl_ctx
        self.pending: dict[int, tuple[socket.socket, asyncio.TimerHandle]] = {}
        loop.add_reader(sock.fileno(), self._on_accept)

    def _on_accept(self) -> None:
        for _ in range(64):
            try:
                conn, _addr = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("event=accept_failed error=%s", exc)
                return
            conn.setblocking(False)
            fd = conn.fileno()
            timer = self.loop.call_later(SNIFF_TIMEOUT, self._give_up, fd)
            self.pending[fd] = (conn, timer)
            self.loop.add_reader(fd, self._on_first_byte, fd)

    def _give_up(self, fd: int) -> None:
        entry = self.pending.pop(fd, None)
        if entry is not None:
            self.loop.remove_reader(fd)
            entry[0].close()

    def _on_first_byte(self, fd: int) -> None:
        entry = self.pending.pop(fd, None)
        self.loop.remove_reader(fd)
        if entry is None:
            return
        conn, timer = entry
        timer.cancel()
        try:
            first = conn.recv(1, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            self.pending[fd] = entry
            self.loop.add_reader(fd, self._on_first_byte, fd)
            return
        except OSError:
            conn.close()
            return
        if not first:
            conn.close()
            return
        tls = first[0] == TLS_HANDSHAKE
        self.loop.create_task(self._start(conn, tls))

    async def _start(self, conn, tls: bool) -> None:
        try:
            await self.loop.connect_accepted_socket(
                self.factory, conn, ssl=self.ssl_ctx if tls else None,
                ssl_handshake_timeout=10.0 if tls else None)
        except Exception as exc:
            log.info("event=connection_setup_failed tls=%s error=%s", tls, exc)
            conn.close()

    def close(self) -> None:
        try:
            self.loop.remove_reader(self.sock.fileno())
        except Exception:
            pass
        self.sock.close()
        for fd, (conn, timer) in list(self.pending.items()):
            timer.cancel()
            self.loop.remove_reader(fd)
            conn.close()
        self.pending.clear()


class Gateway:
    def __init__(self, run: RunInfo, index: int, plugins: Plugins):
        self.run = run
        self.index = index
        self.plugins = plugins
        self.connections: set = set()      # protocol objects with .drain() and .idle
        self.started = time.time()
        self.draining = False
        self.ssl_ctx = None
        self.services = None                     # service gateway halves, set by a gateway hook
        self.drain_hooks: list = []              # async callables run when draining starts
        self.health_sections: dict = {}          # name -> async (gateway) -> dict, shown in health()

    @property
    def config(self) -> dict:
        return self.run.config

    async def main(self, stop: asyncio.Event | None = None) -> int:
        loop = asyncio.get_running_loop()
        self.loop = loop
        t0 = time.monotonic()
        phases = []
        self.control = ControlLink(self.run, "gateway", self.index)
        await self.control.connect()
        self.cluster = Cluster(self.run)   # pushes: cluster.push_handlers
        from broker.runtime.edge import EdgeRouter
        self.edge = EdgeRouter(self.cluster)   # binding read copies, loaded on each (re)connect
        self.cluster.start()
        await self.cluster.wait_ready()
        phases.append(("shards", time.monotonic()))
        if self.run.tls:
            from broker.runtime.tls import TlsMaterial, server_ssl_context
            from pathlib import Path
            material = TlsMaterial(Path(self.run.tls["ca_cert"]), Path(self.run.tls["cert"]),
                                   Path(self.run.tls["key"]))
            self.ssl_ctx = server_ssl_context(material)
        phases.append(("tls", time.monotonic()))
        for hook in [*self.plugins.gateway_hooks, *self.plugins.process_hooks]:
            res = hook(self)
            if asyncio.iscoroutine(res):
                await res
        phases.append(("hooks", time.monotonic()))
        listeners = []
        for spec in self.plugins.listeners:
            port = self.run.ports.get(spec.name)
            if not port:
                continue
            listeners.append(await self._open(spec, port))
        from broker.runtime.listeners import GatewayListeners
        self.runtime_listeners = GatewayListeners(self)
        self.control.handlers["listener.open"] = self.runtime_listeners.open
        self.control.handlers["listener.close"] = self._close_listener
        for rec in await self.control.call("listeners"):
            try:
                await self.runtime_listeners.open(rec)
            except Exception:
                log.exception("event=listener_open_failed name=%s port=%s", rec.get("name"), rec.get("port"))
        phases.append(("listeners", time.monotonic()))
        await self.control.ready()
        prev, parts = t0, []
        for name, at in phases:
            parts.append(f"{name}={at - prev:.3f}")
            prev = at
        from broker.runtime.zygote import late_imports
        log.info("event=gateway_ready index=%d seconds=%.3f %s late_imports=%d", self.index,
                 time.monotonic() - t0, " ".join(parts), late_imports())
        stop = stop or stop_event()
        await stop.wait()
        await self.drain(listeners)
        return 0

    async def _open(self, spec: ListenerSpec, port: int):
        sock = bind_reuseport(self.run.host, port)
        factory = _on_first_connection(lambda: spec.factory(self, self.ssl_ctx))
        if spec.tls == "sniff":
            return _SniffingListener(self.loop, sock, factory, self.ssl_ctx)
        ssl_ctx = self.ssl_ctx if spec.tls == "always" else None
        return await self.loop.create_server(factory, sock=sock, ssl=ssl_ctx)

    async def _close_listener(self, args) -> bool:
        return self.runtime_listeners.close(args["name"])

    async def drain(self, listeners) -> None:
        self.draining = True
        log.info("event=gateway_draining index=%d connections=%d", self.index, len(self.connections))
        for lst in listeners:
            lst.close()
        self.runtime_listeners.close_all()
        for hook in self.drain_hooks:
            try:
                await asyncio.wait_for(hook(), 2.0)
            except Exception:
                log.exception("event=drain_hook_failed")
        for conn in list(self.connections):
            try:
                conn.drain()
            except Exception:
                log.exception("event=drain_failed")
        deadline = time.monotonic() + float(self.run.config.get("server.drain_timeout", 8.0)) * 0.6
        while self.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        for conn in list(self.connections):
            conn.abort()
        self.cluster.close()
        log.info("event=gateway_stopped index=%d", self.index)

    async def health(self) -> dict:
        procs = await self.control.call("processes")
        shards = []
        for k in range(self.run.shards):
            try:
                info = await asyncio.wait_for(self.cluster.call_shard(k, "shard.ping"), 2.0)
                shards.append({"index": k, "status": "ok", **info})
            except Exception as exc:
                shards.append({"index": k, "status": "unreachable", "error": str(exc)})
        ok = all(p["state"] == "running" for p in procs) and all(s["status"] == "ok" for s in shards)
        doc = {"status": "ok" if ok else "degraded", "processes": procs, "shards": shards,
               "gateway": {"index": self.index, "pid": os.getpid(), "connections": len(self.connections)}}
        # services' own sections, e.g. "mwaa" (informative: the status stays the processes')
        for name, section in self.health_sections.items():
            try:
                doc[name] = await asyncio.wait_for(section(self), 2.0)
            except Exception as exc:
                doc[name] = {"status": "unreachable", "error": str(exc) or type(exc).__name__}
        return doc


def _on_first_connection(build):
    """A listener's protocol factory, built when its first client connects: a
    front-end's modules (AMQP, MQTT, SMTP ...) are then imported only by the
    gateway that serves one, not held by every process of an idle server."""
    made = None

    def factory():
        nonlocal made
        if made is None:
            made = build()
        return made()
    return factory


def run(run: RunInfo, index: int, plugins: Plugins) -> int:
    return asyncio.run(Gateway(run, index, plugins).main())
