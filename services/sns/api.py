"""SNS gateway half: input checks with SNS's messages, then one op to the
shard that owns the topic (or application, or account settings).

Topics, subscriptions, publishing, tags, permissions and data-protection
policies are here; mobile push and SMS operations come from
`services.sns.api_mobile.MobileApi`.
"""

from __future__ import annotations

import re

from botocore import xform_name

from services.errors import NotImplementedOperation
from services.sns import publishing
from services.sns.api_mobile import MobileApi
from services.sns.arns import (
    parse_endpoint, parse_subscription, parse_token, parse_topic, sqs_arn_parts, token_shape_ok, topic_key,
    valid_topic_name,
)
from services.sns.attributes import check_topic_attr
from services.sns.errors import err, invalid, invalid_raw, resource_not_found
from services.sns.paging import PAGE, offset, page, token_for

PROTOCOLS = ("http", "https", "email", "email-json", "sms", "sqs", "application", "lambda", "firehose")
_SMS_ENDPOINT = re.compile(r"^\+?\(?\d+\)?(?:[ .\-]?\(?\d+\)?)*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


def check_tags(tags: list) -> dict:
    out: dict = {}
    for t in tags or []:
        k, v = t.get("Key"), t.get("Value")
        if k in out:
            raise invalid("Duplicated keys are not allowed.")
        if not k or len(k) > 128 or v is None or len(v) > 256:
            raise invalid("Tags Reason: Tag keys must be 1-128 characters and values at most 256 characters.")
        if k.lower().startswith("aws:"):
            raise invalid("Tags Reason: Tag keys can't start with the reserved prefix aws:")
        out[k] = v
    if len(out) > 50:
        raise err("TagLimitExceeded", "Could not complete request: tag quota of per resource exceeded")
    return out


class SnsApi(MobileApi):
    def __init__(self, gateway):
        self.gateway = gateway
        # operation -> its method, resolved at its first call: operations reach here only
        # once the codec matched them to SNS's model (botocore's session and its client
        # machinery, about 4 MB, are not loaded for this)
        self._ops: dict = {}

    async def handle(self, ctx, operation: str, params: dict) -> dict:
        fn = self._ops.get(operation)
        if fn is None:
            fn = getattr(self, xform_name(operation), None) if operation[:1].isupper() else None
            if not callable(fn):
                raise NotImplementedOperation(f"SNS {operation} is not implemented.")
            self._ops[operation] = fn
        return await fn(ctx, params)

    @staticmethod
    async def _call(ctx, key: str, op: str, args: dict):
        args["k"] = key
        return await ctx.cluster.call(key, op, args)

    # -- topics --------------------------------------------------------------------------
    async def create_topic(self, ctx, p):
        name = p["Name"]
        attrs_in = {k: ("" if v is None else v) for k, v in (p.get("Attributes") or {}).items()}
        fifo_value = attrs_in.get("FifoTopic")
        if fifo_value is not None and fifo_value.lower() not in ("true", "false"):
            raise invalid("Attributes Reason: FifoTopic: Invalid value [%s]. Must be true or false." % fifo_value)
        fifo = (fifo_value or "").lower() == "true"
        if not valid_topic_name(name, fifo):
            raise invalid("Topic Name")
        attrs = {}
        for k, v in attrs_in.items():
            if k == "FifoTopic":
                continue
            value = check_topic_attr(k, v, fifo, True)
            if value is not None:
                attrs[k] = value
        tags = check_tags(p.get("Tags"))
        key = topic_key(ctx.region, ctx.account_id, name)
        out = await self._call(ctx, key, "sns.CreateTopic", {
            "name": name, "account": ctx.account_id, "region": ctx.region, "attrs": attrs, "tags": tags,
            "dpp": p.get("DataProtectionPolicy") or ""})
        return {"TopicArn": out["arn"]}

    async def delete_topic(self, ctx, p):
        ref = parse_topic(p["TopicArn"], ctx.region)
        await self._call(ctx, ref.key, "sns.DeleteTopic", {})
        return {}

    async def get_topic_attributes(self, ctx, p):
        ref = parse_topic(p["TopicArn"], ctx.region)
        return {"Attributes": await self._call(ctx, ref.key, "sns.GetTopicAttributes", {})}

    async def set_topic_attributes(self, ctx, p):
        ref = parse_topic(p["TopicArn"], ctx.region)
        name = p["AttributeName"]
        value = check_topic_attr(name, p.get("AttributeValue") or "", ref.name.endswith(".fifo"), False)
        await self._call(ctx, ref.key, "sns.SetTopicAttributes", {"name": name, "value": value})
        return {}

    async def list_topics(self, ctx, p):
        results = await ctx.cluster.call_all("sns.ListTopics", {"account": ctx.account_id, "region": ctx.region})
        arns = sorted(arn for _p, arns in results for arn in arns)
        return page([{"TopicArn": a} for a in arns], p.get("NextToken"), "Topics")

    # -- tags, permissions, data protection ---------------------------------------------------
    def _resource(self, ctx, arn: str):
        try:
            return parse_topic(arn, ctx.region, "ResourceArn")
        except Exception:
            raise resource_not_found() from None

    async def tag_resource(self, ctx, p):
        ref = self._resource(ctx, p["ResourceArn"])
        tags = check_tags(p.get("Tags"))
        await self._call(ctx, ref.key, "sns.TagResource", {"tags": tags})
        return {}

    async def untag_resource(self, ctx, p):
        ref = self._resource(ctx, p["ResourceArn"])
        await self._call(ctx, ref.key, "sns.UntagResource", {"keys": list(p.get("TagKeys") or [])})
        return {}

    async def list_tags_for_resource(self, ctx, p):
        ref = self._resource(ctx, p["ResourceArn"])
        return {"Tags": await self._call(ctx, ref.key, "sns.ListTagsForResource", {})}

    async def add_permission(self, ctx, p):
        ref = parse_topic(p["TopicArn"], ctx.region)
        await self._call(ctx, ref.key, "sns.AddPermission", {
            "label": p["Label"], "accounts": list(p["AWSAccountId"]), "actions": list(p["ActionName"])})
        return {}

    async def remove_permission(self, ctx, p):
        ref = parse_topic(p["TopicArn"], ctx.region)
        await self._call(ctx, ref.key, "sns.RemovePermission", {"label": p["Label"]})
        return {}

    async def put_data_protection_policy(self, ctx, p):
        ref = parse_topic(p["ResourceArn"], ctx.region, "ResourceArn")
        await self._call(ctx, ref.key, "sns.PutDataProtectionPolicy", {"policy": p["DataProtectionPolicy"]})
        return {}

    async def get_data_protection_policy(self, ctx, p):
        ref = parse_topic(p["ResourceArn"], ctx.region, "ResourceArn")
        return {"DataProtectionPolicy": await self._call(ctx, ref.key, "sns.GetDataProtectionPolicy", {})}

    # -- subscriptions -------------------------------------------------------------------------
    @staticmethod
    def _check_endpoint(protocol: str, endpoint: str | None, attrs: dict) -> None:
        if protocol not in PROTOCOLS:
            raise invalid(f"Amazon SNS does not support this protocol string: {protocol}")
        if not endpoint:
            raise invalid("Endpoint Reason: no value for required parameter")
        if protocol in ("http", "https") and not endpoint.lower().startswith(protocol + "://"):
            raise invalid("Endpoint must match the specified protocol")
        if protocol == "sqs" and sqs_arn_parts(endpoint) is None:
            raise invalid("SQS endpoint ARN")
        if protocol == "sms" and (not _SMS_ENDPOINT.match(endpoint) or sum(c.isdigit() for c in endpoint) > 15):
            raise invalid_raw(f"Invalid SMS endpoint: {endpoint}")
        if protocol in ("email", "email-json") and not _EMAIL.match(endpoint):
            raise invalid("Email address")
        if protocol == "lambda" and not endpoint.startswith("arn:aws:lambda:"):
            raise invalid("Lambda endpoint ARN")
        if protocol == "firehose":
            if not endpoint.startswith("arn:aws:firehose:"):
                raise invalid("Firehose endpoint ARN")
            if not attrs.get("SubscriptionRoleArn"):
                raise invalid("Attributes Reason: SubscriptionRoleArn is required for firehose subscriptions")
        if protocol == "application":
            parse_endpoint(endpoint, "Endpoint")

    async def subscribe(self, ctx, p):
        ref = parse_topic(p["TopicArn"], ctx.region)
        protocol, endpoint = p["Protocol"], p.get("Endpoint")
        attrs = {k: ("" if v is None else v) for k, v in (p.get("Attributes") or {}).items()}
        self._check_endpoint(protocol, endpoint, attrs)
        out = await self._call(ctx, ref.key, "sns.Subscribe", {
            "protocol": protocol, "endpoint": endpoint, "attrs": attrs, "owner": ctx.account_id,
            "principal": ctx.principal_arn, "base": ctx.base_url})
        if out["pending"] and not p.get("ReturnSubscriptionArn"):
            return {"SubscriptionArn": "pending confirmation"}
        return {"SubscriptionArn": out["arn"]}

    def _sub(self, ctx, arn):
        if not arn:
            raise invalid("SubscriptionArn Reason: no value for required parameter")
        return parse_subscription(arn, None)

    async def unsubscribe(self, ctx, p):
        ref = self._sub(ctx, p.get("SubscriptionArn"))
        await self._call(ctx, ref.topic.key, "sns.Unsubscribe", {"sid": ref.sub_id, "base": ctx.base_url})
        return {}

    async def get_subscription_attributes(self, ctx, p):
        ref = self._sub(ctx, p.get("SubscriptionArn"))
        attrs = await self._call(ctx, ref.topic.key, "sns.GetSubscriptionAttributes", {"sid": ref.sub_id})
        return {"Attributes": attrs}

    async def set_subscription_attributes(self, ctx, p):
        ref = self._sub(ctx, p.get("SubscriptionArn"))
        await self._call(ctx, ref.topic.key, "sns.SetSubscriptionAttributes", {
            "sid": ref.sub_id, "name": p["AttributeName"], "value": p.get("AttributeValue") or ""})
        return {}

    async def list_subscriptions_by_topic(self, ctx, p):
        ref = parse_topic(p["TopicArn"], ctx.region)
        start = offset(p.get("NextToken"))
        out = await self._call(ctx, ref.key, "sns.ListSubscriptionsByTopic", {"start": start, "limit": PAGE})
        res: dict = {"Subscriptions": out["subs"]}
        if start + PAGE < out["total"]:
            res["NextToken"] = token_for(start + PAGE)
        return res

    async def list_subscriptions(self, ctx, p):
        results = await ctx.cluster.call_all("sns.ListSubscriptions",
                                             {"account": ctx.account_id, "region": ctx.region})
        subs = [s for _c, _n, s in sorted((x for _p, part in results for x in part), key=lambda x: x[:2])]
        return page(subs, p.get("NextToken"), "Subscriptions")

    async def confirm_subscription(self, ctx, p):
        try:
            ref = parse_topic(p.get("TopicArn"), None)
        except Exception:
            raise invalid("Topic") from None
        token = p.get("Token") or ""
        if not token_shape_ok(token):
            raise invalid_raw("Invalid token")
        where = parse_token(token)
        if where is None or where[1] >= ctx.cluster.partitions:
            raise invalid("Token")
        if where[0] != ref.region:
            raise invalid("Topic")
        out = await ctx.cluster.call_partition(where[1], "sns.ConfirmSubscription", {
            "token": token, "authenticated": bool(ctx.access_key) or bool(p.get("AuthenticateOnUnsubscribe"))})
        return {"SubscriptionArn": out["arn"]}

    # -- publish ---------------------------------------------------------------------------------
    async def publish(self, ctx, p):
        targets = [n for n in ("TopicArn", "TargetArn", "PhoneNumber") if p.get(n) is not None]
        if not targets:
            raise invalid("TopicArn or TargetArn Reason: no value for required parameter")
        if len(targets) > 1:
            raise invalid("TopicArn Reason: Only one of TopicArn, TargetArn or PhoneNumber can be specified")
        if p.get("PhoneNumber") is not None:
            return await self.publish_sms(ctx, p)
        arn = p.get("TopicArn") or p.get("TargetArn")
        if ":endpoint/" in (arn or ""):
            return await self.publish_push(ctx, p, arn)
        ref = parse_topic(arn, ctx.region, targets[0])
        entry = publishing.entry(p)
        (res,) = await self._call(ctx, ref.key, "sns.Publish", {"e": [entry], "b": ctx.base_url,
                                                                "tr": ctx.trace_header})
        out = {"MessageId": res[0]}
        if res[1]:
            out["SequenceNumber"] = res[1]
        return out

    async def publish_batch(self, ctx, p):
        ref = parse_topic(p["TopicArn"], ctx.region)
        entries = publishing.batch_entries(p.get("PublishBatchRequestEntries") or [])
        results = await self._call(ctx, ref.key, "sns.Publish", {"e": entries, "b": ctx.base_url,
                                                                 "tr": ctx.trace_header})
        ok = []
        for e, (msg_id, seq) in zip(entries, results):
            item = {"Id": e["i"], "MessageId": msg_id}
            if seq:
                item["SequenceNumber"] = seq
            ok.append(item)
        return {"Successful": ok, "Failed": []}
