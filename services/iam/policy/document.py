"""Policy documents: parsed once, validated as IAM validates them, compiled
into statements that answer "does this statement apply to this request".

`parse(text)` is lenient (resource policies stored by other services are
evaluated as they are); `validate(doc, kind)` raises `MalformedPolicy` with
IAM's `MalformedPolicyDocument` texts for the documents IAM itself accepts
(identity policies, trust policies, permissions boundaries, session policies).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache

from services.iam.policy.conditions import ConditionError, compile_block
from services.iam.policy.patterns import compile_pattern, has_variables, substitute

VERSIONS = ("2012-10-17", "2008-10-17")
_STATEMENT_FIELDS = {"sid", "effect", "action", "notaction", "resource", "notresource", "principal",
                     "notprincipal", "condition"}
_VENDOR = re.compile(r"^[a-zA-Z0-9-]+$")


class MalformedPolicy(ValueError):
    """A document IAM would refuse; `str()` is IAM's message."""


def _list(v) -> list:
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


class Principals:
    """A `Principal`/`NotPrincipal` element: "*" or {type: [ids]}."""
    __slots__ = ("everyone", "aws", "service", "federated", "canonical")

    def __init__(self, element):
        self.everyone = element == "*"
        self.aws: set[str] = set()
        self.service: set[str] = set()
        self.federated: set[str] = set()
        self.canonical: set[str] = set()
        if isinstance(element, dict):
            for kind, ids in element.items():
                vals = {str(i) for i in _list(ids)}
                k = kind.lower()
                if k == "aws":
                    if "*" in vals:
                        self.everyone = True
                    self.aws |= vals
                elif k == "service":
                    self.service |= {v.lower() for v in vals}
                elif k == "federated":
                    self.federated |= vals
                elif k == "canonicaluser":
                    self.canonical |= vals

    def match(self, caller) -> int:
        """0: no; 1: the caller's account is named (delegates to its identity
        policies); 2: the caller itself (or everyone) is named."""
        if self.everyone:
            return 2
        kind = caller.kind
        if kind == "service":
            return 2 if caller.service in self.service else 0
        if caller.federated_provider and self.federated.intersection(caller.federated_provider):
            return 2
        aws = self.aws
        if not aws:
            return 0
        if caller.arn in aws or (caller.role_arn and caller.role_arn in aws) or (
                caller.unique_id and caller.unique_id in aws):
            return 1 if kind == "root" else 2
        acct = caller.account
        if acct in aws or f"arn:aws:iam::{acct}:root" in aws:
            return 2 if kind == "root" else 1
        return 0


class Statement:
    __slots__ = ("sid", "allow", "actions", "not_actions", "resources", "not_resources", "principals",
                 "not_principals", "conditions", "_compiled")

    def __init__(self, s: dict):
        low = {str(k).lower(): v for k, v in s.items()}
        self.sid = low.get("sid")
        self.allow = str(low.get("effect", "")).lower() == "allow"
        self.actions = [compile_pattern(str(a), True) for a in _list(low.get("action"))] if "action" in low else None
        self.not_actions = ([compile_pattern(str(a), True) for a in _list(low.get("notaction"))]
                            if "notaction" in low else None)
        self.resources = [str(r) for r in _list(low.get("resource"))] if "resource" in low else None
        self.not_resources = [str(r) for r in _list(low.get("notresource"))] if "notresource" in low else None
        self.principals = Principals(low["principal"]) if "principal" in low else None
        self.not_principals = Principals(low["notprincipal"]) if "notprincipal" in low else None
        try:
            self.conditions = compile_block(low.get("condition") or {}) if isinstance(
                low.get("condition") or {}, dict) else []
        except ConditionError:
            self.conditions = None    # an unknown operator never matches
        # resources without variables are compiled once; the others per request
        self._compiled = {}
        for text in [*(self.resources or ()), *(self.not_resources or ())]:
            if not has_variables(text):
                self._compiled[text] = compile_pattern(text)

    # -- pieces -------------------------------------------------------------
    def action_matches(self, action: str, folded: str) -> bool:
        if self.actions is not None:
            return any(p.match(action, folded) for p in self.actions)
        if self.not_actions is not None:
            return not any(p.match(action, folded) for p in self.not_actions)
        return False

    def _resource_hit(self, patterns: list[str], resource: str, context) -> bool:
        compiled = self._compiled
        for text in patterns:
            p = compiled.get(text)
            if p is None:
                text = substitute(text, context)
                if text is None:
                    continue
                p = compile_pattern(text)
            if p.match(resource):
                return True
        return False

    def resource_matches(self, resource: str, context) -> bool:
        if self.resources is not None:
            return self._resource_hit(self.resources, resource, context)
        if self.not_resources is not None:
            return not self._resource_hit(self.not_resources, resource, context)
        return True      # trust policies name no resource

    def principal_match(self, caller) -> int:
        if self.principals is not None:
            return self.principals.match(caller)
        if self.not_principals is not None:
            return 0 if self.not_principals.match(caller) else 2
        return 2          # identity policies: the principal is the one they are attached to

    def conditions_hold(self, context) -> bool:
        if self.conditions is None:
            return False
        for c in self.conditions:
            if not c.holds(context):
                return False
        return True


