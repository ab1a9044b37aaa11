"""SNS shard half: the topics of one partition, their subscriptions, publish
and fan-out. Ops are ``sns.<Name>`` with compact args built by the gateway
half (services/sns/api.py); writes are committed before the reply leaves.

Publish commits one record per matched message and returns; deliveries are
submitted after that commit (services/sns/fanout.py) and attempted by the
delivery kinds in services/sns/delivery.py.
"""

from __future__ import annotations

import hashlib
import logging

from broker.core.ids import uuid4
from broker.runtime import sinks, telemetry
from services.sns import attributes as A
from services.sns import delivery  # noqa: F401  (registers the sns.* delivery kinds in this process)
from services.sns.arns import make_token
from services.sns.envelope import subscribe_text, unsubscribe_text
from services.sns.errors import err, invalid, resource_not_found, subscription_not_found, topic_not_found
from services.sns.fanout import DedupWindow, Fanout, delivery_policy
from services.sns.jsontext import dumps, loads
from services.sns.matcher import MessageView
from services.sns.mobile import MobileMixin
from services.sns.model import KIND_SUB, KIND_TOPIC, TOKENS_KEPT, Sub, Topic, iso_now, sub_store_key
from services.sns.records import Records

log = logging.getLogger("broker.sns")

KIND_TOMB = "sns.unsub"         # unsubscribed HTTP(S) subscriptions, restorable by their token
TOMB_TTL_MS = 3 * 86400 * 1000
CONFIRM_PROTOCOLS = frozenset({"http", "https", "email", "email-json"})
_VALID_ACTIONS = {"GetTopicAttributes", "SetTopicAttributes", "AddPermission", "RemovePermission", "DeleteTopic",
                  "Subscribe", "ListSubscriptionsByTopic", "Publish", "Receive"}


def _metric(t: Topic, name: str, value: float = 1.0, unit: str = "Count") -> None:
    telemetry.metric("AWS/SNS", name, {"TopicName": t.name}, value, unit, account=t.account, region=t.region)


