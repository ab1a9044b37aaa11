"""The supervisor: prepares the data directory, starts and restarts workers.

It binds nothing that serves traffic: for each listener it only *reserves*
the port (a bound, non-listening SO_REUSEPORT socket) so `--free-ports`
can hand every gateway the same free port. Shards start first (they recover
state), then gateways (they connect to every shard, then open listeners).
When all are ready it writes endpoints.json and tells systemd READY=1.
SIGTERM/SIGINT drains: gateways stop accepting and finish in-flight work,
then shards commit and close; exit 0.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from broker.runtime import ipc
from broker.runtime.config import Config, default_data_dir
from broker.runtime.datadir import open_data_dir, write_public
from broker.runtime.notify import Notifier
from broker.runtime.plugins import ListenerSpec
from broker.runtime.runinfo import RunInfo

log = logging.getLogger("broker.supervisor")

UNIX_PATH_MAX = 100


@dataclass
class Proc:
    role: str
    index: int
    state: str = "starting"
    pid: int | None = None
    restarts: int = 0
    started_at: float = 0.0
    process: asyncio.subprocess.Process | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    conn: object = None              # its control connection (requests to the worker)

    def info(self) -> dict:
        return {"role": self.role, "index": self.index, "pid": self.pid, "state": self.state,
                "restarts": self.restarts,
                "uptime": round(time.time() - self.started_at, 3) if self.started_at else 0}


def reserve_port(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot bind {host}:{port}: {exc.strerror}") from None
    return sock


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "localhost"
    if host == "::":
        return "localhost"
    return f"[{host}]" if ":" in host else host


def tls_material(data_dir: Path, names, cert_file, key_file):
    """`ensure_tls_material`, run in a short-lived forked child where this process may
    fork (no other thread): checking or issuing the certificates runs X.509 and key
    code of OpenSSL and cryptography that no worker runs, so the supervisor never
    holds its pages (about 2 MB measured). The child's failure to check is run again
    here, for the error as it is."""
    from broker.runtime.tls import TlsConfigError, TlsMaterial, ensure_tls_material
    args = (data_dir, names, cert_file, key_file)
    if not hasattr(os, "fork") or threading.active_count() > 1:
        return ensure_tls_material(*args)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                     # the child: answers on the pipe, never returns
        code, out = 0, {}
        try:
            os.close(r)
            m = ensure_tls_material(*args)
            out = {"ca_cert": str(m.ca_cert), "cert": str(m.cert), "key": str(m.key)}
        except TlsConfigError as exc:
            code, out = 1, {"error": str(exc)}
        except BaseException:
            code = 2
        finally:
            try:
                os.write(w, json.dumps(out).encode())
            finally:
                os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        doc = json.loads(f.read() or b"{}")
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) == 1 and "error" in doc:
        raise TlsConfigError(doc["error"])
    if os.waitstatus_to_exitcode(status) != 0 or "cert" not in doc:
        return ensure_tls_material(*args)
    return TlsMaterial(Path(doc["ca_cert"]), Path(doc["cert"]), Path(doc["key"]))


class Supervisor:
    def __init__(self, config: Config, listeners: list[ListenerSpec], worker_cmd: list[str], forker=None):
        self.forker = forker      # broker.runtime.zygote.Forker: forks workers; None: exec them
        self.config = config
        self.listeners = listeners
        self.worker_cmd = worker_cmd
        self.procs: list[Proc] = []
        self.stopping = False
        self.single = False       # server.single_worker: shard 0 and gateway 0 share one process
        self.notifier = Notifier()
        self.started = time.time()
        self.ready = False

    # -- control socket ---------------------------------------------------
    def _control_handler(self):
        sup = self

        class H(ipc.Handler):
            def on_request(self, conn, rid, op, args):
                if op == "hello":
                    p = sup._proc(args.get("role"), args.get("index"))
                    if p is not None:
                        p.conn = conn
                    conn.reply(rid, {"ok": True})
                elif op in ("listener.open", "listener.close"):
                    asyncio.get_running_loop().create_task(sup._listener_op(conn, rid, op, args))
                elif op == "listeners":
                    conn.reply(rid, list(sup.listener_table.records.values()))
                elif op == "ready":
                    p = sup._proc(args["role"], args["index"])
                    if p is not None:
                        p.state = "running"
                        p.ready.set()
                    conn.reply(rid, {"ok": True})
                elif op == "processes":
                    conn.reply(rid, [{"role": "supervisor", "index": 0, "pid": os.getpid(),
                                      "state": "running", "restarts": 0,
                                      "uptime": round(time.time() - sup.started, 3)}]
                               + [p.info() for p in sup.procs])
                elif op == "secrets":      # over the 0600 socket in the 0700 run dir, never on disk
                    conn.reply(rid, sup.config.secrets())
                elif op == "endpoints":
                    conn.reply(rid, sup.endpoints())
                else:
                    conn.reply_error(rid, "InternalFailure", f"unknown control op {op}", 500, False)
        return H()

    def endpoints(self) -> dict:
        return {**self.run.endpoints, **self.listener_table.endpoints()}

    def _write_endpoints(self) -> None:
        if self.ready:
            write_public(self.endpoints_path, (json.dumps(self.endpoints(), indent=2) + "\n").encode())

    async def _listener_op(self, conn, rid, op, args) -> None:
        """Open or close a runtime listener on every running gateway, then answer."""
        from broker.runtime.listeners import ListenerError
        try:
            if op == "listener.open":
                rec = self.listener_table.allocate(args)
                calls = [p.conn.call_nowait("listener.open", rec) for p in self._gateways()]
            else:
                rec = self.listener_table.release(args["name"])
                calls = [p.conn.call_nowait("listener.close", {"name": args["name"]}) for p in self._gateways()]
            results = await asyncio.gather(*calls, return_exceptions=True)
            for r in results:
                if isinstance(r, Exception) and not isinstance(r, ipc.ConnectionLost):
                    raise r    # a gateway could not bind: report, keep the record (retried on restart)
            self._write_endpoints()
            log.info("event=%s name=%s port=%s", op.replace(".", "_"), args.get("name"),
                     rec.get("port") if rec else None)
            conn.reply(rid, rec)
        except (ListenerError, OSError) as exc:
            conn.reply_error(rid, "ListenerError", str(exc), 400, True)
        except Exception as exc:
            log.exception("event=listener_op_failed op=%s", op)
            conn.reply_error(rid, "InternalFailure", str(exc), 500, False)

    def _gateways(self) -> list[Proc]:
        return [p for p in self.procs if p.role == "gateway" and p.conn is not None and not p.conn.closed
                and p.state == "running"]

    def _proc(self, role, index) -> Proc | None:
        for p in self.procs:
            if p.role == role and p.index == index:
                return p
        return None

    # -- children ---------------------------------------------------------
    async def _spawn(self, p: Proc) -> None:
        together = [p]
        role = p.role
        if self.single:               # the shard's process is the gateway's too
            role = "worker"
            together.append(self._proc("gateway", 0))
        for q in together:
            q.ready.clear()
            q.state = "starting"
            q.process = None
        if self.forker is not None:
            try:
                p.process = await self.forker.spawn(role, p.index, self.run_path)
            except OSError as exc:
                log.warning("event=fork_failed role=%s index=%d error=%s action=exec", role, p.index, exc)
        if p.process is None:
            p.process = await asyncio.create_subprocess_exec(
                *self.worker_cmd, role, str(p.index), self.run_path, stdin=asyncio.subprocess.DEVNULL)
        for q in together:
            q.process, q.pid, q.started_at = p.process, p.process.pid, time.time()
        asyncio.get_running_loop().create_task(self._watch(p, p.process))

    async def _watch(self, p: Proc, process) -> None:
        rc = await process.wait()
        if self.stopping or process is not p.process:
            p.state = "stopped"
            return
        for q in [p, self._proc("gateway", 0)] if self.single else [p]:
            q.state = "restarting"
            q.restarts += 1
        lived = time.time() - p.started_at
        log.warning("event=worker_died role=%s index=%d pid=%s rc=%s lived=%.1fs action=restart",
                    p.role, p.index, p.pid, rc, lived)
        self.notifier.status(f"restarting {p.role} {p.index}")
        if lived < 1.0:
            await asyncio.sleep(min(5.0, 0.2 * p.restarts))
        if not self.stopping:
            await self._spawn(p)

    async def _wait_ready(self, procs: list[Proc], timeout: float) -> None:
        waits = [asyncio.ensure_future(p.ready.wait()) for p in procs]
        done, pending = await asyncio.wait(waits, timeout=timeout)
        for w in pending:
            w.cancel()
        if pending:
            late = [f"{p.role}-{p.index}" for p in procs if not p.ready.is_set()]
            raise RuntimeError(f"workers not ready after {timeout}s: {', '.join(late)}")

    # -- main -------------------------------------------------------------
    async def main(self) -> int:
        cfg = self.config
        data_dir = Path(cfg["server.data_dir"] or default_data_dir()).expanduser().resolve()
        dd = open_data_dir(data_dir, cfg["store.partitions"], cfg["security.master_key"],
                           cfg["security.master_key_file"])
        if dd.partitions != cfg["store.partitions"]:
            log.info("event=partitions_fixed configured=%d data_dir=%d", cfg["store.partitions"], dd.partitions)
        try:
            dd.endpoints_path.unlink()
        except FileNotFoundError:
            pass
        tls = tls_material(dd.root, cfg["tls.names"], cfg["tls.cert_file"] or None, cfg["tls.key_file"] or None)
        cpus = os.cpu_count() or 1
        shards = cfg["server.shards"] or cpus
        workers = cfg["server.workers"] or cpus
        self.single = bool(cfg["server.single_worker"]) and shards == 1 and workers == 1
        _replay_stale_redo(dd, shards, cfg["store.durability"])
        host = cfg["server.host"]
        free = cfg["listeners.free_ports"]
        self._reserved: list[socket.socket] = []
        ports: dict[str, int] = {}
        endpoints: dict[str, str] = {}
        for spec in self.listeners:
            port = int(cfg[spec.port_key])
            if port == 0 and not spec.enabled_when_port_zero:
                continue
            sock = reserve_port(host, 0 if free else port)
            self._reserved.append(sock)
            port = sock.getsockname()[1]
            ports[spec.name] = port
            endpoints[spec.name] = f"{spec.scheme}://{_url_host(host)}:{port}"
            if spec.tls == "sniff" and spec.tls_name:
                endpoints[spec.tls_name] = f"{spec.tls_scheme}://{_url_host(host)}:{port}"
        from broker.runtime.listeners import ListenerTable
        self.listener_table = ListenerTable(dd.root / "listeners.json", host, cfg["listeners.port_range"], free,
                                            reserve_port, _url_host(host))
        self.listener_table.reserve_all()
        self.endpoints_path = dd.endpoints_path
        run_dir = dd.root / "run"
        if len(str(run_dir)) + 20 > UNIX_PATH_MAX:
            run_dir = Path(tempfile.mkdtemp(prefix="broker-"))
        run_dir.mkdir(exist_ok=True, mode=0o700)
        os.chmod(run_dir, 0o700)
        self.run_dir = run_dir
        self.run = RunInfo(
            data_dir=str(dd.root), run_dir=str(run_dir), shards=shards, workers=workers,
            partitions=dd.partitions, durability=cfg["store.durability"], host=host, ports=ports,
            config=cfg.public_dict(), tls={"ca_cert": str(tls.ca_cert), "cert": str(tls.cert), "key": str(tls.key)},
            endpoints=endpoints)
        self.run_path = str(run_dir / "run.json")
        self.run.save(Path(self.run_path))
        control = await ipc.serve(self.run.control_socket, self._control_handler)
        loop = asyncio.get_running_loop()
        if self.forker is not None:
            self.forker.attach(loop)
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        self.notifier.status(f"starting {shards} shards")
        log.info("event=starting data_dir=%s shards=%d workers=%d partitions=%d durability=%s single_worker=%s",
                 dd.root, shards, workers, dd.partitions, self.run.durability, self.single)
        shard_procs = [Proc("shard", k) for k in range(shards)]
        gw_procs = [Proc("gateway", i) for i in range(workers)]
        self.procs = shard_procs + gw_procs
        try:
            for p in shard_procs:
                await self._spawn(p)
            # Gateways are forked once the shards are up: a forked gateway is ready
            # within milliseconds, while one started earlier polls for the shards'
            # sockets with a back-off and competes with their recovery for the CPUs.
            await self._wait_or_stop(self._wait_ready(shard_procs, 120.0), stop)
            self.notifier.status(f"starting {workers} gateways")
            for p in gw_procs:
                if p.process is None:
                    await self._spawn(p)
            await self._wait_or_stop(self._wait_ready(gw_procs, 60.0), stop)
        except _Stopped:
            await self._drain(control)
            return 0
        except RuntimeError as exc:
            log.error("event=start_failed error=%s", exc)
            self.stopping = True
            await self._drain(control)
            return 1
        self.ready = True
        self._write_endpoints()
        log.info("event=ready endpoints=%s", json.dumps(self.endpoints()))
        self.notifier.ready(status=f"ready: {workers} gateways, {shards} shards, " +
                            ", ".join(f"{k} {v}" for k, v in endpoints.items()))
        wd = self.notifier.watchdog_interval()
        wd_task = loop.create_task(self._watchdog(wd)) if wd else None
        await stop.wait()
        if wd_task:
            wd_task.cancel()
        await self._drain(control)
        try:
            dd.endpoints_path.unlink()
        except FileNotFoundError:
            pass
        return 0

    async def _wait_or_stop(self, coro, stop: asyncio.Event) -> None:
        task = asyncio.ensure_future(coro)
        stopper = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            stopper.cancel()
            task.result()
            return
        task.cancel()
        raise _Stopped()

    async def _watchdog(self, interval: float) -> None:
        while True:
            self.notifier.watchdog()
            await asyncio.sleep(interval)

    async def _drain(self, control) -> None:
        self.stopping = True
        self.notifier.stopping()
        self.notifier.status("draining")
        budget = float(self.config["server.drain_timeout"])
        t0 = time.monotonic()
        log.info("event=draining")
        await self._stop_role("gateway", budget * 0.75)
        await self._stop_role("shard", max(1.0, budget - (time.monotonic() - t0)))
        control.close()
        if self.forker is not None:
            self.forker.close()
        for s in self._reserved:
            s.close()
        self.listener_table.close()
        for leftover in [getattr(self, "run_path", None), *(str(p) for p in Path(self.run_dir).glob("*.sock"))]:
            try:
                if leftover:
                    os.unlink(leftover)
            except FileNotFoundError:
                pass
        if self.run_dir.name.startswith("broker-") and self.run_dir.parent == Path(tempfile.gettempdir()):
            shutil.rmtree(self.run_dir, ignore_errors=True)
        log.info("event=stopped seconds=%.2f", time.monotonic() - t0)

    async def _stop_role(self, role: str, timeout: float) -> None:
        procs = [p for p in self.procs if p.role == role and p.process and p.process.returncode is None]
        for p in procs:
            try:
                p.process.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        waits = [asyncio.ensure_future(p.process.wait()) for p in procs]
        if waits:
            _, pending = await asyncio.wait(waits, timeout=timeout)
            for p in procs:
                if p.process.returncode is None:
                    log.warning("event=worker_kill role=%s index=%d reason=drain_timeout", p.role, p.index)
                    p.process.kill()
            if pending:
                await asyncio.wait(pending, timeout=2.0)


class _Stopped(Exception):
    pass


def _replay_stale_redo(dd, shards: int, durability: str) -> None:
    """Redo logs of another shard count or durability (broker.core.redo) are replayed
    here, before any shard opens its partitions; the store is loaded only if one exists."""
    if not any(dd.partitions_dir.glob("redo-*-of-*.log")):
        return
    from broker.core.redo import replay_stale
    from broker.core.store import SqlitePartitionStore

    def open_partition(p: int, entries):
        return SqlitePartitionStore(dd.partition_path(p), p, dd.master, "fsync", entries)
    replay_stale(dd.partitions_dir, shards, durability, open_partition)


def run(config: Config, listeners: list[ListenerSpec], worker_cmd: list[str], forker=None) -> int:
    # Everything the server writes is private unless written public on purpose
    # (endpoints.json, the CA certificate): stores, keys, run files.
    os.umask(0o077)
    return asyncio.run(Supervisor(config, listeners, worker_cmd, forker).main())
