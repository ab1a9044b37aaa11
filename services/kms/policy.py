"""Key policies (default, AWS managed, Get/Put/ListKeyPolicies) and resource tags."""

from __future__ import annotations

import json
import re
from typing import Any

from .model import AWS_MANAGED_SERVICES, MAX_TAGS
from .pagination import _paginate
from .validation import _err, _required, _validation


def _default_policy(account: str) -> str:
    return ('{\n  "Version" : "2012-10-17",\n  "Id" : "key-default-1",\n  "Statement" : [ {\n'
            '    "Sid" : "Enable IAM User Permissions",\n    "Effect" : "Allow",\n'
            f'    "Principal" : {{\n      "AWS" : "arn:aws:iam::{account}:root"\n    }},\n'
            '    "Action" : "kms:*",\n    "Resource" : "*"\n  } ]\n}')


def _managed_policy(account: str, region: str, service: str) -> str:
    display = AWS_MANAGED_SERVICES.get(service, service)
    return json.dumps({
        "Version": "2012-10-17",
        "Id": f"auto-{service}-2",
        "Statement": [
            {"Sid": f"Allow access through {display} for all principals in the account that "
                    f"are authorized to use {display}",
             "Effect": "Allow", "Principal": {"AWS": "*"},
             "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                        "kms:CreateGrant", "kms:DescribeKey"],
             "Resource": "*",
             "Condition": {"StringEquals": {"kms:CallerAccount": account,
                                            "kms:ViaService": f"{service}.{region}.amazonaws.com"}}},
            {"Sid": "Allow direct access to key metadata to the account",
             "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
             "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"],
             "Resource": "*"},
        ],
    }, indent=2)


class PolicyMixin:
    """Policy and tag operations of `KmsBackend`."""

    # ================================================================== policies

    def _validate_policy(self, policy: Any) -> None:
        if not isinstance(policy, str) or not policy:
            raise _validation("1 validation error detected: Value null at 'policy' failed to "
                              "satisfy constraint: Member must not be null")
        if len(policy) > 32768:
            raise _validation("1 validation error detected: Value at 'policy' failed to satisfy "
                              "constraint: Member must have length less than or equal to 32768")
        try:
            doc = json.loads(policy)
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or "Statement" not in doc:
            raise _err("MalformedPolicyDocumentException",
                       "The new key policy will not allow you to update the key policy in the "
                       "future." if isinstance(doc, dict) else
                       "The request was rejected because the specified policy is not "
                       "syntactically or semantically correct.")

    def _policy_name(self, p: dict) -> str:
        name = p.get("PolicyName") or "default"
        if not re.match(r"^[\w]+$", name) or len(name) > 128:
            raise _validation(f"1 validation error detected: Value '{name}' at 'policyName' "
                              f"failed to satisfy constraint: Member must satisfy regular "
                              f"expression pattern: [\\w]+")
        return name

    def _op_get_key_policy(self, ns, account, region, p):
        key = self._resolve(ns, account, region, _required(p, "KeyId"))
        name = self._policy_name(p)
        if name != "default":
            raise _err("NotFoundException", "No such policy exists")
        return {"Policy": key.policy, "PolicyName": "default"}

    def _op_put_key_policy(self, ns, account, region, p):
        key = self._resolve(ns, account, region, _required(p, "KeyId"))
        name = self._policy_name(p)
        policy = p.get("Policy")
        self._validate_policy(policy)
        if name != "default":
            raise _err("UnsupportedOperationException", "Only the default policy is supported.")
        self._check_mutable(key)
        key.policy = policy
        self._save_key(key)
        return {}

    def _op_list_key_policies(self, ns, account, region, p):
        self._resolve(ns, account, region, _required(p, "KeyId"))
        page, extra = _paginate(["default"], lambda n: n, p, 1, 1000, 100)
        return {"PolicyNames": page, **extra}

    # ------------------------------------------------------------------ tag validation

    def _validate_tags(self, tags: Any) -> list[tuple[str, str]]:
        if not isinstance(tags, list):
            raise _validation("Tags must be a list")
        out: list[tuple[str, str]] = []
        seen: set[str] = set()
        for i, tag in enumerate(tags, start=1):
            k, v = tag.get("TagKey"), tag.get("TagValue")
            if k is None:
                raise _validation(f"1 validation error detected: Value null at "
                                  f"'tags.{i}.member.tagKey' failed to satisfy constraint: "
                                  f"Member must not be null")
            if v is None:
                raise _validation(f"1 validation error detected: Value null at "
                                  f"'tags.{i}.member.tagValue' failed to satisfy constraint: "
                                  f"Member must not be null")
            if not 1 <= len(k) <= 128:
                raise _validation(f"1 validation error detected: Value '{k}' at "
                                  f"'tags.{i}.member.tagKey' failed to satisfy constraint: "
                                  f"Member must have length less than or equal to 128"
                                  if k else
                                  f"1 validation error detected: Value '' at "
                                  f"'tags.{i}.member.tagKey' failed to satisfy constraint: "
                                  f"Member must have length greater than or equal to 1")
            if len(v) > 256:
                raise _validation(f"1 validation error detected: Value '{v}' at "
                                  f"'tags.{i}.member.tagValue' failed to satisfy constraint: "
                                  f"Member must have length less than or equal to 256")
            if k.lower().startswith("aws:"):
                raise _err("TagException", "Tags beginning with aws: are reserved")
            if k in seen:
                raise _err("TagException", "Duplicate tag keys")
            seen.add(k)
            out.append((k, v))
        return out

    def _apply_tags(self, current: dict, new: list[tuple[str, str]]) -> dict:
        merged = dict(current)
        for k, v in new:
            merged[k] = v
        if len(merged) > MAX_TAGS:
            raise _err("TagException", "Too many tags")
        return merged

    # ================================================================== operations: tags

    def _op_tag_resource(self, ns, account, region, p):
        key = self._resolve(ns, account, region, _required(p, "KeyId"), allow_alias=False)
        tags = self._validate_tags(_required(p, "Tags"))
        self._check_state(key, disabled=True)
        self._check_mutable(key)
        key.tags = self._apply_tags(key.tags, tags)
        self._save_key(key)
        return {}

    def _op_untag_resource(self, ns, account, region, p):
        key = self._resolve(ns, account, region, _required(p, "KeyId"), allow_alias=False)
        keys = _required(p, "TagKeys")
        for i, k in enumerate(keys, start=1):
            if not isinstance(k, str) or not 1 <= len(k) <= 128:
                raise _validation(f"1 validation error detected: Value '{k}' at "
                                  f"'tagKeys.{i}.member' failed to satisfy constraint: Member "
                                  f"must have length less than or equal to 128")
            if k.lower().startswith("aws:"):
                raise _err("TagException", "Tags beginning with aws: are reserved")
        self._check_state(key, disabled=True)
        self._check_mutable(key)
        for k in keys:
            key.tags.pop(k, None)
        self._save_key(key)
        return {}

    def _op_list_resource_tags(self, ns, account, region, p):
        key = self._resolve(ns, account, region, _required(p, "KeyId"), allow_alias=False)
        tags = [{"TagKey": k, "TagValue": v} for k, v in key.tags.items()]
        page, extra = _paginate(tags, lambda t: t["TagKey"], p, 1, 50, 50, ordered=False)
        return {"Tags": page, **extra}
