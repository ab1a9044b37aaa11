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
        if not key.symmetric:   # AWS answers this one without a message
            raise _err("UnsupportedOperationException")
        if key.multi_region and not key.is_primary:
            raise _err("UnsupportedOperationException", f"{key.arn} is not a multi-region primary key.")
        return key

    def _op_enable_key_rotation(self, ns, account, region, p):
        period = _range_check(p, "RotationPeriodInDays", 90, 2560, 365)
        key = self._rotatable(ns, account, region, p, "EnableKeyRotation")
        self._check_mutable(key)
        if key.origin == "EXTERNAL":    # imported material rotates on demand only
            raise _err("UnsupportedOperationException",
                       f"{key.arn} origin is EXTERNAL which is not valid for this operation.")
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
            raise _err("UnsupportedOperationException")
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
        if key.origin == "EXTERNAL":
            self._rotate_imported(key)
        else:
            self._add_version(key, "ON_DEMAND", self._now())
        key.on_demand_count += 1
        self._save_key(key)
        if key.multi_region:
            self._sync_replicas(key)        # replicas share the primary's material
        return {"KeyId": key.arn}

    def _op_list_key_rotations(self, ns, account, region, p):
        key = self._resolve(ns, account, region, _required(p, "KeyId"))
        if not key.symmetric:
            raise _err("UnsupportedOperationException")
        include = p.get("IncludeKeyMaterial") or "ROTATIONS_ONLY"
        if include not in ("ALL_KEY_MATERIAL", "ROTATIONS_ONLY"):
            raise _enum_error(include, "IncludeKeyMaterial",
                              ["ALL_KEY_MATERIAL", "ROTATIONS_ONLY"])
        entries = []
        states = [(v, "CURRENT" if i == len(key.versions) - 1 else "NON_CURRENT") for i, v in enumerate(key.versions)]
        states += [(v, "PENDING_ROTATION") for v in key.pending]
        for v, state in states:
            if v["rotation_type"] is None and include == "ROTATIONS_ONLY":
                continue
            e = {"KeyId": key.key_id, "KeyMaterialId": v["id"], "KeyMaterialState": state}
            if v["rotation_type"] is not None and state != "PENDING_ROTATION":
                e["RotationDate"] = _ts(v["created"])
                e["RotationType"] = v["rotation_type"]
            if key.origin == "EXTERNAL":
                e["ImportState"] = "IMPORTED" if v.get("wrapped") is not None else "PENDING_IMPORT"
                e["ExpirationModel"] = v.get("expiration_model") or "KEY_MATERIAL_DOES_NOT_EXPIRE"
                if v.get("valid_to") is not None:
                    e["ValidTo"] = _ts(v["valid_to"])
                if v.get("description"):
                    e["KeyMaterialDescription"] = v["description"]
            entries.append(e)
        page, extra = _paginate(entries, lambda e: e["KeyMaterialId"], p, 1, 1000, 100,
                                ordered=False)
        return {"Rotations": page, **extra}
