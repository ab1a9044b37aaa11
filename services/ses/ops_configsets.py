"""Configuration sets and their event destinations (v1 and v2 faces of one record).

A destination is stored in one canonical form: ``types`` are v2 event type
names (SEND, BOUNCE, ...), CloudWatch dimension sources v2 names
(MESSAGE_TAG, ...). SNS topics are checked (and sent AWS's validation
message) by the gateway half before the record is written.
"""

from __future__ import annotations

import re

from services.ses.errors import bad_request, config_set_missing, err, not_found, v2_already_exists
from services.ses.events import EVENT_TYPES, V1_TO_CANON
from services.ses.paging import page
from services.ses.state import CONFIG_SET

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_DESTINATIONS = 10
MAX_CONFIG_SETS = 10000
V1_SOURCE = {"messageTag": "MESSAGE_TAG", "emailHeader": "EMAIL_HEADER", "linkTag": "LINK_TAG"}
V2_TO_V1_SOURCE = {v: k for k, v in V1_SOURCE.items()}


def new_record(ctx, name: str) -> dict:
    return {"name": name, "created": ctx.now_ms(), "destinations": {}, "sending": True, "tags": [],
            "reputation": {"metrics": False}, "delivery": {"TlsPolicy": "OPTIONAL"}}


def get_cs(ns, name: str, v2: bool = False) -> dict:
    rec = ns.get(CONFIG_SET, name)
    if rec is None:
        raise not_found(f"Configuration set <{name}> does not exist.") if v2 else config_set_missing(name)
    return rec


def _check_name(name: str, v2: bool) -> None:
    if not _NAME.match(name or ""):
        msg = (f"Configuration set name <{name}> is invalid. The name must contain only ASCII letters, "
               f"numbers, underscores and dashes, and be at most 64 characters long.")
        raise bad_request(msg) if v2 else err("InvalidConfigurationSet", msg)


# -- destinations: v1/v2 <-> canonical ------------------------------------------------

def dest_from_v1(d: dict) -> dict:
    out = {"name": d["Name"], "enabled": bool(d.get("Enabled", False)),
           "types": sorted({V1_TO_CANON.get(t, t.upper()) for t in d.get("MatchingEventTypes") or []})}
    if d.get("SNSDestination"):
        out["sns"] = d["SNSDestination"]["TopicARN"]
    if d.get("CloudWatchDestination"):
        out["cloudwatch"] = [{"DimensionName": c["DimensionName"],
                              "DimensionValueSource": V1_SOURCE.get(c["DimensionValueSource"],
                                                                    c["DimensionValueSource"]),
                              "DefaultDimensionValue": c["DefaultDimensionValue"]}
                             for c in d["CloudWatchDestination"].get("DimensionConfigurations") or []]
    if d.get("KinesisFirehoseDestination"):
        k = d["KinesisFirehoseDestination"]
        out["firehose"] = {"IamRoleArn": k["IAMRoleARN"], "DeliveryStreamArn": k["DeliveryStreamARN"]}
    return out


def dest_to_v1(d: dict) -> dict:
    out = {"Name": d["name"], "Enabled": d["enabled"],
           "MatchingEventTypes": sorted(EVENT_TYPES[t][2] for t in d["types"] if t in EVENT_TYPES)}
    if d.get("firehose"):
        out["KinesisFirehoseDestination"] = {"IAMRoleARN": d["firehose"]["IamRoleArn"],
                                             "DeliveryStreamARN": d["firehose"]["DeliveryStreamArn"]}
    if d.get("cloudwatch") is not None:
        out["CloudWatchDestination"] = {"DimensionConfigurations": [
            {"DimensionName": c["DimensionName"],
             "DimensionValueSource": V2_TO_V1_SOURCE.get(c["DimensionValueSource"], c["DimensionValueSource"]),
             "DefaultDimensionValue": c["DefaultDimensionValue"]} for c in d["cloudwatch"]]}
    if d.get("sns"):
        out["SNSDestination"] = {"TopicARN": d["sns"]}
    return out


