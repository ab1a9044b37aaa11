"""Who may connect to which Amazon MQ broker and vhost, and do what there.

A broker's namespaces: the default broker (standard AMQP/MQTT ports, users
from config ``mq.users``) is "default"; a broker made by CreateBroker has its
own id, users (stored by the MQ shard, read here through a short cache) and
only the vhost "/". Every (broker, vhost) is its own routing-core namespace.

Permissions follow RabbitMQ: per user and vhost, three regular expressions
(configure, write, read) matched against resource names.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import time
from urllib.parse import quote

DEFAULT_BROKER = "default"
CACHE_SECONDS = 2.0
_ALL = (".*", ".*", ".*")


def namespace(broker: str, vhost: str) -> str:
    return f"mq/{broker}/{quote(vhost, safe='')}"


def hash_password(password: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 20000)


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return host == "localhost"


class User:
    __slots__ = ("name", "loopback_only", "perms", "_check", "tags")

    def __init__(self, name: str, check, loopback_only: bool = False, perms: dict | None = None, tags=()):
        self.name = name
        self._check = check                 # password -> bool
        self.loopback_only = loopback_only
        self.perms = perms                  # vhost -> (configure, write, read) compiled; None: every vhost
        self.tags = tuple(tags)

    def permissions(self, vhost: str):
        if self.perms is None:
            return _COMPILED_ALL
        return self.perms.get(vhost)


_COMPILED_ALL = tuple(re.compile(p) for p in _ALL)


def _compile(spec: dict) -> tuple:
    return tuple(re.compile(spec.get(k, ".*") or "^$") for k in ("configure", "write", "read"))


class Realm:
    """Per gateway: the default broker's users from config, other brokers' from the MQ shard."""

    def __init__(self, gateway):
        self.gateway = gateway
        cfg = gateway.config
        users = cfg.get("mq.users") or [{"name": "guest", "password": "guest", "loopback_only": True}]
        self.default_users: dict[str, User] = {}
        for u in users:
            pw = str(u.get("password", ""))
            perms = None
            if u.get("vhosts") is not None:
                perms = {vh: _compile(spec or {}) for vh, spec in u["vhosts"].items()}
            self.default_users[u["name"]] = User(u["name"], lambda given, pw=pw: hmac.compare_digest(given, pw),
                                                 bool(u.get("loopback_only", False)), perms, u.get("tags", ()))
        self.default_vhosts = {"/", *cfg.get("mq.vhosts", [])}
        self._brokers: dict[str, tuple[float, dict | None]] = {}
        self._verified: dict[tuple, bytes] = {}

    async def broker_info(self, broker: str) -> dict | None:
        """{"engine", "state", "users": {name: [salt, hash]}} of a CreateBroker broker (cached)."""
        hit = self._brokers.get(broker)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1]
        from services.mq.model import broker_key
        try:
            info = await self.gateway.cluster.call(broker_key(broker), "mq.AuthInfo", {"id": broker})
        except Exception:
            info = None
        self._brokers[broker] = (now + CACHE_SECONDS, info)
        return info

    def forget(self, broker: str) -> None:
        self._brokers.pop(broker, None)

    async def authenticate(self, broker: str, username: str, password: str, peer_host: str | None) -> User | None:
        if broker == DEFAULT_BROKER:
            user = self.default_users.get(username)
            if user is None or not user._check(password):
                return None
            if user.loopback_only and not is_loopback(peer_host):
                return None
            return user
        info = await self.broker_info(broker)
        if not info:
            return None
        rec = info["users"].get(username)
        if rec is None:
            return None
        salt, digest = bytes(rec[0]), bytes(rec[1])
        key = (broker, username, salt)
        known = self._verified.get(key)
        given = hashlib.sha256(salt + password.encode()).digest()
        if known is None or not hmac.compare_digest(known, given):
            if not hmac.compare_digest(hash_password(password, salt), digest):
                return None
            self._verified[key] = given
        return User(username, None)

    async def vhost_exists(self, broker: str, vhost: str) -> bool:
        if broker == DEFAULT_BROKER:
            return vhost in self.default_vhosts
        return vhost == "/"

    @staticmethod
    def allowed(user: User, vhost: str, what: int, name: str) -> bool:
        """what: 0 configure, 1 write, 2 read."""
        p = user.permissions(vhost)
        return p is not None and p[what].search(name) is not None
