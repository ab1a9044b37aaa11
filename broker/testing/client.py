"""What a test holds: `Broker` (one running server: endpoints, client factories,
admin calls, `wait_for`) and `Account` (a fresh 12-digit account on it).

Nothing here imports boto3, pika, paho or smtplib until a test asks for a
client of that kind, so the plugin costs nothing in a suite that does not use it.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlencode, urlsplit

from broker.commands import env as envcmd

SERVER_MAX_WAIT = 120.0        # /_broker/wait answers within this; longer waits are repeated calls
# keyword -> query parameter, for names Python will not take as keywords
_RENAMES = {"from_": "from", "for_": "for"}


class WaitTimeout(AssertionError):
    """The condition did not hold in time; `.doc` is the server's last observation."""

    def __init__(self, msg: str, doc: dict | None = None):
        super().__init__(msg)
        self.doc = doc or {}


class WaitError(AssertionError):
    """The wait was refused (bad query, unknown queue) or can no longer succeed."""

    def __init__(self, msg: str, status: int, doc: dict | None = None):
        super().__init__(msg)
        self.status, self.doc = status, doc or {}


def fresh_account_id() -> str:
    """A random 12-digit account id (never 000000000000 or moto's 123456789012)."""
    while True:
        n = str(secrets.randbelow(9 * 10**11) + 10**11)
        if n != "123456789012":
            return n


