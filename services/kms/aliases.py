"""Aliases: lookup (with lazily created AWS managed keys) and the alias operations."""

from __future__ import annotations

from typing import Any

from .model import _ALIAS_ARN_RE, _ALIAS_RE, AWS_MANAGED_SERVICES, KIND_ALIAS, _Namespace
from .pagination import _paginate
from .validation import _err, _required, _ts, _validation


class AliasesMixin:
    """Alias handling of `KmsBackend`."""

    def _alias_arn(self, account: str, region: str, name: str) -> str:
        return f"arn:aws:kms:{region}:{account}:{name}"

    def _alias(self, ns: _Namespace, account: str, region: str, name: str) -> dict | None:
        alias = ns.aliases.get(name)
        if alias is not None and alias["target"] not in ns.keys:
            alias = None
        if alias is None and name.startswith("alias/aws/"):
            service = name[len("alias/aws/"):]
            if service in AWS_MANAGED_SERVICES:
                alias = self._create_managed_key(ns, account, region, service)
        return alias

    def _put_alias(self, ns: _Namespace, account: str, region: str, name: str,
                   target: str) -> dict:
        now = self._now()
        alias = {"account": account, "region": region, "name": name, "target": target,
                 "created": now, "updated": now}
        ns.aliases[name] = alias
        self._save_alias(alias)
        return alias

    # ================================================================== aliases

    def _validate_alias_name(self, name: Any, account: str, region: str,
                             creating: bool) -> str:
        if not isinstance(name, str) or not name:
            raise _validation("1 validation error detected: Value null at 'aliasName' failed to "
                              "satisfy constraint: Member must not be null")
        if len(name) > 256:
            raise _validation(f"1 validation error detected: Value '{name}' at 'aliasName' "
                              f"failed to satisfy constraint: Member must have length less than "
                              f"or equal to 256")
        if not _ALIAS_RE.match(name):
            raise _validation(f"1 validation error detected: Value '{name}' at 'aliasName' "
                              f"failed to satisfy constraint: Member must satisfy regular "
                              f"expression pattern: ^[a-zA-Z0-9:/_-]+$")
        if not name.startswith("alias/"):
            raise _validation('Alias must start with the prefix "alias/". Please see '
                              'https://docs.aws.amazon.com/kms/latest/developerguide/'
                              'kms-alias.html')
        if name == "alias/" or ":" in name:
            raise _err("InvalidAliasNameException",
                       f"Alias name {name} is not valid." if name == "alias/" else
                       f"{name} contains invalid characters for an alias")
        if name.startswith("alias/aws/") and creating:
            raise _err("NotAuthorizedException",
                       f"Alias names starting with alias/aws/ are reserved for AWS managed "
                       f"keys: {self._alias_arn(account, region, name)}")
        return name

    def _op_create_alias(self, ns, account, region, p):
        name = self._validate_alias_name(p.get("AliasName"), account, region, creating=True)
        target = _required(p, "TargetKeyId")
        if isinstance(target, str) and (target.startswith("alias/") or ":alias/" in target):
            raise _validation("Aliases must refer to keys. Not aliases")
        key = self._resolve(ns, account, region, target, allow_alias=False)
        existing = ns.aliases.get(name)
        if existing is not None and existing["target"] in ns.keys:
            raise _err("AlreadyExistsException",
                       f"An alias with the name {self._alias_arn(account, region, name)} "
                       f"already exists")
        self._check_state(key, disabled=True)
        if key.manager == "AWS":
            raise _err("NotAuthorizedException",
                       f"An alias cannot refer to an AWS managed key: {key.arn}")
        self._put_alias(ns, account, region, name, key.key_id)
        return {}

    def _op_update_alias(self, ns, account, region, p):
        name = self._validate_alias_name(p.get("AliasName"), account, region, creating=True)
        target = _required(p, "TargetKeyId")
        alias = ns.aliases.get(name)
        if alias is None or alias["target"] not in ns.keys:
            raise _err("NotFoundException",
                       f"Alias {self._alias_arn(account, region, name)} is not found.")
        if isinstance(target, str) and (target.startswith("alias/") or ":alias/" in target):
            raise _validation("Aliases must refer to keys. Not aliases")
        key = self._resolve(ns, account, region, target, allow_alias=False)
        self._check_state(key, disabled=True)
        if key.manager == "AWS":
            raise _err("NotAuthorizedException",
                       f"An alias cannot refer to an AWS managed key: {key.arn}")
        old = ns.keys.get(alias["target"])
        if old is not None and (old.usage != key.usage or old.spec != key.spec):
            raise _validation(
                f"{self._alias_arn(account, region, name)} is associated with a key of key "
                f"usage {old.usage} and key spec {old.spec}; the new target key {key.arn} must "
                f"have the same key usage and key spec.")
        alias = dict(alias, target=key.key_id, updated=self._now())
        ns.aliases[name] = alias
        self._save_alias(alias)
        return {}

    def _op_delete_alias(self, ns, account, region, p):
        name = _required(p, "AliasName")
        if isinstance(name, str) and name.startswith("arn:"):
            m = _ALIAS_ARN_RE.match(name)
            name = m.group(3) if m else name
        if isinstance(name, str) and name.startswith("alias/aws/"):
            raise _err("NotAuthorizedException",
                       f"Cannot delete AWS managed alias "
                       f"{self._alias_arn(account, region, name)}")
        self._validate_alias_name(name, account, region, creating=False)
        alias = ns.aliases.get(name)
        if alias is None or alias["target"] not in ns.keys:
            raise _err("NotFoundException",
                       f"Alias {self._alias_arn(account, region, name)} is not found.")
        ns.aliases.pop(name)
        self._store.delete(KIND_ALIAS, self._rec_key(account, region, name))
        return {}

    def _op_list_aliases(self, ns, account, region, p):
        self._sweep(ns)
        target = None
        if p.get("KeyId") is not None:
            target = self._resolve(ns, account, region, p["KeyId"], allow_alias=False).key_id
        aliases = sorted((a for a in ns.aliases.values()
                          if a["target"] in ns.keys and (target is None or a["target"] == target)),
                         key=lambda a: a["name"])
        page, extra = _paginate(aliases, lambda a: a["name"], p, 1, 100, 50)
        return {"Aliases": [{"AliasName": a["name"],
                             "AliasArn": self._alias_arn(account, region, a["name"]),
                             "TargetKeyId": a["target"], "CreationDate": _ts(a["created"]),
                             "LastUpdatedDate": _ts(a["updated"])} for a in page], **extra}