def dest_from_v2(name: str, d: dict, old: dict | None = None) -> dict:
    out = dict(old or {"name": name, "enabled": False, "types": []})
    if "Enabled" in d:
        out["enabled"] = bool(d["Enabled"])
    if "MatchingEventTypes" in d:
        out["types"] = sorted(set(d["MatchingEventTypes"]))
    for key, field in (("SnsDestination", "sns"), ("EventBridgeDestination", "eventbridge"),
                       ("PinpointDestination", "pinpoint"), ("KinesisFirehoseDestination", "firehose"),
                       ("CloudWatchDestination", "cloudwatch")):
        if d.get(key) is not None:
            for f in ("sns", "eventbridge", "pinpoint", "firehose", "cloudwatch"):
                out.pop(f, None)
            v = d[key]
            out[field] = (v["TopicArn"] if field == "sns" else v["EventBusArn"] if field == "eventbridge"
                          else v.get("ApplicationArn") if field == "pinpoint"
                          else dict(v) if field == "firehose" else list(v.get("DimensionConfigurations") or []))
    return out


def dest_to_v2(d: dict) -> dict:
    out = {"Name": d["name"], "Enabled": d["enabled"], "MatchingEventTypes": list(d["types"])}
    if d.get("firehose"):
        out["KinesisFirehoseDestination"] = dict(d["firehose"])
    if d.get("cloudwatch") is not None:
        out["CloudWatchDestination"] = {"DimensionConfigurations": list(d["cloudwatch"])}
    if d.get("sns"):
        out["SnsDestination"] = {"TopicArn": d["sns"]}
    if d.get("eventbridge"):
        out["EventBridgeDestination"] = {"EventBusArn": d["eventbridge"]}
    if d.get("pinpoint"):
        out["PinpointDestination"] = {"ApplicationArn": d["pinpoint"]}
    return out


def _add_destination(ns, cs: dict, dest: dict, v2: bool) -> None:
    if dest["name"] in cs["destinations"]:
        msg = f"Event destination {dest['name']} already exists."
        raise v2_already_exists(msg) if v2 else err("EventDestinationAlreadyExists", msg)
    if len(cs["destinations"]) >= MAX_DESTINATIONS:
        msg = f"Configuration set <{cs['name']}> already has {MAX_DESTINATIONS} event destinations."
        raise err("LimitExceededException" if v2 else "LimitExceeded", msg)
    cs["destinations"][dest["name"]] = dest
    ns.put(CONFIG_SET, cs["name"], cs)


# -- v1 --------------------------------------------------------------------------------

def create_configuration_set(ctx, ns, p):
    name = p["ConfigurationSet"]["Name"]
    _check_name(name, False)
    if ns.get(CONFIG_SET, name) is not None:
        raise err("ConfigurationSetAlreadyExists", f"Configuration set <{name}> already exists.")
    if len(ns.tables[CONFIG_SET]) >= MAX_CONFIG_SETS:
        raise err("LimitExceeded", "Maximum number of configuration sets exceeded.")
    ns.put(CONFIG_SET, name, new_record(ctx, name))
    return {}


def delete_configuration_set(ctx, ns, p):
    get_cs(ns, p["ConfigurationSetName"])
    ns.delete(CONFIG_SET, p["ConfigurationSetName"])
    return {}


def describe_configuration_set(ctx, ns, p):
    cs = get_cs(ns, p["ConfigurationSetName"])
    want = set(p.get("ConfigurationSetAttributeNames") or [])
    out: dict = {"ConfigurationSet": {"Name": cs["name"]}}
    if "eventDestinations" in want:
        out["EventDestinations"] = [dest_to_v1(d) for d in cs["destinations"].values()]
    if "trackingOptions" in want and cs.get("tracking"):
        out["TrackingOptions"] = {"CustomRedirectDomain": cs["tracking"]["CustomRedirectDomain"]}
    if "deliveryOptions" in want:
        out["DeliveryOptions"] = {"TlsPolicy": cs["delivery"].get("TlsPolicy", "OPTIONAL").capitalize()}
    if "reputationOptions" in want:
        rep = {"SendingEnabled": cs["sending"], "ReputationMetricsEnabled": cs["reputation"]["metrics"]}
        if cs["reputation"].get("fresh"):
            rep["LastFreshStart"] = cs["reputation"]["fresh"] / 1000.0
        out["ReputationOptions"] = rep
    return out


def list_configuration_sets(ctx, ns, p):
    names, token = page(sorted(ns.tables[CONFIG_SET]), p.get("NextToken"), p.get("MaxItems"), 1000, 1000)
    return {"ConfigurationSets": [{"Name": n} for n in names], **({"NextToken": token} if token else {})}


def create_event_destination(ctx, ns, p):
    cs = get_cs(ns, p["ConfigurationSetName"])
    _add_destination(ns, cs, dest_from_v1(p["EventDestination"]), False)
    return {}


