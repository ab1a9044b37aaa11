"""`broker env`: what clients need to reach a running server, as environment variables.

    eval "$(broker env)"                      # bash/zsh
    broker env --format dotenv > .env         # docker-compose env_file, IDEs
    broker env --format json

The AWS part uses the SDKs' own names (`AWS_ENDPOINT_URL`, and
`AWS_ENDPOINT_URL_<SERVICE>` from botocore's serviceId, uppercased with
spaces as underscores, for every service this build serves); the wire
listeners found in ``endpoints.json`` become ``BROKER_<NAME>_URL`` with the
default users in them, so a listener that lands later (MQTT) appears with
no change here.
"""

from __future__ import annotations

import json
import shlex
import sys
import urllib.request
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

DEV_ACCESS_KEY = DEV_SECRET_KEY = "test"
CA_FILE = ("tls", "ca.pem")
# endpoints.json keys that are the AWS gateway itself, not a wire listener
AWS_KEYS = ("http", "https", "https_only")
FORMATS = ("sh", "json", "dotenv")


class NotRunning(Exception):
    """No server answers where we looked (the message says where and what to do)."""


@lru_cache(maxsize=1)
def service_env_names() -> dict[str, str]:
    """Registry service name -> the SDKs' suffix of AWS_ENDPOINT_URL_<SERVICE>."""
    from botocore.loaders import Loader

    from services.registry import SERVICES
    loader, out = Loader(), {}
    for s in SERVICES:
        if not s.api:
            continue
        sid = loader.load_service_model(s.name, "service-2")["metadata"]["serviceId"]
        out[s.name] = sid.replace(" ", "_").upper()
    return out


def credentials(config) -> tuple[str, str]:
    """Dev mode (no configured credentials): test/test; else the first configured key."""
    creds = config.get("aws.credentials") or []
    if not creds:
        return DEV_ACCESS_KEY, DEV_SECRET_KEY
    return creds[0]["access_key"], creds[0]["secret_key"]


def _with_user(url: str, user: str, password: str, path: str | None = None) -> str:
    parts = urlsplit(url)
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{parts.netloc}"
    return urlunsplit((parts.scheme, netloc, path if path is not None else parts.path, parts.query, ""))


def _listener_url(name: str, url: str, config) -> str:
    """The URL of one wire listener as a client uses it: default users in, vhost named."""
    scheme = urlsplit(url).scheme
    if scheme in ("amqp", "amqps", "mqtt", "mqtts", "ws", "wss") and not name.endswith("_inbound"):
        users = config.get("mq.users") or []
        user, password = (users[0]["name"], users[0].get("password", "")) if users else ("guest", "guest")
        return _with_user(url, user, password, "/%2F" if scheme.startswith("amqp") else None)
    if scheme in ("smtp", "smtps") and not name.endswith("_inbound"):
        key, secret = credentials(config)
        if config.get("aws.credentials"):       # SES SMTP credentials: the key id and its SMTP password
            from services.ses.smtp import smtp_password
            secret = smtp_password(secret, config.get("aws.default_region", "us-east-1"))
        return _with_user(url, key, secret)
    return url


def env_name(listener: str) -> str:
    return "BROKER_" + "".join(c if c.isalnum() else "_" for c in listener).upper() + "_URL"


