"""`broker` command line, and the one composition point of the product.

`serve` (and the hidden `_worker` it spawns) is the only place that imports
both the runtime and the protocols/services, and hands the latter to the
former (ARCHITECTURE.md, "Layout").
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from broker import __version__
from broker.runtime.config import SCHEMA, ConfigError, default_data_dir, load

# Wire front-ends: each module offers `listeners()`, `gateway_setup(gateway)`,
# and optionally `PROTOCOLS` (runtime-listener factories) and `CONFIG_KEYS`.
# A listener's protocol factory is built on its first connection (gateway.py),
# so a front-end's modules are imported only by a gateway that serves one.
FRONTENDS = ["protocols.http.listener", "protocols.smtp.listener", "protocols.amqp.listener",
             "protocols.lambda_runtime.listener", "protocols.mwaa_web.listener",
             "protocols.mqtt.listener"]

# flag -> config key; every flag is documented by `broker serve --help`.
SERVE_FLAGS = [
    ("--data-dir", "server.data_dir", str, "data directory (default: $STATE_DIRECTORY under systemd, "
                                            "else ~/.local/share/broker)"),
    ("--workers", "server.workers", int, "gateway processes W (default: CPU count)"),
    ("--shards", "server.shards", int, "core shard processes K (default: CPU count)"),
    ("--single-worker", "server.single_worker", str, "with --workers 1 --shards 1, one worker process "
                                                     "runs both (default true; false: two processes)"),
    ("--host", "server.host", str, "address every listener binds to (default 127.0.0.1)"),
    ("--http-port", "listeners.http_port", int, "AWS gateway port, HTTP and TLS (default 4566)"),
    ("--https-port", "listeners.https_port", int, "optional HTTPS-only port (default 0: off)"),
    ("--durability", "store.durability", str, "fsync | process | memory (default process)"),
    ("--partitions", "store.partitions", int, "partition count of a new data directory (default 16)"),
    ("--log-level", "server.log_level", str, "debug | info | warning | error (default info)"),
]


def _frontends():
    import importlib
    return [importlib.import_module(name) for name in FRONTENDS]


def schema() -> tuple:
    """Every config key: the runtime's, then each front-end's and service's."""
    from services.registry import config_keys
    out = tuple(SCHEMA)
    for fe in _frontends():
        out += tuple(getattr(fe, "CONFIG_KEYS", ()))
    return out + config_keys()


def _listeners() -> list:
    """The listeners the supervisor reserves ports for (front-end modules only)."""
    out = []
    for fe in _frontends():
        out.extend(fe.listeners())
    return out