def update_event_destination(ctx, ns, p):
    cs = get_cs(ns, p["ConfigurationSetName"])
    dest = dest_from_v1(p["EventDestination"])
    if dest["name"] not in cs["destinations"]:
        raise err("EventDestinationDoesNotExist", f"No EventDestination found for {cs['name']}")
    cs["destinations"][dest["name"]] = dest
    ns.put(CONFIG_SET, cs["name"], cs)
    return {}


def delete_event_destination(ctx, ns, p, v2: bool = False):
    cs = get_cs(ns, p["ConfigurationSetName"], v2)
    name = p["EventDestinationName"]
    if cs["destinations"].pop(name, None) is None:
        if v2:
            raise not_found(f"Event destination {name} does not exist.")
        raise err("EventDestinationDoesNotExist", f"No EventDestination found for {cs['name']}")
    ns.put(CONFIG_SET, cs["name"], cs)
    return {}


def _tracking(ctx, ns, p, mode: str):
    cs = get_cs(ns, p["ConfigurationSetName"])
    has = bool(cs.get("tracking"))
    if mode == "create" and has:
        raise err("TrackingOptionsAlreadyExistsException",
                  f"Tracking options already exist for configuration set <{cs['name']}>.")
    if mode != "create" and not has:
        raise err("TrackingOptionsDoesNotExistException",
                  f"Tracking options do not exist for configuration set <{cs['name']}>.")
    if mode == "delete":
        cs.pop("tracking", None)
    else:
        cs["tracking"] = {"CustomRedirectDomain": (p.get("TrackingOptions") or {}).get("CustomRedirectDomain", "")}
    ns.put(CONFIG_SET, cs["name"], cs)
    return {}


def _set(ctx, ns, p, field: str, value, v2: bool = False):
    cs = get_cs(ns, p["ConfigurationSetName"], v2)
    if field == "metrics":
        cs["reputation"]["metrics"] = bool(value)
    else:
        cs[field] = value
    ns.put(CONFIG_SET, cs["name"], cs)
    return {}


V1 = {
    "CreateConfigurationSet": create_configuration_set, "DeleteConfigurationSet": delete_configuration_set,
    "DescribeConfigurationSet": describe_configuration_set, "ListConfigurationSets": list_configuration_sets,
    "CreateConfigurationSetEventDestination": create_event_destination,
    "UpdateConfigurationSetEventDestination": update_event_destination,
    "DeleteConfigurationSetEventDestination": delete_event_destination,
    "CreateConfigurationSetTrackingOptions": lambda c, n, p: _tracking(c, n, p, "create"),
    "UpdateConfigurationSetTrackingOptions": lambda c, n, p: _tracking(c, n, p, "update"),
    "DeleteConfigurationSetTrackingOptions": lambda c, n, p: _tracking(c, n, p, "delete"),
    "PutConfigurationSetDeliveryOptions": lambda c, n, p: _set(
        c, n, p, "delivery", {"TlsPolicy": ((p.get("DeliveryOptions") or {}).get("TlsPolicy") or "Optional").upper()}),
    "UpdateConfigurationSetReputationMetricsEnabled": lambda c, n, p: _set(c, n, p, "metrics", p["Enabled"]),
    "UpdateConfigurationSetSendingEnabled": lambda c, n, p: _set(c, n, p, "sending", bool(p["Enabled"])),
}


# -- v2 --------------------------------------------------------------------------------

def v2_create_configuration_set(ctx, ns, p):
    name = p["ConfigurationSetName"]
    _check_name(name, True)
    if ns.get(CONFIG_SET, name) is not None:
        raise v2_already_exists(f"Configuration set <{name}> already exists.")
    rec = new_record(ctx, name)
    if p.get("TrackingOptions"):
        rec["tracking"] = dict(p["TrackingOptions"])
    if p.get("DeliveryOptions"):
        rec["delivery"] = {"TlsPolicy": "OPTIONAL", **p["DeliveryOptions"]}
    if p.get("ReputationOptions"):
        rec["reputation"] = {"metrics": bool(p["ReputationOptions"].get("ReputationMetricsEnabled", False))}
    if p.get("SendingOptions"):
        rec["sending"] = bool(p["SendingOptions"].get("SendingEnabled", True))
    if p.get("SuppressionOptions") is not None:
        rec["suppression"] = dict(p["SuppressionOptions"])
    for key in ("VdmOptions", "ArchivingOptions"):
        if p.get(key):
            rec[key] = p[key]
    rec["tags"] = [dict(t) for t in p.get("Tags") or []]
    ns.put(CONFIG_SET, name, rec)
    return {}


