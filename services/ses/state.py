"""The SES state of one account + region (a namespace), kept in memory and
persisted record by record in the partition's store.

All of a namespace lives in one partition (entity key ``ses/<account>/<region>``),
so identity checks, template lookups and configuration sets are local to the
shard that sends. Each resource is one record ``(kind, "<ns>\\0<name>")``.
"""

from __future__ import annotations

from typing import Iterator

IDENTITY = "ses.identity"
TEMPLATE = "ses.template"
CUSTOM_TEMPLATE = "ses.cvt"
CONFIG_SET = "ses.configset"
RULE_SET = "ses.ruleset"
FILTER = "ses.filter"
SUPPRESSED = "ses.suppressed"
STATS = "ses.stats"
CONTACT_LIST = "ses.contactlist"
CONTACT = "ses.contact"
SETTINGS = "ses.ns"
KINDS = (IDENTITY, TEMPLATE, CUSTOM_TEMPLATE, CONFIG_SET, RULE_SET, FILTER, SUPPRESSED, STATS, CONTACT_LIST,
         CONTACT)

STATS_BUCKET_MS = 15 * 60 * 1000
STATS_KEEP_MS = 14 * 24 * 3600 * 1000
DAY_MS = 24 * 3600 * 1000


def ns_key(account: str, region: str) -> str:
    return f"ses/{account}/{region}"


class Namespace:
    def __init__(self, store, key: str, account: str, region: str):
        self.store = store
        self.key = key
        self.account = account
        self.region = region
        self.settings: dict = store.get(SETTINGS, key) or {}
        self.tables: dict[str, dict[str, dict]] = {k: {} for k in KINDS}
        self._sent24: list | None = None          # [bucket, recipients in the 24 h before it]

    # -- generic records --------------------------------------------------------
    def get(self, kind: str, name: str) -> dict | None:
        return self.tables[kind].get(name)

    def put(self, kind: str, name: str, rec) -> None:
        self.tables[kind][name] = rec
        self.store.put(kind, f"{self.key}\0{name}", rec)

    def delete(self, kind: str, name: str) -> bool:
        if self.tables[kind].pop(name, None) is None:
            return False
        self.store.delete(kind, f"{self.key}\0{name}")
        return True

    def items(self, kind: str) -> Iterator[tuple[str, dict]]:
        return iter(self.tables[kind].items())

    def save_settings(self) -> None:
        self.store.put(SETTINGS, self.key, self.settings)

    def setting(self, name: str, default=None):
        return self.settings.get(name, default)

    def set(self, name: str, value) -> None:
        self.settings[name] = value
        self.save_settings()

    def arn(self, kind: str, name: str) -> str:
        return f"arn:aws:ses:{self.region}:{self.account}:{kind}/{name}"

    # -- sending statistics (15-minute buckets, two weeks) ----------------------
    def count(self, now_ms: int, attempts: int = 0, bounces: int = 0, complaints: int = 0, rejects: int = 0,
              sent: int = 0) -> None:
        bucket = now_ms - now_ms % STATS_BUCKET_MS
        name = f"{bucket:014d}"
        rec = self.tables[STATS].get(name)
        if rec is None:             # a new bucket: drop those older than two weeks
            rec = [0, 0, 0, 0, 0]
            cutoff = now_ms - STATS_KEEP_MS
            for old in [k for k in self.tables[STATS] if int(k) < cutoff]:
                self.delete(STATS, old)
        rec = [rec[0] + attempts, rec[1] + bounces, rec[2] + complaints, rec[3] + rejects, rec[4] + sent]
        self.put(STATS, name, rec)
        if self._sent24 is not None and self._sent24[0] == bucket:
            self._sent24[1] += sent

    def sent_last_24h(self, now_ms: int) -> int:
        """Recipients sent to in the buckets overlapping the last 24 hours (cached per bucket)."""
        bucket = now_ms - now_ms % STATS_BUCKET_MS
        if self._sent24 is None or self._sent24[0] != bucket:
            cutoff = now_ms - DAY_MS
            self._sent24 = [bucket, sum(rec[4] for k, rec in self.tables[STATS].items()
                                        if int(k) + STATS_BUCKET_MS > cutoff)]
        return self._sent24[1]

    def data_points(self) -> list[dict]:
        return [{"Timestamp": int(k) / 1000.0, "DeliveryAttempts": rec[0], "Bounces": rec[1],
                 "Complaints": rec[2], "Rejects": rec[3]} for k, rec in sorted(self.tables[STATS].items())]


class Namespaces:
    """Every namespace of one partition, rebuilt from the store on start."""

    def __init__(self, store):
        self.store = store
        self.by_key: dict[str, Namespace] = {}
        for key, _rec in store.scan(SETTINGS):
            self._make(key)
        for kind in KINDS:
            for full, rec in store.scan(kind):
                key, _, name = full.partition("\0")
                self._make(key).tables[kind][name] = rec

    def _make(self, key: str) -> Namespace:
        ns = self.by_key.get(key)
        if ns is None:
            _, account, region = key.split("/", 2)
            ns = self.by_key[key] = Namespace(self.store, key, account, region)
        return ns

    def get(self, account: str, region: str) -> Namespace:
        return self._make(ns_key(account, region))

    def __iter__(self):
        return iter(self.by_key.values())
