"""Key records: lookup, state checks, lazy time events, metadata, creation and the
key lifecycle operations (Create/Describe/List/Enable/Disable/deletion)."""

from __future__ import annotations

import uuid
from typing import Any

from . import crypto as kc
from .model import (
    _ALIAS_ARN_RE, _KEY_ARN_RE, ALL_KEY_SPECS, AWS_MANAGED_SERVICES, DAY, KEY_SPECS_AWS_ORDER, KEY_USAGES,
    KEY_USAGES_AWS_ORDER, KIND_ALIAS, KIND_KEY, SUPPORTED_KEY_SPECS, _Key, _Namespace, valid_key_id,
)
from .pagination import _paginate
from .policy import _default_policy, _managed_policy
from .validation import _enum_error, _err, _range_check, _required, _ts, _validation


class KeysMixin:
    """Key lookup and lifecycle of `KmsBackend`."""

    # ------------------------------------------------------------------ key lookup

    def _key_arn(self, account: str, region: str, key_id: str) -> str:
        return f"arn:aws:kms:{region}:{account}:key/{key_id}"

    def _resolve(self, ns: _Namespace, account: str, region: str, ident: Any,
                 allow_alias: bool = True) -> _Key:
        """Find a key from a key id, key ARN, alias name or alias ARN (NotFoundException)."""
        if not isinstance(ident, str) or not ident:
            raise _validation("1 validation error detected: Value null at 'keyId' failed to "
                              "satisfy constraint: Member must not be null")
        alias_name = None
        if ident.startswith("arn:"):
            m = _KEY_ARN_RE.match(ident)
            if m:
                if m.group(1) != region:     # AWS names the ARN's region and nothing else
                    raise _err("NotFoundException", f"Invalid arn {m.group(1)}")
                if m.group(2) != account:
                    raise _err("NotFoundException", f"Key '{ident}' does not exist")
                key_id = m.group(3)
            else:
                m = _ALIAS_ARN_RE.match(ident)
                if not m or not allow_alias:
                    raise _err("NotFoundException", f"Invalid arn {ident}")
                if (m.group(1), m.group(2)) != (region, account):
                    raise _err("NotFoundException", f"Alias {ident} is not found.")
                alias_name = m.group(3)
        elif ident.startswith("alias/"):
            if not allow_alias:
                raise _err("NotFoundException", f"Invalid keyId '{ident}'")
            alias_name = ident
        else:
            key_id = ident
        if alias_name is not None:
            alias = self._alias(ns, account, region, alias_name)
            if alias is None:
                raise _err("NotFoundException",
                           f"Alias {self._alias_arn(account, region, alias_name)} is not found.")
            key_id = alias["target"]
        key = ns.keys.get(key_id)
        if key is not None:
            key = self._refresh(ns, key)
        if key is None:
            if not valid_key_id(key_id):
                raise _err("NotFoundException", f"Invalid keyId '{key_id}'")
            raise _err("NotFoundException",
                       f"Key '{self._key_arn(account, region, key_id)}' does not exist")
        return key

    def _usable(self, ns: _Namespace, account: str, region: str, ident: Any, op: str) -> _Key:
        key = self._resolve(ns, account, region, ident)
        self._check_state(key, enabled=True)
        return key

    def _check_state(self, key: _Key, enabled: bool = True, disabled: bool = False,
                     pending: bool = False, importing: bool | None = None) -> None:
        """Raise AWS's error when `key`'s state does not allow the operation. Operations that
        accept disabled keys accept keys pending import too, unless `importing` says otherwise."""
        if key.state == "Disabled" and not disabled:
            raise _err("DisabledException", f"{key.arn} is disabled.")
        if key.state == "PendingImport" and not (disabled if importing is None else importing):
            raise _err("KMSInvalidStateException", f"{key.arn} is pending import.")
        if key.state == "PendingDeletion" and not pending:
            raise _err("KMSInvalidStateException", f"{key.arn} is pending deletion.")
        if key.state == "Enabled" and not enabled:
            raise _err("KMSInvalidStateException",
                       f"{key.arn} is enabled, but the operation doesn't support such a state")

    def _check_mutable(self, key: _Key) -> None:
        """Customers cannot change AWS managed keys."""
        if key.manager == "AWS":
            raise _err("UnsupportedOperationException",
                       f"{key.arn} is an AWS managed key; it cannot be modified.")

    def _require_usage(self, key: _Key, usage: str, op: str) -> None:
        if key.usage != usage:
            raise _err("InvalidKeyUsageException",
                       f"{key.arn} key usage is {key.usage} which is not valid for {op}.")

    def _require_symmetric(self, key: _Key, op: str) -> None:
        self._require_usage(key, "ENCRYPT_DECRYPT", op)
        if not key.symmetric:
            raise _err("InvalidKeyUsageException",
                       f"{key.arn} key spec is {key.spec} which is not valid for {op}.")

    # ------------------------------------------------------------------ lazy time events

    def _refresh(self, ns: _Namespace, key: _Key) -> _Key | None:
        """Apply what time did to a key: deletion past its date, due automatic rotations."""
        now = self._now()
        if key.state == "PendingDeletion" and key.deletion_date is not None \
                and key.deletion_date <= now:
            self._delete_key(ns, key)
            return None
        if key.origin == "EXTERNAL" and key.has_material:
            self._expire_material(key, now)
        if key.rotation_enabled and key.next_rotation is not None and key.next_rotation <= now \
                and key.state == "Enabled":
            period = (key.rotation_period or 365) * DAY
            for _ in range(64):
                if key.next_rotation > now:
                    break
                self._add_version(key, "AUTOMATIC", key.next_rotation)
                key.next_rotation += period
            if key.next_rotation <= now:
                key.next_rotation = now + period
            self._save_key(key)
        return key

    def _delete_key(self, ns: _Namespace, key: _Key) -> None:
        ns.keys.pop(key.key_id, None)
        self._store.delete(KIND_KEY, self._rec_key(key.account, key.region, key.key_id))
        for v in key.versions:
            self._material.pop((key.arn, v["id"]), None)
        for name in [n for n, a in ns.aliases.items() if a["target"] == key.key_id]:
            ns.aliases.pop(name)
            self._store.delete(KIND_ALIAS, self._rec_key(key.account, key.region, name))
        for gid in [g for g, gr in ns.grants.items() if gr["key_id"] == key.key_id]:
            self._drop_grant(ns, ns.grants[gid])

    def _sweep(self, ns: _Namespace) -> None:
        for key in list(ns.keys.values()):
            self._refresh(ns, key)

    # ------------------------------------------------------------------ metadata

    def _metadata(self, key: _Key, state: str | None = None) -> dict:
        state = state or key.state
        md: dict[str, Any] = {
            "AWSAccountId": key.account, "KeyId": key.key_id, "Arn": key.arn,
            "CreationDate": _ts(key.created), "Enabled": state == "Enabled",
            "Description": key.description, "KeyUsage": key.usage, "KeyState": state,
            "Origin": key.origin, "KeyManager": key.manager,
            "CustomerMasterKeySpec": key.spec, "KeySpec": key.spec,
        }
        if key.state == "PendingDeletion":
            md["DeletionDate"] = _ts(key.deletion_date)
            md["PendingDeletionWindowInDays"] = key.pending_window
        if key.usage == "ENCRYPT_DECRYPT":
            md["EncryptionAlgorithms"] = (["SYMMETRIC_DEFAULT"] if key.symmetric
                                          else list(kc.RSA_ENCRYPTION))
        if key.usage == "SIGN_VERIFY":
            md["SigningAlgorithms"] = self._signing_algorithms(key)
        if key.usage == "GENERATE_VERIFY_MAC":
            md["MacAlgorithms"] = [kc.HMAC_ALGORITHMS[key.spec]]
        if key.usage == "KEY_AGREEMENT":
            md["KeyAgreementAlgorithms"] = ["ECDH"]
        md["MultiRegion"] = key.multi_region
        if key.multi_region:
            md["MultiRegionConfiguration"] = self._mr_configuration(key)
        if key.symmetric and key.versions and state != "Creating":
            md["CurrentKeyMaterialId"] = key.current["id"]
        if key.origin == "EXTERNAL" and key.has_material:
            v = key.current
            md["ExpirationModel"] = v.get("expiration_model") or "KEY_MATERIAL_DOES_NOT_EXPIRE"
            if v.get("valid_to") is not None:
                md["ValidTo"] = _ts(v["valid_to"])
        return md

    @staticmethod
    def _signing_algorithms(key: _Key) -> list[str]:
        if key.spec in kc.RSA_SPECS:
            return list(kc.RSA_SIGNING)
        return list(kc.ECC_SIGNING.get(key.spec, []))

    # ------------------------------------------------------------------ key creation

    def _new_key(self, ns: _Namespace, account: str, region: str, *, spec: str, usage: str,
                 description: str, policy: str, tags: dict, manager: str = "CUSTOMER",
                 origin: str = "AWS_KMS", multi_region: bool = False, material: Any = None) -> _Key:
        key = _Key()
        key.account, key.region = account, region
        key.key_id = ("mrk-" + uuid.uuid4().hex) if multi_region else str(uuid.uuid4())
        key.arn = self._key_arn(account, region, key.key_id)
        key.created = self._now()
        key.description, key.usage, key.spec = description, usage, spec
        key.origin, key.manager = origin, manager
        key.state = "PendingImport" if origin == "EXTERNAL" else "Enabled"
        key.deletion_date = key.pending_window = None
        key.policy, key.tags = policy, tags
        key.rotation_enabled, key.rotation_period, key.next_rotation = False, None, None
        key.on_demand_count = 0
        key.versions, key.pending, key.import_params = [], [], []
        key.mr = {"primary": region, "replicas": []} if multi_region else None
        if origin != "EXTERNAL":
            self._add_version(key, None, key.created, material)
        if manager == "AWS":  # AWS rotates AWS managed keys every year
            key.rotation_enabled, key.rotation_period = True, 365
            key.next_rotation = key.created + 365 * DAY
        ns.keys[key.key_id] = key
        self._save_key(key)
        return key

    def _create_managed_key(self, ns: _Namespace, account: str, region: str,
                            service: str) -> dict:
        display = AWS_MANAGED_SERVICES[service]
        key = self._new_key(
            ns, account, region, spec="SYMMETRIC_DEFAULT", usage="ENCRYPT_DECRYPT",
            description=f"Default key that protects my {display} data when no other key is "
                        f"defined",
            policy=_managed_policy(account, region, service), tags={}, manager="AWS")
        return self._put_alias(ns, account, region, f"alias/aws/{service}", key.key_id)

    # ================================================================== operations: keys

    def _op_create_key(self, ns, account, region, p):
        origin = p.get("Origin") or "AWS_KMS"
        if origin not in ("AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"):
            raise _enum_error(origin, "Origin",
                              ["AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"])
        if origin not in ("AWS_KMS", "EXTERNAL") or p.get("CustomKeyStoreId") or p.get("XksKeyId"):
            raise _err("UnsupportedOperationException",
                       f"Origin {origin} and custom key stores are not supported by this KMS "
                       f"implementation.")
        multi_region = bool(p.get("MultiRegion"))
        if multi_region and origin == "EXTERNAL":
            raise _err("UnsupportedOperationException",
                       "Multi-Region keys with imported key material are not supported by this KMS "
                       "implementation.")
        if p.get("KeySpec") and p.get("CustomerMasterKeySpec"):
            raise _validation("You cannot specify KeySpec and CustomerMasterKeySpec in the same "
                              "request. CustomerMasterKeySpec is deprecated.")
        spec = p.get("KeySpec") or p.get("CustomerMasterKeySpec") or "SYMMETRIC_DEFAULT"
        if spec not in ALL_KEY_SPECS:
            raise _enum_error(spec, "KeySpec", KEY_SPECS_AWS_ORDER)
        usage = p.get("KeyUsage")
        if usage is not None and usage not in KEY_USAGES:
            raise _enum_error(usage, "KeyUsage", KEY_USAGES_AWS_ORDER)
        if usage is None:
            if spec != "SYMMETRIC_DEFAULT":
                raise _validation("You must specify a KeyUsage value for all KMS keys except for "
                                  "symmetric encryption keys.")
            usage = "ENCRYPT_DECRYPT"
        if spec not in SUPPORTED_KEY_SPECS:
            raise _err("UnsupportedOperationException",
                       f"KeySpec {spec} is not supported by this KMS implementation.")
        allowed = {"SYMMETRIC_DEFAULT": ("ENCRYPT_DECRYPT",)}
        allowed.update({s: ("GENERATE_VERIFY_MAC",) for s in kc.HMAC_SPECS})
        allowed.update({s: ("ENCRYPT_DECRYPT", "SIGN_VERIFY") for s in kc.RSA_SPECS})
        allowed.update({s: ("SIGN_VERIFY", "KEY_AGREEMENT") for s in kc.ECC_SPECS})
        allowed["ECC_SECG_P256K1"] = ("SIGN_VERIFY",)     # no key agreement on secp256k1 (AWS)
        if usage not in allowed[spec]:
            raise _validation(f"KeyUsage {usage} is not compatible with KeySpec {spec}")
        description = p.get("Description") or ""
        if len(description) > 8192:
            raise _validation("1 validation error detected: Value at 'description' failed to "
                              "satisfy constraint: Member must have length less than or equal "
                              "to 8192")
        policy = p.get("Policy")
        if policy is not None:
            self._validate_policy(policy)
        tags = self._apply_tags({}, self._validate_tags(p.get("Tags") or []))
        key = self._new_key(ns, account, region, spec=spec, usage=usage,
                            description=description,
                            policy=policy if policy is not None else _default_policy(account),
                            tags=tags, origin=origin, multi_region=multi_region)
        return {"KeyMetadata": self._metadata(key)}

    def _op_describe_key(self, ns, account, region, p):
        key = self._resolve(ns, account, region, _required(p, "KeyId"))
        return {"KeyMetadata": self._metadata(key)}

    def _op_list_keys(self, ns, account, region, p):
        self._sweep(ns)
        keys = sorted(ns.keys.values(), key=lambda k: k.key_id)
        page, extra = _paginate(keys, lambda k: k.key_id, p, 1, 1000, 100)
        return {"Keys": [{"KeyId": k.key_id, "KeyArn": k.arn} for k in page], **extra}

    def _op_update_key_description(self, ns, account, region, p):
        key = self._resolve(ns, account, region, _required(p, "KeyId"))
        description = _required(p, "Description")
        self._check_state(key, disabled=True)
        self._check_mutable(key)
        key.description = description
        self._save_key(key)
        return {}

    def _op_enable_key(self, ns, account, region, p):
        key = self._resolve(ns, account, region, _required(p, "KeyId"))
        self._check_state(key, disabled=True, importing=False)
        self._check_mutable(key)
        if key.state != "Enabled":
            key.state = "Enabled"
            self._save_key(key)
        return {}

    def _op_disable_key(self, ns, account, region, p):
        key = self._resolve(ns, account, region, _required(p, "KeyId"))
        self._check_state(key, disabled=True, importing=False)
        self._check_mutable(key)
        if key.state != "Disabled":
            key.state = "Disabled"
            self._save_key(key)
        return {}

    def _op_schedule_key_deletion(self, ns, account, region, p):
        key = self._resolve(ns, account, region, _required(p, "KeyId"))
        window = _range_check(p, "PendingWindowInDays", 7, 30, 30)
        self._check_state(key, disabled=True)
        self._check_mutable(key)
        key.state = "PendingDeletion"
        key.pending_window = window
        key.deletion_date = self._now() + window * DAY
        self._save_key(key)
        return {"KeyId": key.arn, "DeletionDate": _ts(key.deletion_date),
                "KeyState": "PendingDeletion", "PendingWindowInDays": window}

    def _op_cancel_key_deletion(self, ns, account, region, p):
        key = self._resolve(ns, account, region, _required(p, "KeyId"))
        if key.state != "PendingDeletion":
            raise _err("KMSInvalidStateException", f"{key.arn} is not pending deletion.")
        key.state = "Disabled"
        key.deletion_date = key.pending_window = None
        self._save_key(key)
        return {"KeyId": key.arn}
