"""`broker aws ARGS...`: the AWS CLI pointed at the running server (LocalStack's `awslocal`).

    broker aws sqs create-queue --queue-name orders
    broker aws --data-dir /srv/broker sqs list-queues
    AWS_ACCESS_KEY_ID=111122223333 broker aws sqs list-queues    # dev mode: that account

Runs the `aws` on PATH (else the one beside this Python) with the server's
endpoint, credentials and region. The endpoint is passed as
``--endpoint-url`` as well as in the environment: the AWS CLI v1 ignores
``AWS_ENDPOINT_URL`` for SQS (it sends to queue.amazonaws.com). Credentials
and region already in the environment are kept (so a 12-digit access key
picks its account in dev mode); the endpoint always points here.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from broker.commands import env as envcmd

OWN_OPTIONS = ("--data-dir", "--config", "--url")
KEEP_IF_SET = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION")


def split_args(argv: list[str]) -> tuple[dict, list[str]]:
    """Our own leading options (before the AWS CLI's arguments), and the rest."""
    own: dict[str, str] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            i += 1
            break
        name, eq, value = arg.partition("=")
        if name not in OWN_OPTIONS:
            break
        if not eq:
            if i + 1 >= len(argv):
                raise ValueError(f"{name} needs a value")
            value = argv[i + 1]
            i += 1
        own[name[2:].replace("-", "_")] = value
        i += 1
    return own, argv[i:]


def aws_executable() -> str | None:
    found = shutil.which("aws")
    if found:
        return found
    beside = Path(sys.executable).parent / "aws"
    return str(beside) if beside.exists() else None


def command(argv: list[str], environ: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """The AWS CLI command line and environment for `broker aws ARGV`."""
    own, rest = split_args(argv)
    config = envcmd.load_config(own.get("config"), own.get("data_dir"))
    try:
        endpoints, dd = envcmd.locate(config, own.get("url"))
    except envcmd.NotRunning:
        if own.get("data_dir") or not environ.get("AWS_ENDPOINT_URL"):
            raise
        endpoints, dd = envcmd.remote_endpoints(environ["AWS_ENDPOINT_URL"]), None   # after `eval "$(broker env)"`
    ours = envcmd.client_env(endpoints, config, dd)
    env = dict(environ)
    for k, v in ours.items():
        if k in KEEP_IF_SET and environ.get(k):
            continue
        env[k] = v
    exe = aws_executable()
    if exe is None:
        raise FileNotFoundError("no `aws` command on PATH or beside this Python (pip install awscli)")
    if any(a == "--endpoint-url" or a.startswith("--endpoint-url=") for a in rest):
        return [exe, *rest], env
    return [exe, "--endpoint-url", ours["AWS_ENDPOINT_URL"], *rest], env


def main(argv: list[str]) -> int:
    from broker.runtime.config import ConfigError
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__.strip())
        return 0
    try:
        cmd, env = command(argv, dict(os.environ))
    except ConfigError as exc:
        print(f"broker: config error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"broker aws: {exc}", file=sys.stderr)
        return 2
    except (envcmd.NotRunning, FileNotFoundError) as exc:
        print(f"broker aws: {exc}", file=sys.stderr)
        return 1
    sys.stdout.flush()
    os.execve(cmd[0], cmd, env)
    return 127   # not reached


def add_parser(sub) -> None:
    sub.add_parser("aws", help="the AWS CLI pointed at the running server: broker aws [--data-dir D] ARGS...",
                   add_help=False)