def v2_get_configuration_set(ctx, ns, p):
    cs = get_cs(ns, p["ConfigurationSetName"], True)
    out = {"ConfigurationSetName": cs["name"], "DeliveryOptions": dict(cs["delivery"]),
           "ReputationOptions": {"ReputationMetricsEnabled": cs["reputation"]["metrics"]},
           "SendingOptions": {"SendingEnabled": cs["sending"]}, "Tags": list(cs["tags"])}
    if cs["reputation"].get("fresh"):
        out["ReputationOptions"]["LastFreshStart"] = cs["reputation"]["fresh"] / 1000.0
    if cs.get("tracking"):
        out["TrackingOptions"] = dict(cs["tracking"])
    if cs.get("suppression") is not None:
        out["SuppressionOptions"] = dict(cs["suppression"])
    for key in ("VdmOptions", "ArchivingOptions"):
        if cs.get(key):
            out[key] = cs[key]
    return out


def v2_delete_configuration_set(ctx, ns, p):
    get_cs(ns, p["ConfigurationSetName"], True)
    ns.delete(CONFIG_SET, p["ConfigurationSetName"])
    return {}


def v2_list_configuration_sets(ctx, ns, p):
    names, token = page(sorted(ns.tables[CONFIG_SET]), p.get("NextToken"), p.get("PageSize"), 100, 1000, True)
    return {"ConfigurationSets": names, **({"NextToken": token} if token else {})}


def v2_create_event_destination(ctx, ns, p):
    cs = get_cs(ns, p["ConfigurationSetName"], True)
    _add_destination(ns, cs, dest_from_v2(p["EventDestinationName"], p["EventDestination"]), True)
    return {}


def v2_update_event_destination(ctx, ns, p):
    cs = get_cs(ns, p["ConfigurationSetName"], True)
    name = p["EventDestinationName"]
    old = cs["destinations"].get(name)
    if old is None:
        raise not_found(f"Event destination {name} does not exist.")
    cs["destinations"][name] = dest_from_v2(name, p["EventDestination"], old)
    ns.put(CONFIG_SET, cs["name"], cs)
    return {}


def v2_get_event_destinations(ctx, ns, p):
    cs = get_cs(ns, p["ConfigurationSetName"], True)
    return {"EventDestinations": [dest_to_v2(d) for d in cs["destinations"].values()]}


def _v2_put(field: str, build):
    def op(ctx, ns, p):
        cs = get_cs(ns, p["ConfigurationSetName"], True)
        value = build(p, cs)
        if value is None:
            cs.pop(field, None)
        else:
            cs[field] = value
        ns.put(CONFIG_SET, cs["name"], cs)
        return {}
    return op


def _pick(p: dict, *keys) -> dict:
    return {k: p[k] for k in keys if p.get(k) is not None}


V2 = {
    "CreateConfigurationSet": v2_create_configuration_set, "GetConfigurationSet": v2_get_configuration_set,
    "DeleteConfigurationSet": v2_delete_configuration_set, "ListConfigurationSets": v2_list_configuration_sets,
    "CreateConfigurationSetEventDestination": v2_create_event_destination,
    "UpdateConfigurationSetEventDestination": v2_update_event_destination,
    "DeleteConfigurationSetEventDestination": lambda c, n, p: delete_event_destination(c, n, p, True),
    "GetConfigurationSetEventDestinations": v2_get_event_destinations,
    "PutConfigurationSetDeliveryOptions": _v2_put("delivery", lambda p, cs: {
        "TlsPolicy": p.get("TlsPolicy") or "OPTIONAL",
        **_pick(p, "SendingPoolName", "MaxDeliverySeconds", "SharedPoolDeliveryMode")}),
    "PutConfigurationSetReputationOptions": _v2_put("reputation", lambda p, cs: {
        **cs["reputation"], "metrics": bool(p.get("ReputationMetricsEnabled", False))}),
    "PutConfigurationSetSendingOptions": _v2_put("sending", lambda p, cs: bool(p.get("SendingEnabled", False))),
    "PutConfigurationSetSuppressionOptions": _v2_put("suppression", lambda p, cs: _pick(
        p, "SuppressedReasons", "SuppressionScope", "ValidationOptions")),
    "PutConfigurationSetTrackingOptions": _v2_put("tracking", lambda p, cs: _pick(
        p, "CustomRedirectDomain", "HttpsPolicy") or None),
    "PutConfigurationSetVdmOptions": _v2_put("VdmOptions", lambda p, cs: p.get("VdmOptions") or None),
    "PutConfigurationSetArchivingOptions": _v2_put("ArchivingOptions", lambda p, cs: _pick(p, "ArchiveArn") or None),
}
