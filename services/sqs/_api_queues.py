"""SQS queue operations, gateway side: names, attributes, tags, permissions, listings."""

from __future__ import annotations

import json
import re

from services.sqs import attributes as qattrs
from services.sqs.errors import err, invalid_parameter, invalid_value, missing_parameter, queue_does_not_exist
from services.sqs.limits import ALL_ATTRIBUTES
from services.sqs.urls import entity_key, parse_arn, queue_arn

_LABEL = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_ACTIONS = {"*", "ChangeMessageVisibility", "DeleteMessage", "GetQueueAttributes", "GetQueueUrl",
            "ReceiveMessage", "SendMessage", "ChangeMessageVisibilityBatch", "DeleteMessageBatch",
            "SendMessageBatch", "PurgeQueue", "ListDeadLetterSourceQueues", "ListQueueTags"}


class QueuesApi:
    async def create_queue(self, ctx, p):
        name = p["QueueName"]
        raw = {k: str(v) for k, v in (p.get("Attributes") or {}).items()}
        fifo = qattrs.queue_type(name, raw)
        attrs = qattrs.normalize(raw, fifo=fifo, creating=True)
        tags = p.get("tags") or {}
        self._check_tags(tags)
        key = entity_key(ctx.region, ctx.account_id, name)
        if attrs.get("RedrivePolicy"):
            await self._check_redrive(ctx, attrs["RedrivePolicy"], fifo, queue_arn(ctx.region, ctx.account_id, name))
        self._check_fifo_limits(attrs)
        await self._call(ctx, key, "sqs.CreateQueue", {"name": name, "account": ctx.account_id,
                                                       "region": ctx.region, "attrs": attrs, "tags": tags})
        return {"QueueUrl": self._url(ctx, ctx.region, ctx.account_id, name)}

    @staticmethod
    def _check_fifo_limits(attrs: dict) -> None:
        if (attrs.get("FifoThroughputLimit") == "perMessageGroupId"
                and attrs.get("DeduplicationScope", "messageGroup") != "messageGroup"):
            raise invalid_parameter("The perMessageGroupId value is allowed only when the value for "
                                    "DeduplicationScope is messageGroup")

    @staticmethod
    def _check_tags(tags: dict) -> None:
        if len(tags) > 50:
            raise invalid_parameter("Too many tags added for queue.")
        for k, v in tags.items():
            if not 1 <= len(k) <= 128 or len(v) > 256 or k.lower().startswith("aws:"):
                raise invalid_parameter(f"Tag key or value is invalid: {k}")

    async def _check_redrive(self, ctx, policy: str, fifo: bool, source_arn: str) -> None:
        doc = json.loads(policy)
        region, account, name = parse_arn(doc["deadLetterTargetArn"])
        key = entity_key(region, account, name)
        info = await ctx.cluster.call(key, "sqs.GetQueue", {"k": key})
        reason = None
        if info is None:
            reason = "Dead letter target does not exist."
        elif info["fifo"] != fifo:
            reason = "Dead-letter queue must be same type of queue as the source."
        elif not qattrs.redrive_allows(info["allow"], source_arn):
            reason = f"Queue {doc['deadLetterTargetArn']} does not allow {source_arn} to use it as a dead-letter queue."
        if reason:
            raise invalid_parameter(f"Value {policy} for parameter RedrivePolicy is invalid. Reason: {reason}")

    async def delete_queue(self, ctx, p):
        key, *_ = self._target(ctx, p)
        await self._call(ctx, key, "sqs.DeleteQueue", {})
        return {}

    async def get_queue_url(self, ctx, p):
        name = p["QueueName"]
        account = p.get("QueueOwnerAWSAccountId") or ctx.account_id
        key = entity_key(ctx.region, account, name)
        if await self._call(ctx, key, "sqs.GetQueue", {}) is None:
            raise queue_does_not_exist()
        return {"QueueUrl": self._url(ctx, ctx.region, account, name)}

    async def list_queues(self, ctx, p):
        prefix = p.get("QueueNamePrefix") or ""
        results = await ctx.cluster.call_all("sqs.ListQueues", {"account": ctx.account_id, "region": ctx.region,
                                                                "prefix": prefix})
        names = sorted(n for _p, names in results for n in names)
        urls = [self._url(ctx, ctx.region, ctx.account_id, n) for n in names]
        return self._paginate(urls, p, "QueueUrls")

    async def get_queue_attributes(self, ctx, p):
        key, *_ = self._target(ctx, p)
        names = p.get("AttributeNames") or []
        for n in names:
            if n != "All" and n not in ALL_ATTRIBUTES:
                raise err("InvalidAttributeName", f"Unknown Attribute {n}.")
        attrs = await self._call(ctx, key, "sqs.GetQueueAttributes", {})
        if not names:
            return {}
        if "All" not in names:
            attrs = {k: v for k, v in attrs.items() if k in names}
        return {"Attributes": attrs} if attrs else {}

    async def set_queue_attributes(self, ctx, p):
        key, region, account, name = self._target(ctx, p)
        attrs = {k: str(v) for k, v in (p.get("Attributes") or {}).items()}
        fifo = name.endswith(".fifo")
        attrs = qattrs.normalize(attrs, fifo=fifo, creating=False)
        if attrs.get("RedrivePolicy"):
            await self._check_redrive(ctx, attrs["RedrivePolicy"], fifo, queue_arn(region, account, name))
        self._check_fifo_limits(attrs)
        await self._call(ctx, key, "sqs.SetQueueAttributes", {"attrs": attrs})
        return {}

    async def purge_queue(self, ctx, p):
        key, *_ = self._target(ctx, p)
        await self._call(ctx, key, "sqs.PurgeQueue", {})
        return {}

    async def tag_queue(self, ctx, p):
        key, *_ = self._target(ctx, p)
        tags = p.get("Tags") or {}
        self._check_tags(tags)
        await self._call(ctx, key, "sqs.TagQueue", {"tags": tags})
        return {}

    async def untag_queue(self, ctx, p):
        key, *_ = self._target(ctx, p)
        await self._call(ctx, key, "sqs.UntagQueue", {"keys": p.get("TagKeys") or []})
        return {}

    async def list_queue_tags(self, ctx, p):
        key, *_ = self._target(ctx, p)
        tags = await self._call(ctx, key, "sqs.ListQueueTags", {})
        return {"Tags": tags} if tags else {}

    async def add_permission(self, ctx, p):
        key, *_ = self._target(ctx, p)
        label = p["Label"]
        if not _LABEL.match(label):
            raise invalid_value(label, "Label", "Can only include alphanumeric characters, hyphens, or underscores. "
                                "1 to 80 in length")
        accounts, actions = p.get("AWSAccountIds") or [], p.get("Actions") or []
        if not accounts:
            raise missing_parameter("AWSAccountIds")
        if not actions:
            raise missing_parameter("Actions")
        for a in actions:
            if a not in _ACTIONS:
                raise invalid_value(a, "ActionName", "Please refer to the appropriate WSDL for a list of valid "
                                    "actions.")
        await self._call(ctx, key, "sqs.Permission", {"add": True, "label": label, "accounts": accounts,
                                                       "actions": actions})
        return {}

    async def remove_permission(self, ctx, p):
        key, *_ = self._target(ctx, p)
        await self._call(ctx, key, "sqs.Permission", {"add": False, "label": p["Label"]})
        return {}

    async def list_dead_letter_source_queues(self, ctx, p):
        key, region, account, name = self._target(ctx, p)
        if await self._call(ctx, key, "sqs.GetQueue", {}) is None:
            raise queue_does_not_exist()
        results = await ctx.cluster.call_all("sqs.ListDeadLetterSourceQueues", {"arn": queue_arn(region, account, name)})
        sources = sorted((acct, n) for _p, rows in results for acct, n in rows)
        urls = [self._url(ctx, region, acct, n) for acct, n in sources]
        out = self._paginate(urls, p, "queueUrls")
        out.setdefault("queueUrls", [])
        return out
