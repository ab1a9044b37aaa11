"""Key rotation: automatic rotation settings, on-demand rotation and its listing."""

from __future__ import annotations

from typing import Any

from .model import DAY, MAX_ON_DEMAND_ROTATIONS, _Key
from .pagination import _paginate
from .validation import _enum_error, _err, _range_check, _required, _ts


class RotationMixin:
    """Key rotation operations of `KmsBackend`."""

    def _rotatable(self, ns, account, region, p, op) -> _Key:
        key = self._resolve(ns, account, region, _required(p, "KeyId"))
        self._check_state(key)
        if not key.symmetric:
            raise _err("UnsupportedOperationException",
                       f"{key.arn} key spec is {key.spec}; only symmetric encryption KMS keys "
                       f"support key rotation.")
        return key

    def _op_enable_key_rotation(self, ns, account, region, p):
        period = _range_check(p, "RotationPeriodInDays", 90, 2560, 365)
        key = self._rotatable(ns, account, region, p, "EnableKeyRotation")
        self._check_mutable(key)
        if not key.rotation_enabled or key.rotation_period != period:
            key.rotation_enabled, key.rotation_period = True, period
            key.next_rotation = self._now() + period * DAY
            self._save_key(key)
        return {}

    def _op_disable_key_rotation(self, ns, account, region, p):
        key = self._rotatable(ns, account, region, p, "DisableKeyRotation")
        self._check_mutable(key)
        key.rotation_enabled, key.rotation_period, key.next_rotation = False, None, None
        self._save_key(key)
        return {}

    def _op_get_key_rotation_status(self, ns, account, region, p):
        key = self._resolve(ns, account, region, _required(p, "KeyId"))
        if not key.symmetric:
            raise _err("UnsupportedOperationException",
                       f"{key.arn} key spec is {key.spec}; only symmetric encryption KMS keys "
                       f"support key rotation.")
        enabled = key.rotation_enabled and key.state != "PendingDeletion"
        out: dict[str, Any] = {"KeyRotationEnabled": enabled, "KeyId": key.arn}
        if enabled:
            out["RotationPeriodInDays"] = key.rotation_period
            out["NextRotationDate"] = _ts(key.next_rotation)
        return out

    def _op_rotate_key_on_demand(self, ns, account, region, p):
        key = self._rotatable(ns, account, region, p, "RotateKeyOnDemand")
        self._check_mutable(key)
        if key.on_demand_count >= MAX_ON_DEMAND_ROTATIONS:
            raise _err("LimitExceededException",
                       f"The on-demand rotations limit has been reached for the given keyId. "
                       f"No more on-demand rotations can be performed for this key: {key.arn}")
        key.on_demand_count += 1
        self._add_version(key, "ON_DEMAND", self._now())
        self._save_key(key)
        return {"KeyId": key.key_id}

    def _op_list_key_rotations(self, ns, account, region, p):
        key = self._resolve(ns, account, region, _required(p, "KeyId"))
        if not key.symmetric:
            raise _err("UnsupportedOperationException",
                       f"{key.arn} key spec is {key.spec}; only symmetric encryption KMS keys "
                       f"support key rotation.")
        include = p.get("IncludeKeyMaterial") or "ROTATIONS_ONLY"
        if include not in ("ALL_KEY_MATERIAL", "ROTATIONS_ONLY"):
            raise _enum_error(include, "IncludeKeyMaterial",
                              ["ALL_KEY_MATERIAL", "ROTATIONS_ONLY"])
        entries = []
        for i, v in enumerate(key.versions):
            if v["rotation_type"] is None and include == "ROTATIONS_ONLY":
                continue
            e = {"KeyId": key.key_id, "KeyMaterialId": v["id"],
                 "KeyMaterialState": "CURRENT" if i == len(key.versions) - 1 else "NON_CURRENT"}
            if v["rotation_type"] is not None:
                e["RotationDate"] = _ts(v["created"])
                e["RotationType"] = v["rotation_type"]
            entries.append(e)
        page, extra = _paginate(entries, lambda e: e["KeyMaterialId"], p, 1, 1000, 100,
                                ordered=False)
        return {"Rotations": page, **extra}