def poll(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02,
         what: str = "condition", error: type[Exception] = WaitTimeout) -> Any:
    """Call `predicate` until it returns something truthy (returned) or `timeout` passes
    (`error` raised); exceptions count as "not yet" and the last one is quoted on timeout."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    delay = interval
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - "not yet"
            last = exc
        if time.monotonic() >= deadline:
            raise error(f"timed out after {timeout:g}s waiting for {what}"
                              + (f" (last error: {last!r})" if last else ""))
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)


class Broker:
    """A running server as tests see it."""

    def __init__(self, endpoints: dict, data_dir: str | None = None, config: Any = None):
        self.endpoints = dict(endpoints)
        self.data_dir = data_dir
        self.config = config if config is not None else {}
        self.access_key, self.secret_key = envcmd.credentials(self.config)
        self.region = self.config.get("aws.default_region", "us-east-1")
        self.default_account = self.config.get("aws.default_account", "000000000000")

    # -- endpoints ------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self.endpoints.get("http") or self.endpoints["https"]

    @property
    def ca_bundle(self) -> str | None:
        """The local CA certificate clients trust for TLS (None for a server started elsewhere)."""
        ca = Path(self.data_dir, *envcmd.CA_FILE) if self.data_dir else None
        return str(ca) if ca is not None and ca.exists() else None

    @property
    def env(self) -> dict[str, str]:
        """The `broker env` environment (for subprocesses: Node, Go, Java, the AWS CLI)."""
        return envcmd.client_env(self.endpoints, self.config, self.data_dir)

    def capture_url(self, name: str) -> str:
        """An HTTP endpoint that records what it is sent (see `captured`, `wait_for("http", ...)`)."""
        return f"{self.url}/_capture/{name}"

    # -- AWS clients ----------------------------------------------------------------
    def _aws_kwargs(self, kw: dict, access_key: str | None = None, secret_key: str | None = None) -> dict:
        from botocore.config import Config
        kw.setdefault("endpoint_url", self.url)
        kw.setdefault("region_name", self.region)
        kw.setdefault("aws_access_key_id", access_key or self.access_key)
        kw.setdefault("aws_secret_access_key", secret_key or self.secret_key)
        if kw["endpoint_url"].startswith("https:") and self.ca_bundle:
            kw.setdefault("verify", self.ca_bundle)
        kw.setdefault("config", Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5,
                                       read_timeout=70))
        return kw

    def client(self, service: str, **kw):
        """A boto3 client for `service` pointed at this server (default account)."""
        import boto3
        return boto3.session.Session().client(service, **self._aws_kwargs(kw))

    def resource(self, service: str, **kw):
        import boto3
        return boto3.session.Session().resource(service, **self._aws_kwargs(kw))

    def account(self, account_id: str | None = None) -> "Account":
        """A fresh account (dev mode: its 12-digit id is its access key)."""
        return Account(self, account_id or fresh_account_id())

    # -- wire clients (when their libraries are installed) -----------------------------
    def _endpoint(self, name: str) -> str:
        url = self.env.get(envcmd.env_name(name))
        if not url:
            raise LookupError(f"this server has no {name} listener (endpoints: {', '.join(self.endpoints)})")
        return url

    @property
    def amqp_url(self) -> str:
        return self._endpoint("amqp")

    def pika_parameters(self, **kw):
        import pika
        params = pika.URLParameters(self.amqp_url)
        for k, v in kw.items():
            setattr(params, k, v)
        return params

    def pika_connection(self, **kw):
        """A pika BlockingConnection to the default broker (guest/guest unless mq.users says otherwise)."""
        import pika
        return pika.BlockingConnection(self.pika_parameters(**kw))

    def mqtt_client(self, client_id: str = "", connect: bool = True, **kw):
        """A paho-mqtt client, connected (loop not started) to the MQTT listener."""
        import paho.mqtt.client as mqtt
        parts = urlsplit(self._endpoint("mqtt"))
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, **kw)
        if parts.username:
            c.username_pw_set(parts.username, parts.password)
        if connect:
            c.connect(parts.hostname, parts.port)
        return c

    def smtp(self, login: bool = True, timeout: float = 10.0):
        """An smtplib.SMTP session on the SES SMTP listener, after STARTTLS (and AUTH)."""
        import smtplib
        import ssl
        parts = urlsplit(self._endpoint("smtp"))
        s = smtplib.SMTP(parts.hostname, parts.port, timeout=timeout)
        ctx = ssl.create_default_context(cafile=self.ca_bundle) if self.ca_bundle else ssl.create_default_context()
        s.starttls(context=ctx)
        if login and parts.username:
            s.login(parts.username, parts.password or "")
        return s

    # -- admin ----------------------------------------------------------------------
    def admin(self, method: str, path: str, body: bytes | dict | None = None, timeout: float = 10.0):
        """(status, parsed JSON or bytes) of an admin call."""
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        req = urllib.request.Request(self.url + path, data=data, method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw

    def reset(self) -> None:
        """Wipe every entity of every account (prefer per-test accounts)."""
        status, doc = self.admin("POST", "/_broker/reset")
        assert status == 200, doc

    def health(self) -> dict:
        return self.admin("GET", "/_broker/health")[1]

    def captured(self, name: str, **filters) -> list[dict]:
        status, doc = self.admin("GET", f"/_broker/capture/{name}?{urlencode(filters)}")
        assert status == 200, doc
        return doc["requests"]

    def wait_for(self, what, timeout: float = 10.0, **query):
        """Wait for a condition without sleeping in the test.

        ``wait_for("sqs", queue=url, count=3)``, ``wait_for("ses", to="a@example.com")``,
        ``wait_for("stepfunctions", execution=arn, status="SUCCEEDED")``,
        ``wait_for("http", name="hook", count=2)``, ``wait_for("sns", record="sms")``:
        evaluated by the server (GET /_broker/wait); returns its answer, raises
        `WaitTimeout` at the timeout and `WaitError` if it can no longer hold.
        ``wait_for(callable, timeout)`` polls a predicate in the test instead.
        """
        if callable(what):
            return poll(what, timeout, what=query.pop("what", getattr(what, "__name__", "condition")))
        params = {_RENAMES.get(k, k): v for k, v in query.items() if v is not None}
        params["for"] = what
        deadline = time.monotonic() + timeout
        while True:
            left = max(0.0, deadline - time.monotonic())
            params["timeout"] = f"{min(left, SERVER_MAX_WAIT):.3f}"
            status, doc = self.admin("GET", "/_broker/wait?" + urlencode(params), timeout=min(left, SERVER_MAX_WAIT)
                                     + 30)
            if status == 200:
                return doc
            if status != 408:
                raise WaitError(f"wait for {what} refused ({status}): {doc}", status, doc if isinstance(doc, dict)
                                else None)
            if time.monotonic() >= deadline:
                raise WaitTimeout(f"timed out after {timeout:g}s waiting for {what} {query}: {doc}", doc)


class Account:
    """A fresh account on a dev-mode server: its clients see only its own resources."""

    def __init__(self, broker: Broker, account_id: str):
        self.broker = broker
        self.id = account_id

    def __str__(self) -> str:
        return self.id

    @property
    def access_key(self) -> str:
        return self.id

    @property
    def env(self) -> dict[str, str]:
        return {**self.broker.env, "AWS_ACCESS_KEY_ID": self.id, "AWS_SECRET_ACCESS_KEY": "test"}

    def client(self, service: str, **kw):
        import boto3
        return boto3.session.Session().client(service, **self.broker._aws_kwargs(kw, self.id, "test"))

    def resource(self, service: str, **kw):
        import boto3
        return boto3.session.Session().resource(service, **self.broker._aws_kwargs(kw, self.id, "test"))

    def arn(self, service: str, resource: str, region: str | None = None) -> str:
        return f"arn:aws:{service}:{region or self.broker.region}:{self.id}:{resource}"

    def wait_for(self, what, timeout: float = 10.0, **query):
        """`Broker.wait_for`, with this account for the conditions that name one."""
        if what in ("sqs", "ses", "sns"):
            query.setdefault("account", self.id)
        return self.broker.wait_for(what, timeout, **query)
