"""Receipt rule sets, rules and IP filters (v1), and the active rule set."""

from __future__ import annotations

import ipaddress
import re

from services.ses.errors import already_exists, err, invalid_parameter, rule_missing, rule_set_missing
from services.ses.state import FILTER, RULE_SET

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_RULE_SETS = 40
MAX_RULES = 200
MAX_RECIPIENTS = 100
MAX_FILTERS = 100
ACTIONS = ("S3Action", "BounceAction", "WorkmailAction", "LambdaAction", "StopAction", "AddHeaderAction",
           "SNSAction", "ConnectAction")


def _check_name(name: str, what: str) -> None:
    if not _NAME.match(name or "") or name[-1] in "._-":
        raise invalid_parameter(f"Invalid {what} name <{name}>: the name must start and end with a letter or "
                                f"number, contain only ASCII letters, numbers, periods, underscores and dashes, "
                                f"and be at most 64 characters long.")


def _rule_set(ns, name: str) -> dict:
    rs = ns.get(RULE_SET, name)
    if rs is None:
        raise rule_set_missing(name)
    return rs


def _normalize_rule(rule: dict) -> dict:
    _check_name(rule["Name"], "rule")
    recipients = list(rule.get("Recipients") or [])
    if len(recipients) > MAX_RECIPIENTS:
        raise err("LimitExceeded", f"A rule can have at most {MAX_RECIPIENTS} recipients.")
    actions = []
    for a in rule.get("Actions") or []:
        kinds = [k for k in ACTIONS if a.get(k) is not None]
        if len(kinds) != 1:
            raise invalid_parameter("Each receipt rule action must specify exactly one action type.")
        body = dict(a[kinds[0]])
        if kinds[0] == "SNSAction" and not body.get("Encoding"):
            body["Encoding"] = "UTF-8"
        if kinds[0] == "StopAction" and not body.get("Scope"):
            body["Scope"] = "RuleSet"
        actions.append({kinds[0]: body})
    out = {"Name": rule["Name"], "Enabled": bool(rule.get("Enabled", False)),
           "TlsPolicy": rule.get("TlsPolicy") or "Optional"}
    if recipients:
        out["Recipients"] = recipients
    out["Actions"] = actions
    out["ScanEnabled"] = bool(rule.get("ScanEnabled", False))
    return out


def _index(rs: dict, name: str) -> int:
    for i, r in enumerate(rs["rules"]):
        if r["Name"] == name:
            return i
    raise rule_missing(name)


def _insert(rs: dict, rule: dict, after: str | None) -> None:
    pos = _index(rs, after) + 1 if after else 0
    rs["rules"].insert(pos, rule)


# -- rule sets ----------------------------------------------------------------------

def create_receipt_rule_set(ctx, ns, p):
    name = p["RuleSetName"]
    _check_name(name, "rule set")
    if ns.get(RULE_SET, name) is not None:
        raise already_exists(f"Rule set already exists: {name}")
    if len(ns.tables[RULE_SET]) >= MAX_RULE_SETS:
        raise err("LimitExceeded", f"Maximum number of receipt rule sets ({MAX_RULE_SETS}) exceeded.")
    ns.put(RULE_SET, name, {"name": name, "created": ctx.now_ms(), "rules": []})
    return {}


def clone_receipt_rule_set(ctx, ns, p):
    src = _rule_set(ns, p["OriginalRuleSetName"])
    create_receipt_rule_set(ctx, ns, {"RuleSetName": p["RuleSetName"]})
    rs = ns.get(RULE_SET, p["RuleSetName"])
    rs["rules"] = [dict(r) for r in src["rules"]]
    ns.put(RULE_SET, rs["name"], rs)
    return {}


def delete_receipt_rule_set(ctx, ns, p):
    name = p["RuleSetName"]
    if ns.setting("active_rule_set") == name:
        raise err("CannotDelete", f"Cannot delete active rule set: {name}")
    ns.delete(RULE_SET, name)
    return {}


def _describe(rs: dict) -> dict:
    return {"Metadata": {"Name": rs["name"], "CreatedTimestamp": rs["created"] / 1000.0},
            "Rules": [dict(r) for r in rs["rules"]]}


def describe_receipt_rule_set(ctx, ns, p):
    return _describe(_rule_set(ns, p["RuleSetName"]))


def describe_active_receipt_rule_set(ctx, ns, p):
    name = ns.setting("active_rule_set")
    rs = ns.get(RULE_SET, name) if name else None
    return _describe(rs) if rs else {}


def list_receipt_rule_sets(ctx, ns, p):
    sets = sorted(ns.items(RULE_SET))
    return {"RuleSets": [{"Name": n, "CreatedTimestamp": r["created"] / 1000.0} for n, r in sets]}


