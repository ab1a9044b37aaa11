"""GET /_broker/metrics: Prometheus text exposition for the whole server.

A scrape reaches one gateway. It renders its own process metrics, asks each
shard for its own (one IPC call per shard, in parallel), and adds the other
gateways' snapshots, which every gateway pushes to the relay partition (0)
every RELAY_INTERVAL seconds when there is more than one gateway. Every
sample carries a ``process`` label (``gateway-0``, ``shard-1``...); sum over
it in PromQL for server-wide figures.

Families: the broker's own (``broker_*``: requests by service and operation,
request latency, group-commit durations and sizes, queue depths, IPC
counters), the standard ``process_*`` ones, and every AWS metric this server
emitted (``aws_<namespace>_<metric>[_<unit>]`` summaries: ``_sum`` and
``_count`` since the process started; labels account, region and the
dimensions in snake_case).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import resource
import time

from broker.runtime import telemetry

log = logging.getLogger("broker.cloudwatch")

PATH = "/_broker/metrics"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
RELAY_PARTITION = 0
RELAY_INTERVAL = 2.0
GATHER_TIMEOUT = 2.0

HELP = {
    "broker_requests_total": "AWS API requests handled by the gateway, by service, operation and HTTP status.",
    "broker_request_duration_seconds": "AWS API request latency at the gateway, by service and operation.",
    "broker_group_commit_duration_seconds": "Duration of a shard's group commit (all partitions of one tick).",
    "broker_group_commit_requests": "Requests handled per group commit (batch size).",
    "broker_queue_messages": "Messages in a queue, by state (visible, inflight, delayed).",
    "broker_ipc_requests_total": "IPC operations a shard has handled.",
    "broker_commits_total": "Partition store commits a shard has made.",
    "broker_ipc_reconnects_total": "Connections this process opened to shards (1 per shard when healthy).",
    "broker_http_connections": "Open client connections on a gateway.",
    "broker_telemetry_dropped_total": "Audit events or trace segments dropped because a second's queue was full.",
    "broker_telemetry_ship_failures_total": "Telemetry batches that could not be shipped to their owner.",
    "process_resident_memory_bytes": "Resident memory size in bytes.",
    "process_cpu_seconds_total": "Total user and system CPU time spent in seconds.",
    "process_start_time_seconds": "Start time of the process since unix epoch in seconds.",
    "process_open_fds": "Number of open file descriptors.",
}

_UNIT_SUFFIX = {"Seconds": ("_seconds", 1.0), "Milliseconds": ("_seconds", 0.001),
                "Microseconds": ("_seconds", 1e-6), "Bytes": ("_bytes", 1.0), "Kilobytes": ("_bytes", 1e3),
                "Megabytes": ("_bytes", 1e6), "Gigabytes": ("_bytes", 1e9), "Terabytes": ("_bytes", 1e12)}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_BAD = re.compile(r"[^a-zA-Z0-9_]")
_STARTED = time.time()


def snake(text: str) -> str:
    s = _CAMEL.sub("_", text.replace("/", "_").replace(".", "_").replace("-", "_"))
    s = _BAD.sub("_", s).lower()
    s = re.sub(r"_+", "_", s).strip("_")
    return s if s and not s[0].isdigit() else "_" + s


def _escape(v) -> str:
    return str(v).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _fmt(v: float) -> str:
    if v != v:
        return "NaN"
    if v in (float("inf"), float("-inf")):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v))


def snapshot(host=None) -> dict:
    """This process's metrics (telemetry, plus process and host counters)."""
    snap = telemetry.TELEMETRY.process_metrics()
    snap["pid"] = os.getpid()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    gauges = snap["gauges"]
    counters = snap["counters"]
    try:
        with open("/proc/self/statm") as f:
            rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        rss = ru.ru_maxrss * 1024
    gauges.append(["process_resident_memory_bytes", [], float(rss)])
    gauges.append(["process_start_time_seconds", [], _STARTED])
    try:
        gauges.append(["process_open_fds", [], float(len(os.listdir("/proc/self/fd")))])
    except OSError:
        pass
    counters.append(["process_cpu_seconds_total", [], ru.ru_utime + ru.ru_stime])
    if host is not None:
        if hasattr(host, "requests"):
            counters.append(["broker_ipc_requests_total", [], float(host.requests)])
            counters.append(["broker_commits_total", [], float(host.commits)])
        if hasattr(host, "connections"):
            gauges.append(["broker_http_connections", [], float(len(host.connections))])
        cluster = getattr(host, "cluster", None)
        if cluster is not None:
            counters.append(["broker_ipc_reconnects_total", [],
                             float(sum(link.connects for link in cluster.links))])
    return snap