def plugins(shard: bool = True):
    """Compose the product: protocols and services handed to the runtime."""
    from broker.runtime.plugins import Plugins
    from services.registry import process_hooks, shard_services
    composed = Plugins(services=shard_services() if shard else [], process_hooks=process_hooks())
    for fe in _frontends():
        composed.listeners.extend(fe.listeners())
        composed.gateway_hooks.append(fe.gateway_setup)
        composed.protocols.update(getattr(fe, "PROTOCOLS", {}))
    return composed


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="broker", description="Self-hosted broker for AWS application-integration "
                                "wire protocols (SQS, SNS, KMS, ...).")
    p.add_argument("--version", action="version", version=f"broker {__version__}")
    sub = p.add_subparsers(dest="command")
    keys = "\n".join(f"  {k.dotted:28} {k.env:34} default {k.default!r}" for k in schema())
    serve = sub.add_parser(
        "serve", help="run the server (supervisor, gateways, shards)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run the server: a supervisor, W gateway processes and K core shard processes.\n"
                    "Configuration: defaults < --config FILE (TOML) < BROKER_* environment < flags.\n"
                    "When ready, <data-dir>/endpoints.json lists one URL per listener.",
        epilog="config keys (TOML section.key, environment variable):\n" + keys)
    serve.add_argument("--config", metavar="FILE", help="TOML configuration file")
    for flag, key, typ, help_ in SERVE_FLAGS:
        serve.add_argument(flag, dest=key, type=typ, metavar=flag[2:].upper().replace("-", "_"), help=help_)
    serve.add_argument("--free-ports", dest="listeners.free_ports", action="store_true", default=None,
                       help="put every listener on a free port (see endpoints.json)")
    ca = sub.add_parser("ca-cert", help="print the local CA certificate (PEM) that clients can trust")
    ca.add_argument("--data-dir", dest="data_dir", help="data directory (default as for serve)")
    ca.add_argument("--config", metavar="FILE", help="TOML configuration file")
    from broker.commands import aws, env, run
    env.add_parser(sub)
    run.add_parser(sub, SERVE_FLAGS)
    aws.add_parser(sub)
    w = sub.add_parser("_worker", help=argparse.SUPPRESS)
    w.add_argument("role", choices=("shard", "gateway", "worker"))
    w.add_argument("index", type=int)
    w.add_argument("run")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["aws"]:      # everything after it is the AWS CLI's
        from broker.commands import aws
        return aws.main(argv[1:])
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "ca-cert":
        return _ca_cert(args)
    if args.command == "_worker":
        return _worker(args)
    if args.command == "env":
        from broker.commands import env
        return env.main(args)
    if args.command == "run":
        from broker.commands import run
        return run.main(args, SERVE_FLAGS)
    _parser().print_help()
    return 2


def _serve(args) -> int:
    overrides = {key: getattr(args, key) for _, key, _, _ in SERVE_FLAGS}
    overrides["listeners.free_ports"] = getattr(args, "listeners.free_ports")
    try:
        config = load(args.config, overrides=overrides, schema=schema())
    except ConfigError as exc:
        print(f"broker: config error: {exc}", file=sys.stderr)
        return 2
    from broker.runtime.worker import install_uvloop, malloc_trim, setup_logging
    setup_logging(config["server.log_level"], "supervisor")
    # Everything the server writes is private unless written public on purpose
    # (endpoints.json, the CA certificate); set before any worker is forked.
    os.umask(0o077)
    import uvloop  # noqa: F401  (imported before the fork: pages shared with every worker)
    from broker.runtime import datadir, supervisor, tls, zygote  # noqa: F401
    listeners = _listeners()
    # Workers are forked from this process (shared pages, fork-fast restarts;
    # broker/runtime/zygote.py). What they need is imported here, before the
    # fork, so the supervisor and every worker share those pages.
    _preload(config)
    import gc
    gc.collect()
    gc.freeze()          # no later collection writes to these objects' pages
    malloc_trim()        # before the fork: what importing freed need not stay resident
    forker = zygote.start(_run_worker)
    install_uvloop()
    try:
        return supervisor.run(config, listeners, [sys.executable, "-m", "broker", "_worker"], forker)
    except Exception as exc:  # startup problems: data dir, keys, ports
        from broker.runtime.datadir import DataDirError
        from broker.runtime.tls import TlsConfigError
        if isinstance(exc, (DataDirError, TlsConfigError, OSError)):
            print(f"broker: {exc}", file=sys.stderr)
            return 1
        raise


def _ca_cert(args) -> int:
    try:
        config = load(args.config, overrides={"server.data_dir": args.data_dir}, schema=schema())
    except ConfigError as exc:
        print(f"broker: config error: {exc}", file=sys.stderr)
        return 2
    from broker.runtime.tls import ca_pem
    data_dir = Path(config["server.data_dir"] or default_data_dir()).expanduser()
    try:
        sys.stdout.write(ca_pem(data_dir))
    except FileNotFoundError as exc:
        print(f"broker: {exc}", file=sys.stderr)
        return 1
    return 0


def _worker(args) -> int:
    return _run_worker(args.role, args.index, args.run)