def set_active_receipt_rule_set(ctx, ns, p):
    name = p.get("RuleSetName")
    if name:
        _rule_set(ns, name)
    ns.set("active_rule_set", name or None)
    return {}


def reorder_receipt_rule_set(ctx, ns, p):
    rs = _rule_set(ns, p["RuleSetName"])
    names = p["RuleNames"]
    by_name = {r["Name"]: r for r in rs["rules"]}
    for n in names:
        if n not in by_name:
            raise rule_missing(n)
    if set(names) != set(by_name) or len(names) != len(by_name):
        raise invalid_parameter("The rule names must include every rule of the rule set exactly once.")
    rs["rules"] = [by_name[n] for n in names]
    ns.put(RULE_SET, rs["name"], rs)
    return {}


# -- rules ----------------------------------------------------------------------------

def create_receipt_rule(ctx, ns, p):
    rs = _rule_set(ns, p["RuleSetName"])
    rule = _normalize_rule(p["Rule"])
    if any(r["Name"] == rule["Name"] for r in rs["rules"]):
        raise already_exists(f"Rule already exists: {rule['Name']}")
    if len(rs["rules"]) >= MAX_RULES:
        raise err("LimitExceeded", f"A rule set can have at most {MAX_RULES} rules.")
    _insert(rs, rule, p.get("After"))
    ns.put(RULE_SET, rs["name"], rs)
    return {}


def update_receipt_rule(ctx, ns, p):
    rs = _rule_set(ns, p["RuleSetName"])
    rule = _normalize_rule(p["Rule"])
    rs["rules"][_index(rs, rule["Name"])] = rule
    ns.put(RULE_SET, rs["name"], rs)
    return {}


def delete_receipt_rule(ctx, ns, p):
    rs = _rule_set(ns, p["RuleSetName"])
    rs["rules"] = [r for r in rs["rules"] if r["Name"] != p["RuleName"]]
    ns.put(RULE_SET, rs["name"], rs)
    return {}


def describe_receipt_rule(ctx, ns, p):
    rs = _rule_set(ns, p["RuleSetName"])
    return {"Rule": dict(rs["rules"][_index(rs, p["RuleName"])])}


def set_receipt_rule_position(ctx, ns, p):
    rs = _rule_set(ns, p["RuleSetName"])
    rule = rs["rules"].pop(_index(rs, p["RuleName"]))
    try:
        _insert(rs, rule, p.get("After"))
    except Exception:
        rs["rules"].insert(0, rule)
        raise
    ns.put(RULE_SET, rs["name"], rs)
    return {}


# -- IP filters --------------------------------------------------------------------------

def create_receipt_filter(ctx, ns, p):
    f = p["Filter"]
    _check_name(f["Name"], "filter")
    ip = f["IpFilter"]
    try:
        ipaddress.ip_network(ip["Cidr"], strict=False)
    except ValueError:
        raise invalid_parameter(f"Invalid CIDR: {ip['Cidr']}") from None
    if ns.get(FILTER, f["Name"]) is not None:
        raise already_exists(f"Filter already exists: {f['Name']}")
    if len(ns.tables[FILTER]) >= MAX_FILTERS:
        raise err("LimitExceeded", f"Maximum number of receipt filters ({MAX_FILTERS}) exceeded.")
    ns.put(FILTER, f["Name"], {"Name": f["Name"], "IpFilter": {"Policy": ip["Policy"], "Cidr": ip["Cidr"]}})
    return {}


V1 = {
    "CreateReceiptRuleSet": create_receipt_rule_set, "CloneReceiptRuleSet": clone_receipt_rule_set,
    "DeleteReceiptRuleSet": delete_receipt_rule_set, "DescribeReceiptRuleSet": describe_receipt_rule_set,
    "DescribeActiveReceiptRuleSet": describe_active_receipt_rule_set,
    "ListReceiptRuleSets": list_receipt_rule_sets, "SetActiveReceiptRuleSet": set_active_receipt_rule_set,
    "ReorderReceiptRuleSet": reorder_receipt_rule_set, "CreateReceiptRule": create_receipt_rule,
    "UpdateReceiptRule": update_receipt_rule, "DeleteReceiptRule": delete_receipt_rule,
    "DescribeReceiptRule": describe_receipt_rule, "SetReceiptRulePosition": set_receipt_rule_position,
    "CreateReceiptFilter": create_receipt_filter,
    "DeleteReceiptFilter": lambda ctx, ns, p: ns.delete(FILTER, p["FilterName"]) and {} or {},
    "ListReceiptFilters": lambda ctx, ns, p: {"Filters": [dict(r) for _, r in sorted(ns.items(FILTER))]},
}