_CLOCK_KEYS = frozenset({"aws:currenttime", "aws:epochtime"})


class Policy:
    """A parsed document: its statements (and the text it came from).

    `clocked`: some condition reads the clock, so a decision cannot be reused."""
    __slots__ = ("text", "statements", "version", "clocked")

    def __init__(self, text: str, doc: dict | None):
        self.text = text
        self.version = str((doc or {}).get("Version", "")) if isinstance(doc, dict) else ""
        stmts = doc.get("Statement") if isinstance(doc, dict) else None
        self.statements = [Statement(s) for s in _list(stmts) if isinstance(s, dict)]
        self.clocked = any(c.key in _CLOCK_KEYS for st in self.statements for c in st.conditions or ())


@lru_cache(maxsize=2048)
def parse(text: str) -> Policy:
    """A policy from its JSON text; an unreadable one has no statements."""
    try:
        doc = json.loads(text) if isinstance(text, str) else text
    except ValueError:
        doc = None
    return Policy(text, doc if isinstance(doc, dict) else None)


def parse_doc(doc: dict) -> Policy:
    return parse(json.dumps(doc, sort_keys=True))


# -- validation (IAM's own documents) ----------------------------------------

def load(text: str) -> dict:
    try:
        doc = json.loads(text)
    except (ValueError, TypeError):
        raise MalformedPolicy("Syntax errors in policy.") from None
    if not isinstance(doc, dict):
        raise MalformedPolicy("Syntax errors in policy.")
    return doc


def validate(text: str, kind: str = "identity") -> dict:
    """Check a document as IAM does for `kind` ("identity", "trust", "session")."""
    doc = load(text)
    for k in doc:
        if k not in ("Version", "Statement", "Id"):
            raise MalformedPolicy("Syntax errors in policy.")
    version = doc.get("Version")
    if version is not None and version not in VERSIONS:
        raise MalformedPolicy("The policy failed legacy parsing")
    stmts = doc.get("Statement")
    if stmts is None:
        raise MalformedPolicy("Syntax errors in policy.")
    for s in _list(stmts):
        if not isinstance(s, dict):
            raise MalformedPolicy("Syntax errors in policy.")
        _validate_statement(s, kind, version)
    return doc


def _validate_statement(s: dict, kind: str, version) -> None:
    for k in s:
        if k.lower() not in _STATEMENT_FIELDS:
            raise MalformedPolicy("Syntax errors in policy.")
    effect = s.get("Effect")
    if effect is None:
        raise MalformedPolicy("Missing required field Effect")
    if effect not in ("Allow", "Deny"):
        raise MalformedPolicy(f"Invalid effect: {effect}")
    if "Action" not in s and "NotAction" not in s:
        raise MalformedPolicy("Policy statement must contain actions.")
    if "Action" in s and "NotAction" in s:
        raise MalformedPolicy("Syntax errors in policy.")
    for a in _list(s.get("Action", s.get("NotAction"))):
        if not isinstance(a, str):
            raise MalformedPolicy("Syntax errors in policy.")
        if a != "*":
            vendor, sep, _ = a.partition(":")
            if not sep:
                raise MalformedPolicy("Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.")
            if not _VENDOR.match(vendor):
                raise MalformedPolicy(f"Vendor {vendor} is not valid")
    has_principal = "Principal" in s or "NotPrincipal" in s
    if kind == "trust":
        if not has_principal:
            raise MalformedPolicy("Missing required field Principal")
        if "Resource" in s or "NotResource" in s:
            raise MalformedPolicy("Has prohibited field Resource")
        _validate_principal(s.get("Principal", s.get("NotPrincipal")))
    else:
        if has_principal:
            raise MalformedPolicy("Has prohibited field Principal")
        if "Resource" not in s and "NotResource" not in s:
            raise MalformedPolicy("Policy statement must contain resources.")
        for r in _list(s.get("Resource", s.get("NotResource"))):
            if not isinstance(r, str):
                raise MalformedPolicy("Syntax errors in policy.")
            if r != "*" and not r.startswith("arn:"):
                raise MalformedPolicy(f"Resource {r} must be in ARN format or \"*\".")
            if version != "2012-10-17" and has_variables(r):
                raise MalformedPolicy("Policy document must be version 2012-10-17 or greater.")
    cond = s.get("Condition")
    if cond is not None:
        if not isinstance(cond, dict):
            raise MalformedPolicy("Syntax errors in policy.")
        try:
            compile_block(cond)
        except ConditionError as exc:
            raise MalformedPolicy(f"Invalid Condition type : {exc}.") from None


_ACCOUNT = re.compile(r"^\d{12}$")


def _validate_principal(p) -> None:
    if p == "*":
        return
    if not isinstance(p, dict) or not p:
        raise MalformedPolicy("Invalid principal in policy")
    for kind, ids in p.items():
        if kind not in ("AWS", "Service", "Federated", "CanonicalUser"):
            raise MalformedPolicy("Invalid principal in policy")
        for i in _list(ids):
            if not isinstance(i, str):
                raise MalformedPolicy("Invalid principal in policy")
            if kind == "AWS" and i != "*" and not _ACCOUNT.match(i) and not i.startswith("arn:aws:"):
                raise MalformedPolicy(f"Invalid principal in policy: \"AWS\":\"{i}\"")
