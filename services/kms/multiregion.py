"""Multi-Region keys: CreateKey(MultiRegion=true), ReplicateKey, UpdatePrimaryRegion.

A multi-Region key has an ``mrk-`` id shared by its primary and replicas, one key per
region, each in that region's namespace (and so possibly another partition). Every
copy holds the shared properties (spec, usage, origin, key material, rotation) and the
configuration ``{"primary": region, "replicas": [regions], "gen": n}``; descriptions,
policies, tags, aliases and enabled state are each region's own, as at AWS.

Changes are made at the primary and pushed to the other regions as ``replica``
messages: the backend queues them (`_emit`), the shard hands them to its durable
outbox (services/kms/shard.py), and the target namespace applies them with
`apply_replica`. ``gen`` orders them: an older configuration never overwrites a newer.
Key material travels re-wrapped by the master key for the target key's ARN.
"""

from __future__ import annotations

import copy
import re

from .model import _Key, _Namespace
from .policy import _default_policy
from .validation import _err, _required

_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+){1,2}-\d{1,2}$")
_SHARED = ("spec", "usage", "origin", "created", "rotation_enabled", "rotation_period", "next_rotation",
           "on_demand_count")


class MultiRegionMixin:
    """Multi-Region keys of `KmsBackend`."""

    def _mr_arn(self, key: _Key, region: str) -> str:
        return self._key_arn(key.account, region, key.key_id)

    def _mr_configuration(self, key: _Key) -> dict:
        primary = key.mr["primary"]
        return {"MultiRegionKeyType": "PRIMARY" if key.is_primary else "REPLICA",
                "PrimaryKey": {"Arn": self._mr_arn(key, primary), "Region": primary},
                "ReplicaKeys": [{"Arn": self._mr_arn(key, r), "Region": r} for r in key.mr["replicas"]]}

    def _primary(self, ns, account, region, p) -> _Key:
        key = self._resolve(ns, account, region, _required(p, "KeyId"))
        if not key.is_primary:
            raise _err("UnsupportedOperationException", f"{key.arn} is not a multi-region primary key.")
        self._check_state(key, disabled=True)
        return key

    # ------------------------------------------------------------------ operations

    def _op_replicate_key(self, ns, account, region, p):
        key = self._primary(ns, account, region, p)
        target = _required(p, "ReplicaRegion")
        if not isinstance(target, str) or not _REGION_RE.match(target):
            raise _err("ValidationException", f"{target} is not a valid AWS region.")
        if target == region or target in key.mr["replicas"]:
            raise _err("AlreadyExistsException", f"Key {self._mr_arn(key, target)} already exists.")
        policy = p.get("Policy")
        if policy is not None:
            self._validate_policy(policy)
        else:
            policy = _default_policy(account)
        tags = self._apply_tags({}, self._validate_tags(p.get("Tags") or []))
        description = p.get("Description") or ""
        key.mr["replicas"].append(target)
        key.mr["gen"] = key.mr.get("gen", 0) + 1
        self._save_key(key)
        self._emit(account, target, dict(self._replica_payload(key, target), description=description,
                                         policy=policy, tags=[[k, v] for k, v in tags.items()]))
        self._sync_replicas(key, skip=target)
        shown = copy.copy(key)
        shown.region, shown.arn, shown.description = target, self._mr_arn(key, target), description
        return {"ReplicaKeyMetadata": self._metadata(shown, state="Creating"), "ReplicaPolicy": policy,
                "ReplicaTags": [{"TagKey": k, "TagValue": v} for k, v in tags.items()]}

    def _op_update_primary_region(self, ns, account, region, p):
        key = self._primary(ns, account, region, p)
        target = _required(p, "PrimaryRegion")
        if target == region:
            return {}
        if target not in key.mr["replicas"]:
            raise _err("NotFoundException", f"Key '{self._mr_arn(key, target)}' does not exist")
        key.mr = {"primary": target, "replicas": [r for r in key.mr["replicas"] if r != target] + [region],
                  "gen": key.mr.get("gen", 0) + 1}
        self._save_key(key)
        self._sync_replicas(key)
        return {}

    # ------------------------------------------------------------------ propagation

    def _emit(self, account: str, region: str, data: dict) -> None:
        """Queue a message for the namespace (account, region); the shard sends it durably."""
        self._outgoing.append((account, region, data))

    def _replica_payload(self, key: _Key, target: str) -> dict:
        arn = self._mr_arn(key, target)
        versions = []
        for v in key.versions:
            out = {k: x for k, x in v.items() if k != "wrapped"}
            if v.get("wrapped") is not None:
                out["wrapped"] = self._master.wrap(self._plain_material(key, v), aad=self._wrap_aad(arn, v["id"]))
            versions.append(out)
        return {"key_id": key.key_id, "mr": dict(key.mr), "versions": versions,
                **{name: getattr(key, name) for name in _SHARED}}

    def _sync_replicas(self, key: _Key, skip: str | None = None) -> None:
        """Push the shared properties of a primary (or a changed configuration) to every other region."""
        regions = [key.mr["primary"]] + key.mr["replicas"]
        for r in regions:
            if r != key.region and r != skip:
                self._emit(key.account, r, self._replica_payload(key, r))

    def apply_replica(self, account: str, region: str, data: dict) -> None:
        """Apply a replica message in namespace (account, region): create the replica, or
        take the primary's shared properties and configuration (newer `gen` only)."""
        ns: _Namespace = self._namespace(account, region)
        key = ns.keys.get(data["key_id"])
        if key is None:
            key = _Key()
            key.account, key.region, key.key_id = account, region, data["key_id"]
            key.arn = self._key_arn(account, region, key.key_id)
            key.description = data.get("description", "")
            key.manager, key.state = "CUSTOMER", "Enabled"
            key.deletion_date = key.pending_window = None
            key.policy = data.get("policy") or _default_policy(account)
            key.tags = {k: v for k, v in data.get("tags") or []}
            key.pending, key.import_params, key.mr = [], [], None
            ns.keys[key.key_id] = key
        if key.mr is not None and key.mr.get("gen", 0) > data["mr"].get("gen", 0):
            return            # an older configuration than the one this copy has
        for name in _SHARED:
            setattr(key, name, data[name])
        key.versions = [dict(v) for v in data["versions"]]
        key.mr = dict(data["mr"])
        for v in key.versions:
            self._material.pop((key.arn, v["id"]), None)
        self._save_key(key)

    def deliver_local(self) -> None:
        """Apply queued replica messages in this backend (one process, tests and tools)."""
        while self._outgoing:
            account, region, data = self._outgoing.pop(0)
            self.apply_replica(account, region, data)