class _Families:
    def __init__(self):
        self.fam: dict[str, list] = {}       # name -> [type, help, [(sample name, labels, value)]]

    def add(self, name, kind, labels: list, value, sample=None, help_=None):
        f = self.fam.get(name)
        if f is None:
            f = self.fam[name] = [kind, help_ or HELP.get(name) or name.replace("_", " "), []]
        f[2].append((sample or name, labels, value))

    def render(self) -> bytes:
        out = []
        for name in sorted(self.fam):
            kind, help_, samples = self.fam[name]
            out.append(f"# HELP {name} {_escape(help_)}")
            out.append(f"# TYPE {name} {kind}")
            for sample, labels, value in samples:
                lab = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
                out.append(f"{sample}{{{lab}}} {_fmt(value)}" if lab else f"{sample} {_fmt(value)}")
        return ("\n".join(out) + "\n").encode()


def render(snapshots: list[tuple[str, dict]]) -> bytes:
    fam = _Families()
    for process, snap in snapshots:
        base = [("process", process)]
        for name, labels, value in snap.get("counters", []):
            fam.add(name, "counter", [tuple(x) for x in labels] + base, value)
        for name, labels, value in snap.get("gauges", []):
            fam.add(name, "gauge", [tuple(x) for x in labels] + base, value)
        for entry in snap.get("histograms", []):
            name, labels, buckets, total, count = entry[:5]
            bounds = entry[5] if len(entry) > 5 else telemetry.BUCKETS
            lab = [tuple(x) for x in labels] + base
            acc = 0
            for bound, n in zip(list(bounds) + ["+Inf"], buckets):
                acc += n
                le = bound if bound == "+Inf" else _fmt(float(bound))
                fam.add(name, "histogram", lab + [("le", le)], acc, sample=name + "_bucket")
            fam.add(name, "histogram", lab, total, sample=name + "_sum")
            fam.add(name, "histogram", lab, count, sample=name + "_count")
        for account, region, ns, metric, dims, unit, count, total in snap.get("aws", []):
            suffix, scale = _UNIT_SUFFIX.get(unit, ("", 1.0))
            name = f"{snake(ns)}_{snake(metric)}{suffix}"
            if not name.startswith("aws_"):
                name = "aws_" + name
            lab = [("account", account), ("region", region)] + [(snake(k), v) for k, v in dims] + base
            help_ = f"CloudWatch metric {ns} {metric} ({unit}) emitted by this server: sum and sample count."
            fam.add(name, "summary", lab, total * scale, sample=name + "_sum", help_=help_)
            fam.add(name, "summary", lab, count, sample=name + "_count", help_=help_)
    return fam.render()


_SHARD_COUNTERS = ("broker_ipc_requests_total", "broker_commits_total")


def _first_partition(shard: int, shards: int, partitions: int) -> int:
    return shard if shard < partitions else next(p for p in range(partitions) if p % shards == shard)


async def gather(gateway) -> list[tuple[str, dict]]:
    run = gateway.run
    out = [(f"gateway-{gateway.index}", snapshot(gateway))]

    async def ask(k: int):
        p = _first_partition(k, run.shards, run.partitions)
        return k, await asyncio.wait_for(gateway.cluster.call_partition(p, "cloudwatch.ProcessMetrics", {}),
                                         GATHER_TIMEOUT)
    results = await asyncio.gather(*(ask(k) for k in range(run.shards)), return_exceptions=True)
    for r in results:
        if isinstance(r, Exception):
            log.info("event=metrics_gather_failed error=%s", r)
            continue
        k, doc = r
        own = doc["self"]
        if own.get("pid") == os.getpid():   # server.single_worker: this process is the shard too,
            own = {"counters": [c for c in own["counters"] if c[0] in _SHARD_COUNTERS]}   # counted once
        out.append((f"shard-{k}", own))
        for relayed in doc.get("relayed") or []:
            if relayed.get("index") != gateway.index and time.time() - relayed.get("at", 0) < 60:
                out.append((f"gateway-{relayed['index']}", relayed["snapshot"]))
    return out


async def handle(gateway, method, path, query, headers, body):
    if path.rstrip("/") != PATH:
        return None
    if method not in ("GET", "HEAD"):
        return 405, "text/plain", b"use GET\n"
    return 200, CONTENT_TYPE, render(await gather(gateway))


def start_relay(gateway) -> None:
    """With several gateways, each pushes its snapshot to the relay partition (a scrape
    reaching any gateway then sees all of them)."""
    if gateway.run.workers <= 1:
        return

    async def loop():
        while True:
            await asyncio.sleep(RELAY_INTERVAL)
            try:
                await gateway.cluster.call_partition(RELAY_PARTITION, "cloudwatch.RelayProcessMetrics", {
                    "index": gateway.index, "snapshot": {"index": gateway.index, "at": time.time(),
                                                         "snapshot": snapshot(gateway)}})
            except Exception as exc:
                log.debug("event=metrics_relay_failed error=%s", exc)
    gateway.loop.create_task(loop())