def _run_worker(role: str, index: int, run_path: str) -> int:
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)    # Ctrl-C: the supervisor drains us in order
    from broker.runtime.runinfo import RunInfo
    from broker.runtime.worker import install_uvloop, setup_logging
    run = RunInfo.load(run_path)
    setup_logging(run.config.get("server.log_level", "info"), f"{role}-{index}")
    install_uvloop()
    # composed before the fork (_preload) when forked: building it again writes to shared pages
    if role == "worker":            # server.single_worker: the shard and the gateway in this process
        from broker.runtime import single
        return single.run(run, _COMPOSED.get(True) or plugins(shard=True),
                          _COMPOSED.get(False) or plugins(shard=False))
    composed = _COMPOSED.get(role == "shard") or plugins(shard=role == "shard")
    if role == "shard":
        from broker.runtime import shard
        return shard.run(run, index, composed)
    from broker.runtime import gateway
    return gateway.run(run, index, composed)


PRELOADED_SERVICES = ("sqs",)
_COMPOSED: dict = {}     # shard role? -> the product as composed before the fork (_preload)
# What every worker imports as it starts, whatever it serves: the listener table,
# the monitoring hooks (request observer, Prometheus relay, CloudTrail selectors)
# and the shard halves that telemetry reaches within a second (CloudWatch's
# metric owner, CloudTrail's selectors). An import after the fork costs each
# worker its own copy and more: it grows interpreter-wide tables (interned names,
# sys.modules), unsharing them; about 9 MB a worker, measured.
STARTUP_IMPORTS = (
    "resource", "broker.runtime.listeners",
    "services.cloudwatch.observe", "services.cloudwatch.prometheus", "services.cloudwatch.gauges",
    "services.cloudwatch.shard", "services.cloudtrail.record", "services.cloudtrail.selectors",
    "services.cloudtrail.shard",
)


def _preload(config=None) -> None:
    """What workers need, imported in the supervisor before it forks them."""
    import importlib

    import uvloop  # noqa: F401
    from broker.runtime import edge, gateway, routing, shard, single, sinks  # noqa: F401
    _COMPOSED[True], _COMPOSED[False] = plugins(shard=True), plugins(shard=False)
    from services.registry import SERVICES, load_ref
    # The services nearly every user touches; every other service is imported
    # by the worker that first serves it, so an idle server holds none of it.
    for s in SERVICES:
        if s.name in PRELOADED_SERVICES:
            for ref in (s.api, s.shard):
                if ref:
                    load_ref(ref)
    from protocols.http import app, server  # noqa: F401
    from protocols.http.codec import get_service_codec
    from protocols.http.router import ServiceRouter
    from services.registry import KNOWN_SERVICES
    ServiceRouter(KNOWN_SERVICES)    # routing facts only (no service models)
    for name in PRELOADED_SERVICES:  # their models and every operation's codec, compiled once here
        codec = get_service_codec(name)  # rather than by each gateway's first call of it
        for protocol in codec.protocols:
            for op in sorted(codec.operation_names):
                codec.operation(protocol, op)
    for name in STARTUP_IMPORTS:
        importlib.import_module(name)
    if config is not None and config.get("aws.credentials") and config.get("iam.enforce", True):
        importlib.import_module("services.iam.authorizer")     # every gateway's, when IAM is enforced
    _warm_openssl()


def _warm_openssl() -> None:
    """OpenSSL's one-time set-up (providers, algorithm tables), done once here for every
    process: the first TLS context or AES-GCM seal in a forked process otherwise builds
    its own (measured: a gateway's TLS context 4 MB, a shard's first seal 1 MB). The
    certificate check runs in a child of its own (supervisor.tls_material), so the key
    and X.509 code is not warmed: no worker runs it at start."""
    import ssl

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)          # the ssl module's OpenSSL
    AESGCM(bytes(32)).encrypt(bytes(12), b"warm", None)   # cryptography's (its own copy)

if __name__ == "__main__":
    sys.exit(main())