class SnsShard(MobileMixin):
    def __init__(self, part):
        self.part = part
        self.store = part.store
        self.closed = False
        self.topics: dict[str, Topic] = {}
        self.tokens: dict[str, tuple[str, str]] = {}     # token -> (topic key, sub id)
        for key, rec in self.store.scan(KIND_TOPIC):
            self.topics[key] = Topic.from_record(key, rec)
        for skey, rec in self.store.scan(KIND_SUB):
            t = self.topics.get(skey.split("\x00", 1)[0])
            if t is None:
                self.store.delete(KIND_SUB, skey)
                continue
            s = Sub.from_record(t, rec)
            t.attach(s)
            for tok in s.tokens:
                self.tokens[tok] = (t.key, s.id)
        now = part.now_ms()
        for tok, rec in list(self.store.scan(KIND_TOMB)):
            if now - rec["at"] > TOMB_TTL_MS:
                self.store.delete(KIND_TOMB, tok)
        self.records = Records(part)
        self.dedup = DedupWindow(part)
        self.fanout = Fanout(self)
        self.init_mobile()

    def close(self) -> None:
        self.closed = True

    # -- topics ------------------------------------------------------------------------
    def _topic(self, key: str, missing=topic_not_found) -> Topic:
        t = self.topics.get(key)
        if t is None:
            raise missing()
        return t

    def _save(self, t: Topic) -> None:
        self.store.put(KIND_TOPIC, t.key, t.record())

    def op_CreateTopic(self, a):
        t = self.topics.get(a["k"])
        if t is not None:
            for name, value in a["attrs"].items():
                if name != "FifoTopic" and t.attrs.get(name) != value:
                    raise invalid("Attributes Reason: Topic already exists with different attributes")
            for k, v in a["tags"].items():
                if t.tags.get(k) != v:
                    raise invalid("Tags Reason: Topic already exists with different tags")
            return {"arn": t.arn}
        attrs = {k: v for k, v in a["attrs"].items() if k != "FifoTopic"}
        t = Topic(a["k"], a["name"], a["account"], a["region"], attrs, dict(a["tags"]), self.part.now_ms(),
                  a.get("dpp") or "")
        self.topics[t.key] = t
        self._save(t)
        return {"arn": t.arn}

    def op_DeleteTopic(self, a):
        t = self.topics.pop(a["k"], None)
        if t is None:
            return {}
        for s in list(t.subs.values()):
            self._drop_sub(t, s)
        self.dedup.drop_topic(t.key)
        self.store.delete(KIND_TOPIC, t.key)
        return {}

    def op_GetTopicAttributes(self, a):
        return A.topic_attributes(self._topic(a["k"]))

    def op_SetTopicAttributes(self, a):
        t = self._topic(a["k"])
        name, value = a["name"], a["value"]
        if name == "MaximumMessageSize" and value and int(value) > A.DEFAULT_MAX_MESSAGE:
            if len(t.subs) > 100 or any(s.protocol not in ("sqs", "lambda", "firehose") for s in t.subs.values()):
                raise invalid("MaximumMessageSize Reason: A topic with a MaximumMessageSize above 256 KiB must "
                              "have 100 or fewer subscriptions, all of them Amazon SQS, Firehose or Lambda")
        if value is None:
            t.attrs.pop(name, None)
        else:
            t.attrs[name] = value
        self._save(t)
        return {}

    def op_ListTopics(self, a):
        """Broadcast: ARNs of this partition's topics in a namespace."""
        return [t.arn for t in self.topics.values() if t.account == a["account"] and t.region == a["region"]]

    def op_TagResource(self, a):
        t = self._topic(a["k"], resource_not_found)
        tags = {**t.tags, **a["tags"]}
        if len(tags) > 50:
            raise err("TagLimitExceeded", "Could not complete request: tag quota of per resource exceeded")
        t.tags = tags
        self._save(t)
        return {}

    def op_UntagResource(self, a):
        t = self._topic(a["k"], resource_not_found)
        for k in a["keys"]:
            t.tags.pop(k, None)
        self._save(t)
        return {}

    def op_ListTagsForResource(self, a):
        return [{"Key": k, "Value": v} for k, v in self._topic(a["k"], resource_not_found).tags.items()]

    def op_AddPermission(self, a):
        t = self._topic(a["k"])
        for action in a["actions"]:
            if action not in _VALID_ACTIONS and action != "*":
                raise invalid("Policy statement action out of service scope!")
        doc = loads(t.attrs["Policy"]) if t.attrs.get("Policy") else A.default_policy(t.arn, t.account)
        statements = doc.setdefault("Statement", [])
        if any(st.get("Sid") == a["label"] for st in statements):
            raise invalid("Statement already exists")
        principals = [f"arn:aws:iam::{acct}:root" for acct in a["accounts"]]
        actions = [f"SNS:{x}" for x in a["actions"]]
        statements.append({"Sid": a["label"], "Effect": "Allow",
                           "Principal": {"AWS": principals[0] if len(principals) == 1 else principals},
                           "Action": actions[0] if len(actions) == 1 else actions, "Resource": t.arn})
        t.attrs["Policy"] = dumps(doc)
        self._save(t)
        return {}

    def op_RemovePermission(self, a):
        t = self._topic(a["k"])
        if t.attrs.get("Policy"):
            doc = loads(t.attrs["Policy"])
            doc["Statement"] = [st for st in doc.get("Statement", []) if st.get("Sid") != a["label"]]
            t.attrs["Policy"] = dumps(doc)
            self._save(t)
        return {}

    def op_PutDataProtectionPolicy(self, a):
        t = self._topic(a["k"])
        t.dpp = a["policy"]
        self._save(t)
        return {}

    def op_GetDataProtectionPolicy(self, a):
        return self._topic(a["k"]).dpp

    # -- subscriptions ------------------------------------------------------------------
    def _sub(self, a) -> tuple[Topic, Sub]:
        t = self.topics.get(a["k"])
        s = t.subs.get(a["sid"]) if t is not None else None
        if s is None:
            raise subscription_not_found()
        return t, s

    def _save_sub(self, t: Topic, s: Sub) -> None:
        self.store.put(KIND_SUB, sub_store_key(t.key, s.id), s.record())

    def _check_sub_attrs(self, t: Topic, protocol: str, endpoint: str, attrs: dict, subscribing: bool,
                         scope: str) -> dict:
        out = {}
        for name, value in attrs.items():
            out[name] = A.check_sub_attr(name, value, protocol=protocol, endpoint=endpoint, topic_fifo=t.fifo,
                                         scope=scope, subscribing=subscribing)
        return {k: v for k, v in out.items() if v is not None}

    def op_Subscribe(self, a):
        t = self._topic(a["k"])
        protocol, endpoint = a["protocol"], a["endpoint"]
        if protocol == "sqs" and endpoint.endswith(".fifo") and not t.fifo:
            raise invalid("Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed to standard "
                          "SNS topics")
        scope = a["attrs"].get("FilterPolicyScope", "MessageAttributes")
        attrs = self._check_sub_attrs(t, protocol, endpoint, a["attrs"], True, scope)
        sid = t.by_endpoint.get((protocol, endpoint))
        if sid is not None:
            s = t.subs[sid]
            for name, value in attrs.items():
                current = s.attrs.get(name, "MessageAttributes" if name == "FilterPolicyScope" else None)
                if current != value:
                    raise invalid("Attributes Reason: Subscription already exists with different attributes")
            return {"arn": s.arn, "pending": s.pending}
        pending = protocol in CONFIRM_PROTOCOLS
        s = Sub(uuid4(), t, protocol, endpoint, a["owner"], a["principal"], attrs, pending, not pending,
                self.part.now_ms(), self.store.allocate_id("sns-sub"))
        t.attach(s)
        if pending:
            self._send_confirmation(t, s, "SubscriptionConfirmation", a["base"])
        self._save_sub(t, s)
        return {"arn": s.arn, "pending": pending}

    def _new_token(self, t: Topic, s: Sub) -> str:
        tok = make_token(t.region, self.part.id)
        s.tokens = (s.tokens + [tok])[-TOKENS_KEPT:]
        self.tokens[tok] = (t.key, s.id)
        return tok

    def _send_confirmation(self, t: Topic, s: Sub, kind: str, base: str) -> str:
        """SubscriptionConfirmation / UnsubscribeConfirmation: posted to HTTP(S)
        endpoints, recorded for email ones (the SES mailbox takes them later)."""
        tok = self._new_token(t, s)
        now = self.part.now_ms()
        text = subscribe_text(t.arn) if kind == "SubscriptionConfirmation" else unsubscribe_text(s.arn)
        body = {"kind": kind, "token": tok, "id": uuid4(), "ts": iso_now(now), "b": base, "topic": t.arn,
                "sub": s.arn, "ep": s.endpoint, "text": text, "sv": t.attrs.get("SignatureVersion", "1"),
                "ct": "text/plain; charset=UTF-8"}
        if s.protocol in A.HTTP_PROTOCOLS:
            policy, pace = delivery_policy(s, t)
            sinks.deliveries(self.part).submit("sns.confirm", {}, body, policy=policy, pace=pace)
        else:
            url = f"{base}/?Action=ConfirmSubscription&TopicArn={t.arn}&Token={tok}"
            self.records.add("email", t.account, t.region, {
                "Type": kind, "Endpoint": s.endpoint, "Protocol": s.protocol, "TopicArn": t.arn,
                "SubscriptionArn": s.arn, "MessageId": body["id"], "Token": tok, "Timestamp": body["ts"],
                "Subject": "AWS Notification - Subscription Confirmation", "Message": text,
                "SubscribeURL": url})
            if kind == "SubscriptionConfirmation":     # the mail the subscriber confirms from
                mail = (f"You have chosen to subscribe to the topic: \n{t.arn}\n\nTo confirm this subscription, "
                        f"click or visit the link below (If this was in error no action is necessary): \n"
                        f"Confirm subscription\n{url}\n\nPlease do not reply directly to this email. If you wish "
                        f"to remove yourself from receiving all future SNS subscription confirmation requests "
                        f"please send an email to sns-opt-out\n")
                sinks.deliveries(self.part).submit(
                    "sns.mail", {}, {"a": t.account, "r": t.region, "to": s.endpoint, "text": mail,
                                     "subject": "AWS Notification - Subscription Confirmation"},
                    policy=sinks.policy(immediate=3, backoff=(20, 1, 60, "exponential")))
        return tok

    def _drop_sub(self, t: Topic, s: Sub) -> None:
        t.detach(s)
        for tok in s.tokens:
            self.tokens.pop(tok, None)
        self.store.delete(KIND_SUB, sub_store_key(t.key, s.id))

    def op_Unsubscribe(self, a):
        t = self.topics.get(a["k"])
        s = t.subs.get(a["sid"]) if t is not None else None
        if s is None:
            return {}
        self._drop_sub(t, s)
        t.deleted += 1
        self._save(t)
        if s.protocol in A.HTTP_PROTOCOLS and not s.pending:
            tok = self._send_confirmation(t, s, "UnsubscribeConfirmation", a["base"])
            self.tokens.pop(tok, None)      # the tombstone answers for it now
            self.store.put(KIND_TOMB, tok, {"at": self.part.now_ms(), "t": t.key, "s": s.record()})
        return {}

    def op_GetSubscriptionAttributes(self, a):
        t, s = self._sub(a)
        return A.subscription_attributes(s, t.attrs.get("DeliveryPolicy"))

    def op_SetSubscriptionAttributes(self, a):
        t, s = self._sub(a)
        name = a["name"]
        scope = s.attrs.get("FilterPolicyScope", "MessageAttributes")
        if name == "FilterPolicyScope" and a["value"] == "MessageAttributes" and "FilterPolicy" in s.attrs:
            scope = "MessageAttributes"
            self._check_sub_attrs(t, s.protocol, s.endpoint, {"FilterPolicy": s.attrs["FilterPolicy"]}, False,
                                  scope)
        value = A.check_sub_attr(name, a["value"], protocol=s.protocol, endpoint=s.endpoint, topic_fifo=t.fifo,
                                 scope=scope, subscribing=False)
        old_key = s.binding_key()
        if value is None:
            s.attrs.pop(name, None)
        else:
            s.attrs[name] = value
        if name in ("FilterPolicy", "FilterPolicyScope"):
            t.rebind(s, old_key)
        self._save_sub(t, s)
        return {}

    def op_ListSubscriptionsByTopic(self, a):
        t = self._topic(a["k"])
        subs = sorted(t.subs.values(), key=lambda s: s.seq)
        start, limit = a.get("start", 0), a.get("limit", 100)
        return {"subs": [s.summary() for s in subs[start:start + limit]], "total": len(subs)}

    def op_ListSubscriptions(self, a):
        """Broadcast: this partition's subscriptions in a namespace, oldest first."""
        out = []
        for t in self.topics.values():
            if t.region != a["region"]:
                continue
            for s in t.subs.values():
                if s.owner == a["account"] or t.account == a["account"]:
                    out.append([s.created, s.seq, s.summary()])
        return out

    def op_ConfirmSubscription(self, a):
        """Addressed to the partition named in the token."""
        tok = a["token"]
        ref = self.tokens.get(tok)
        t = self.topics.get(ref[0]) if ref is not None else None
        if t is None or ref[1] not in t.subs:
            tomb = self.store.get(KIND_TOMB, tok)
            if tomb is None or tomb["t"] not in self.topics:
                raise invalid("Token")
            t = self.topics[tomb["t"]]
            s = Sub.from_record(t, tomb["s"])
            s.tokens = [tok]
            t.attach(s)
            self.tokens[tok] = (t.key, s.id)
            self.store.delete(KIND_TOMB, tok)
            self._save_sub(t, s)
            return {"arn": s.arn}
        s = t.subs[ref[1]]
        if s.pending:
            old = s.binding_key()
            s.pending = False
            s.authenticated = bool(a.get("authenticated"))
            t.rebind(s, old)
            self._save_sub(t, s)
        return {"arn": s.arn}

    def op_SubscriptionToken(self, a):
        """Admin: the latest confirmation token of a subscription."""
        t = self.topics.get(a["k"])
        s = t.subs.get(a["sid"]) if t is not None else None
        if s is None:
            return None
        return s.tokens[-1] if s.tokens else self._issue_token(t, s)

    def _issue_token(self, t: Topic, s: Sub) -> str:
        tok = self._new_token(t, s)
        self._save_sub(t, s)
        return tok

    # -- publish ---------------------------------------------------------------------------
    def _check_fifo(self, t: Topic, e: dict) -> None:
        if t.fifo:
            if not e.get("g"):
                raise invalid("The MessageGroupId parameter is required for FIFO topics")
            if not e.get("d") and not t.content_dedup():
                raise invalid("The topic should either have ContentBasedDeduplication enabled or "
                              "MessageDeduplicationId provided explicitly")
        elif e.get("d") is not None:
            raise invalid("MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter "
                          "that is not valid for this topic type")
        if e["sz"] > t.max_message_size():
            raise invalid("Message too long")

    def op_Publish(self, a):
        t = self._topic(a["k"])
        entries = a["e"]
        for e in entries:
            self._check_fifo(t, e)
        self.fanout.foreground()
        now = self.part.now_ms()
        return [self._publish_one(t, e, now, a["b"], a.get("tr")) for e in entries]

    def _publish_one(self, t: Topic, e: dict, now: int, base: str, trace: str | None) -> list:
        dedup = seq = None
        if t.fifo:
            dedup = e.get("d") or hashlib.sha256(e["m"].encode()).hexdigest()
            dkey = f"{t.key}\x00{e['g'] if t.dedup_scope_group() else ''}\x00{dedup}"
            seen = self.dedup.seen(dkey, now)
            if seen is not None:
                return list(seen)
            seq = str(10 ** 19 + self.store.allocate_id(f"sns-seq:{t.key}"))
        msg_id = uuid4()
        if t.fifo:
            self.dedup.add(dkey, msg_id, seq, now)
        _metric(t, "NumberOfMessagesPublished")
        _metric(t, "PublishSize", e["sz"], "Bytes")
        dests = list(t.exchange.match("", None, MessageView(e.get("a"), e["m"])))
        filtered = t.exchange.matcher.filtered()
        if filtered:
            _metric(t, "NumberOfNotificationsFilteredOut", filtered - (len(dests) - (len(t.exchange) - filtered)))
        if dests:
            rec = {"id": msg_id, "t": t.key, "arn": t.arn, "m": e["m"], "st": e.get("st"), "sj": e.get("sj"),
                   "a": e.get("a"), "g": e.get("g"), "d": dedup, "q": seq, "ts": iso_now(now), "tr": trace,
                   "b": base, "sv": t.attrs.get("SignatureVersion", "1"), "fifo": t.fifo, "subs": dests, "cur": 0}
            self.fanout.add(f"{self.store.allocate_id('sns-msg'):016x}", rec)
        return [msg_id, seq]

    # -- deliveries (called by the delivery kinds) ------------------------------------------
    def resolve(self, ref: dict) -> tuple[dict | None, Topic | None, Sub | None]:
        msg = self.fanout.get(ref["m"])
        t = self.topics.get(ref["t"])
        s = t.subs.get(ref["s"]) if t is not None else None
        return msg, t, s

    def delivered(self, ref: dict, t: Topic | None) -> None:
        if t is not None:
            _metric(t, "NumberOfNotificationsDelivered")
        self.fanout.release(ref["m"])

    def failed(self, ref: dict, t: Topic | None, redriven: bool | None) -> None:
        """A delivery gave up; `redriven` says whether its DLQ took it (None: no DLQ)."""
        if t is not None:
            _metric(t, "NumberOfNotificationsFailed")
            if redriven is not None:
                _metric(t, "NumberOfNotificationsRedrivenToDlq" if redriven
                        else "NumberOfNotificationsFailedToRedriveToDlq")
        self.fanout.release(ref["m"])

    # -- admin -------------------------------------------------------------------------------
    def op_Records(self, a):
        """Broadcast: recorded SMS / push / email deliveries (optionally deleted)."""
        return self.records.select(a["what"], a.get("account"), a.get("region"), a.get("match"),
                                   a.get("delete", False))

