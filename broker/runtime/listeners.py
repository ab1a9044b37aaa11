"""Listeners opened and closed at runtime (an Amazon MQ broker's ports, ...).

The supervisor owns the table (`ListenerTable`): it allocates a port from
``listeners.port_range`` (or a free port with ``--free-ports``), reserves it
with a bound SO_REUSEPORT socket, records the listener durably in
``<data_dir>/listeners.json``, and asks every gateway to open it; it answers
the opener only when every running gateway has bound it. A gateway that
(re)starts opens every recorded listener before it reports ready, so after a
restart the same ports serve again. ``endpoints.json`` and ``/_broker/info``
list them under their names.

Any worker opens one with its control link:

    await host.control.call("listener.open", {"name": "mq-b-1a2b-amqps", "protocol": "amqp",
                                              "tls": "always", "args": {...}})
    -> {"name", "port", "url", ...}
    await host.control.call("listener.close", {"name": ...})
    await host.control.call("listeners", {})           # every record

``protocol`` names a factory the composition registered (Plugins.protocols):
``factory(gateway, ssl_ctx_or_None, args) -> protocol factory``; ``tls`` is
"never", "always" or "sniff"; ``scheme`` is the URL scheme for endpoints.
"""

from __future__ import annotations

import json
import logging
import socket
from pathlib import Path

log = logging.getLogger("broker.listeners")


class ListenerError(Exception):
    pass


def parse_range(text: str) -> tuple[int, int]:
    try:
        lo, _, hi = text.partition("-")
        lo_i, hi_i = int(lo), int(hi or lo)
    except ValueError:
        raise ListenerError(f"listeners.port_range: expected LOW-HIGH, got {text!r}") from None
    if not (0 < lo_i <= hi_i < 65536):
        raise ListenerError(f"listeners.port_range: expected LOW-HIGH within 1-65535, got {text!r}")
    return lo_i, hi_i


class ListenerTable:
    """Supervisor side: durable records, port allocation and reservation."""

    def __init__(self, path: Path, host: str, port_range: str, free_ports: bool, reserve, url_host: str):
        self.path = path
        self.host = host
        self.range = parse_range(port_range)
        self.free = free_ports
        self._reserve = reserve            # (host, port) -> bound socket, raises OSError
        self.url_host = url_host
        self.records: dict[str, dict] = {}
        self.sockets: dict[str, socket.socket] = {}
        if path.exists():
            for rec in json.loads(path.read_text() or "[]"):
                self.records[rec["name"]] = rec

    def reserve_all(self) -> None:
        """At start: hold every recorded port again (same ports after a restart)."""
        for name, rec in list(self.records.items()):
            try:
                self.sockets[name] = self._reserve(self.host, rec["port"])
            except OSError as exc:
                log.error("event=listener_port_lost name=%s port=%d error=%s", name, rec["port"], exc)

    def _save(self) -> None:
        from broker.runtime.datadir import write_private
        write_private(self.path, json.dumps(list(self.records.values()), indent=1).encode())

    def allocate(self, spec: dict) -> dict:
        name = spec["name"]
        if name in self.records:
            return self.records[name]
        want = spec.get("port")
        sock = None
        if want:
            sock = self._reserve(self.host, int(want))
        elif self.free:
            sock = self._reserve(self.host, 0)
        else:
            used = {r["port"] for r in self.records.values()}
            for port in range(self.range[0], self.range[1] + 1):
                if port in used:
                    continue
                try:
                    sock = self._reserve(self.host, port)
                    break
                except OSError:
                    continue
            if sock is None:
                raise ListenerError(f"no free port left in listeners.port_range {self.range[0]}-{self.range[1]}")
        port = sock.getsockname()[1]
        scheme = spec.get("scheme") or ("tls" if spec.get("tls") == "always" else "tcp")
        rec = {"name": name, "protocol": spec["protocol"], "tls": spec.get("tls", "never"), "port": port,
               "scheme": scheme, "args": spec.get("args") or {}, "owner": spec.get("owner", ""),
               "url": f"{scheme}://{self.url_host}:{port}"}
        self.records[name] = rec
        self.sockets[name] = sock
        self._save()
        return rec

    def release(self, name: str) -> dict | None:
        rec = self.records.pop(name, None)
        sock = self.sockets.pop(name, None)
        if sock is not None:
            sock.close()
        if rec is not None:
            self._save()
        return rec

    def endpoints(self) -> dict[str, str]:
        return {name: rec["url"] for name, rec in self.records.items()}

    def close(self) -> None:
        for s in self.sockets.values():
            s.close()
        self.sockets.clear()


def _closed(proto) -> bool:
    t = getattr(proto, "transport", None)
    return t is not None and t.is_closing()


class GatewayListeners:
    """Gateway side: bind, serve and stop runtime listeners by name."""

    def __init__(self, gateway):
        self.gateway = gateway
        self.servers: dict[str, object] = {}
        self.conns: dict[str, set] = {}

    async def open(self, rec: dict) -> None:
        name = rec["name"]
        if name in self.servers:
            return
        gw = self.gateway
        make = gw.plugins.protocols.get(rec["protocol"])
        if make is None:
            raise ListenerError(f"no protocol {rec['protocol']!r} in this build")
        ssl_ctx = gw.ssl_ctx if rec["tls"] in ("always", "sniff") else None
        inner = make(gw, ssl_ctx, rec.get("args") or {})
        conns = self.conns.setdefault(name, set())
        prune_at = [64]

        def factory():
            if len(conns) >= prune_at[0]:     # forget closed connections, amortised
                conns.difference_update([p for p in conns if _closed(p)])
                prune_at[0] = max(64, 2 * len(conns))
            proto = inner()
            conns.add(proto)
            return proto
        from broker.runtime.gateway import _SniffingListener, bind_reuseport
        sock = bind_reuseport(gw.run.host, rec["port"])
        if rec["tls"] == "sniff":
            server = _SniffingListener(gw.loop, sock, factory, ssl_ctx)
        else:
            server = await gw.loop.create_server(factory, sock=sock,
                                                 ssl=ssl_ctx if rec["tls"] == "always" else None)
        self.servers[name] = server
        log.info("event=listener_opened name=%s port=%d protocol=%s tls=%s", name, rec["port"],
                 rec["protocol"], rec["tls"])

    def close(self, name: str) -> bool:
        server = self.servers.pop(name, None)
        if server is None:
            return False
        server.close()
        for proto in self.conns.pop(name, set()):
            transport = getattr(proto, "transport", None)
            if transport is not None and not transport.is_closing():
                transport.abort()
        log.info("event=listener_closed name=%s", name)
        return True

    def close_all(self) -> None:
        for name in list(self.servers):
            self.close(name)
