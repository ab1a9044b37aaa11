"""Publishing at the bus owner: match once, record one delivery per target.

``op_Put`` runs where the bus lives. Every event is matched against the
bus's rule index; each matched rule's targets get one durable delivery
(kind ``events.target``, see delivery.py) in the same group commit as the
publish, so an acknowledged PutEvents survives a crash and fans out
afterwards. Archives on the bus receive the event through one ``call``
delivery per archive and publish call.
"""

from __future__ import annotations

import json

from broker.runtime import sinks, telemetry

from . import transform
from .names import parse_arn, bus_key, ns_key

NAMESPACE = "AWS/Events"
DEFAULT_RETRIES = 185
DEFAULT_MAX_AGE = 86_400


def dumps(event: dict) -> str:
    return json.dumps(event, separators=(",", ":"))


def retry_policy(t: dict) -> dict:
    rp = t.get("RetryPolicy") or {}
    retries = rp.get("MaximumRetryAttempts", DEFAULT_RETRIES)
    age = rp.get("MaximumEventAgeInSeconds", DEFAULT_MAX_AGE)
    # exponential back-off with jitter, as EventBridge: 1 s doubling, at most 3 minutes apart
    return sinks.policy(backoff=(retries, 1.0, 180.0, "exponential"), max_age_s=age, jitter=True)


def target_spec(t: dict, rule_arn: str, account: str, region: str) -> dict:
    """The delivery target record: what the handler needs, nothing else."""
    arn = t["Arn"]
    p = parse_arn(arn)
    spec = {"arn": arn, "id": t["Id"], "rule": rule_arn, "a": account, "r": region,
            "svc": p[0] if p else "", "res": p[3] if p else "", "ta": (p[2] if p else "") or account,
            "tr": (p[1] if p else "") or region}
    sqs = t.get("SqsParameters")
    if sqs and sqs.get("MessageGroupId"):
        spec["group"] = sqs["MessageGroupId"]
    if t.get("HttpParameters"):
        spec["http"] = t["HttpParameters"]
    if t.get("RoleArn"):
        spec["role"] = t["RoleArn"]
    return spec


class Publisher:
    """PutEvents at the owner (mixed into the shard half)."""

    def op_Put(self, a):
        """Publish events to the bus at ``k``. ``strict``: a missing bus is an error
        (bus-to-bus forwarding), else the events are dropped as AWS does for
        PutEvents to a bus that does not exist."""
        bus = self._bus(a["k"])
        if bus is None:
            if a.get("strict"):
                from .names import bus_not_found
                raise bus_not_found(a["k"].rsplit("/", 1)[1])
            return {"n": 0}
        only = set(a["rules"]) if a.get("rules") else None
        replay = a.get("replay")
        trace = a.get("trace") or []
        hop = a.get("hop")
        archived: dict[str, list] = {}
        matched = 0
        for i, ev in enumerate(a["ev"]):
            if replay:
                ev = _with_replay_name(ev, replay)
            dests = bus.matcher.match_flat(bus.matcher.flatten(ev))
            tr = trace[i] if i < len(trace) else None
            hit = False
            for d in dests:
                if isinstance(d, str):
                    if only is not None and d not in only:
                        continue
                    rule = bus.rules.get(d)
                    if rule is not None:
                        hit = True
                        self.fan_out(bus, rule, ev, tr, hop)
                elif not replay:
                    archived.setdefault(d[1], []).append(ev)
            if not replay:
                for name in bus.archive_all:
                    archived.setdefault(name, []).append(ev)
            matched += hit
        rec = bus.rec
        if matched:
            telemetry.metric(NAMESPACE, "MatchedEvents", {"EventBusName": bus.name}, matched,
                             account=rec["a"], region=rec["r"])
        for name, events in archived.items():
            nkey = ns_key(rec["a"], rec["r"])
            sinks.deliveries(self.part).submit(
                "call", {"key": nkey, "op": "events.ArchiveEvents", "give_up": ["ResourceNotFoundException"]},
                {"k": nkey, "archive": name, "ev": events})
        return {"n": matched}

    def fan_out(self, bus, rule: dict, ev: dict, trace: str | None, hop: dict | None = None) -> None:
        rec = bus.rec
        account, region = rec["a"], rec["r"]
        rarn = bus.rule_arn(rule["n"])
        targets = rule.get("t") or ()
        telemetry.metric(NAMESPACE, "TriggeredRules", {"RuleName": rule["n"], "EventBusName": bus.name}, 1,
                         account=account, region=region)
        if not targets:
            return
        event_text = None
        d = sinks.deliveries(self.part)
        for t in targets:
            spec = target_spec(t, rarn, account, region)
            if hop:
                spec["hop"] = hop
            body = {"p": transform.payload(t, ev, rule_arn=rarn, rule_name=rule["n"])}
            dlc = (t.get("DeadLetterConfig") or {}).get("Arn")
            dlq = None
            if dlc:
                if event_text is None:
                    event_text = dumps(ev)
                body["e"] = event_text
                dlq = {"kind": "events.dlq",
                       "target": {"arn": dlc, "rule": rarn, "target": t["Arn"], "a": account, "r": region,
                                  "max": (t.get("RetryPolicy") or {}).get("MaximumRetryAttempts",
                                                                         DEFAULT_RETRIES)},
                       "policy": sinks.policy(backoff=(10, 1.0, 60.0, "exponential"))}
            if spec["svc"] == "events" and spec["res"].startswith("event-bus/"):
                body["ev"] = ev       # bus-to-bus forwards the event itself
            pace = None
            if spec["svc"] == "events" and spec["res"].startswith("api-destination/"):
                pace = (t["Arn"], self.destination_rate(t["Arn"], t.get("_rate")))
            order = f"{t['Arn']}|{spec['group']}" if spec.get("group") and t["Arn"].endswith(".fifo") else None
            d.submit("events.target", spec, body, policy=retry_policy(t), dlq=dlq, pace=pace, order=order,
                     meta={"eid": ev.get("id"), "trace": trace, "rn": rule["n"], "bus": bus.name})

    def destination_rate(self, arn: str, stored: float | None) -> float:
        """The destination's InvocationRateLimitPerSecond: as last fetched by a
        delivery in this process, else as it was when the target was put."""
        from .delivery import destination_cache
        info = destination_cache.get(arn)
        if info and info[1]:
            return float(info[1].get("rate", 300))
        return float(stored or 300)


def _with_replay_name(ev: dict, name: str) -> dict:
    out = {}
    for k, v in ev.items():
        out[k] = v
        if k == "region":
            out["replay-name"] = name
    out.setdefault("replay-name", name)
    return out


__all__ = ["Publisher", "bus_key", "dumps", "target_spec", "retry_policy"]