def client_env(endpoints: dict, config, data_dir: str | Path | None = None, tls: bool = False) -> dict[str, str]:
    """The environment clients need, from a server's endpoints and configuration."""
    ca = Path(data_dir, *CA_FILE) if data_dir else None
    ca = ca if ca is not None and ca.exists() else None
    if tls or "http" not in endpoints:
        aws_url = endpoints.get("https_only") or endpoints.get("https") or endpoints.get("http")
    else:
        aws_url = endpoints["http"]
    key, secret = credentials(config)
    region = config.get("aws.default_region", "us-east-1")
    env: dict[str, str] = {}
    if aws_url:
        env["AWS_ENDPOINT_URL"] = aws_url
        for suffix in service_env_names().values():
            env[f"AWS_ENDPOINT_URL_{suffix}"] = aws_url
    env.update({"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret,
                "AWS_REGION": region, "AWS_DEFAULT_REGION": region})
    if aws_url and aws_url.startswith("https:") and ca is not None:
        env["AWS_CA_BUNDLE"] = str(ca)
    for name, url in endpoints.items():
        if name not in AWS_KEYS:
            env[env_name(name)] = _listener_url(name, url, config)
    if ca is not None:
        env["BROKER_CA_BUNDLE"] = str(ca)
    return env


def render(env: dict[str, str], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(env, indent=2) + "\n"
    if fmt == "dotenv":   # docker-compose reads values literally: quote only what needs it
        return "".join(f"{k}={_dotenv(v)}\n" for k, v in env.items())
    return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())


def _dotenv(value: str) -> str:
    if value and all(c.isalnum() or c in "-_./:@%+=,~" for c in value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -- finding the server ---------------------------------------------------------------

def load_config(config_file: str | None = None, data_dir: str | None = None):
    from broker.cli import schema
    from broker.runtime.config import load
    return load(config_file, overrides={"server.data_dir": data_dir}, schema=schema())


def data_dir_of(config) -> Path:
    from broker.runtime.config import default_data_dir
    return Path(config["server.data_dir"] or default_data_dir()).expanduser()


def locate(config, url: str | None = None) -> tuple[dict, Path | None]:
    """(endpoints, data dir) of the server to talk to: at `url`, else the configured data dir's."""
    if url:
        return remote_endpoints(url), None
    dd = data_dir_of(config)
    path = dd / "endpoints.json"
    try:
        return json.loads(path.read_text()), dd
    except FileNotFoundError:
        raise NotRunning(f"no server running with data directory {dd} ({path} not found); start one with "
                         f"`broker serve --data-dir {dd}`, or name it with --data-dir or --url") from None


def remote_endpoints(url: str) -> dict:
    """A running server's endpoints from its /_broker/info (just `url` if it will not say)."""
    url = url.rstrip("/")
    try:
        with urllib.request.urlopen(url + "/_broker/info", timeout=5) as r:
            eps = dict(json.loads(r.read()).get("endpoints") or {})
    except (OSError, ValueError):
        eps = {}
    key = "https" if url.startswith("https:") else "http"
    eps[key] = url
    return eps


def main(args) -> int:
    from broker.runtime.config import ConfigError
    try:
        config = load_config(args.config, args.data_dir)
        endpoints, dd = locate(config, args.url)
    except ConfigError as exc:
        print(f"broker: config error: {exc}", file=sys.stderr)
        return 2
    except NotRunning as exc:
        print(f"broker: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(render(client_env(endpoints, config, dd, tls=args.tls), args.format))
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("env", help="print the environment clients need (AWS_ENDPOINT_URL, keys, AMQP/SMTP URLs)",
                       description="Print what clients need to reach a running server: AWS_ENDPOINT_URL and "
                                   "AWS_ENDPOINT_URL_<SERVICE>, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                                   "AWS_REGION, AWS_CA_BUNDLE (with --tls), BROKER_<LISTENER>_URL. "
                                   'Use: eval "$(broker env)".')
    p.add_argument("--data-dir", dest="data_dir", help="data directory of the running server (default as for serve)")
    p.add_argument("--config", metavar="FILE", help="TOML configuration file (the server's: credentials, region)")
    p.add_argument("--url", help="a running server's HTTP URL instead of a data directory")
    p.add_argument("--format", choices=FORMATS, default="sh", help="sh (export lines, default), json, dotenv")
    p.add_argument("--tls", action="store_true", help="point AWS clients at the HTTPS endpoint (sets AWS_CA_BUNDLE)")
