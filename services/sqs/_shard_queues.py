"""Queue lifecycle, attributes, tags and permissions: the shard ops that change a
queue's definition rather than its messages (a mixin of SqsShard)."""

from __future__ import annotations

import json

from broker.core.timers import disarm_queue

from services.sqs.errors import err, invalid_parameter, invalid_value
from services.sqs.model import KIND_QUEUE, SqsQueue, apply_sse_rules

QUEUE_REUSE_DELAY_MS = 60_000   # AWS: wait 60 s after DeleteQueue before reusing the name
_CLEARABLE = ("RedrivePolicy", "RedriveAllowPolicy", "Policy", "KmsMasterKeyId")


class QueuesMixin:
    def op_CreateQueue(self, a):
        key, now = a["k"], self.part.now_ms()
        q = self.queues.get(key)
        if q is not None:
            for name, value in a["attrs"].items():
                if q.attrs.get(name, "") != value:
                    raise err("QueueNameExists",
                              f"A queue already exists with the same name and a different value for attribute {name}")
            return {"created": False}
        gone = self.deleted_at.get(key)
        if gone is not None and now - gone < QUEUE_REUSE_DELAY_MS:
            raise err("QueueDeletedRecently", "You must wait 60 seconds after deleting a queue before you can "
                      "create another with the same name.")
        self.deleted_at.pop(key, None)
        qid = self.store.allocate_id("qid")  # one counter per partition: qids key message rows
        q = SqsQueue.new(key, a["name"], a["account"], a["region"], qid, a["attrs"], a.get("tags") or {}, now)
        self._attach_core(q, now)
        self.queues[key] = q
        self._save(q)
        return {"created": True}

    def op_DeleteQueue(self, a):
        q = self._get(a["k"])
        del self.queues[q.key]
        q.dead = True
        disarm_queue(self.part, q)
        now = self.part.now_ms()
        self.deleted_at = {k: t for k, t in self.deleted_at.items() if now - t < QUEUE_REUSE_DELAY_MS}
        self.deleted_at[q.key] = now
        self._release_waiters(q)
        self.store.delete(KIND_QUEUE, q.key)
        self.store.drop_queue(q.qid)
        self.tasks.queue_deleted(q)
        return {}

    def op_GetQueue(self, a):
        """What another queue needs to know of this one (redrive checks)."""
        q = self.queues.get(a["k"])
        if q is None:
            return None
        return {"arn": q.arn, "fifo": q.fifo, "allow": q.attrs.get("RedriveAllowPolicy", ""),
                "dlq": q.dlq_arn}

    def op_GetQueueAttributes(self, a):
        q = self._get(a["k"])
        core = q.queue
        out = dict(q.attrs)
        out.update({
            "ApproximateNumberOfMessages": str(core.visible),
            "ApproximateNumberOfMessagesNotVisible": str(core.inflight),
            "ApproximateNumberOfMessagesDelayed": str(core.delayed),
            "CreatedTimestamp": str(q.created // 1000),
            "LastModifiedTimestamp": str(q.modified // 1000),
            "QueueArn": q.arn,
        })
        return {k: v for k, v in out.items() if v != ""}

    def op_SetQueueAttributes(self, a):
        q = self._get(a["k"])
        attrs = dict(q.attrs)
        for name, value in a["attrs"].items():
            if value == "" and name in _CLEARABLE:
                attrs.pop(name, None)
            else:
                attrs[name] = value
        apply_sse_rules(attrs, a["attrs"])
        if attrs.get("FifoThroughputLimit") == "perMessageGroupId" and attrs.get("DeduplicationScope") != "messageGroup":
            raise invalid_parameter("The perMessageGroupId value is allowed only when the value for "
                                    "DeduplicationScope is messageGroup")
        q.attrs = attrs
        q.modified = self.part.now_ms()
        q.queue.reconfigure(q.core_config())
        self._arm(q)
        self._save(q)
        return {}

    def op_TagQueue(self, a):
        q = self._get(a["k"])
        tags = dict(q.tags)
        tags.update(a["tags"])
        if len(tags) > 50:
            raise invalid_parameter("Too many tags added for queue " + q.name + ".")
        q.tags = tags
        self._save(q)
        return {}

    def op_UntagQueue(self, a):
        q = self._get(a["k"])
        for k in a["keys"]:
            q.tags.pop(k, None)
        self._save(q)
        return {}

    def op_ListQueueTags(self, a):
        return dict(self._get(a["k"]).tags)

    def op_ListQueues(self, a):
        """Broadcast: names of this partition's queues in a namespace, by prefix."""
        acct, region, prefix = a["account"], a["region"], a.get("prefix") or ""
        return [q.name for q in self.queues.values()
                if q.account == acct and q.region == region and q.name.startswith(prefix)]

    def op_ListDeadLetterSourceQueues(self, a):
        arn = a["arn"]
        return [[q.account, q.name] for q in self.queues.values() if q.dlq_arn == arn]

    def op_Permission(self, a):
        """AddPermission / RemovePermission: statements of the queue's policy, written the way
        AWS writes them (Version 2008-10-17, Id <arn>/SQSDefaultPolicy)."""
        q = self._get(a["k"])
        policy = json.loads(q.attrs["Policy"]) if q.attrs.get("Policy") else None
        label = a["label"]
        if a["add"]:
            if policy is None:
                policy = {"Version": "2008-10-17", "Id": f"{q.arn}/SQSDefaultPolicy", "Statement": []}
            stmts = policy.setdefault("Statement", [])
            if any(s.get("Sid") == label for s in stmts):
                raise invalid_value(label, "Label", "Already exists.")
            principals = [f"arn:aws:iam::{acct}:root" for acct in reversed(a["accounts"])]
            stmts.append({"Sid": label, "Effect": "Allow",
                          "Principal": {"AWS": principals[0] if len(principals) == 1 else principals},
                          "Action": [f"SQS:{act}" for act in a["actions"]] if len(a["actions"]) > 1
                          else f"SQS:{a['actions'][0]}",
                          "Resource": q.arn})
        else:
            stmts = (policy or {}).get("Statement", [])
            kept = [s for s in stmts if s.get("Sid") != label]
            if len(kept) == len(stmts):
                raise invalid_value(label, "Label", "can't find label.")
            policy["Statement"] = kept
        if policy and policy["Statement"]:
            q.attrs["Policy"] = json.dumps(policy, separators=(",", ":"))
        else:
            q.attrs.pop("Policy", None)
        q.modified = self.part.now_ms()
        self._save(q)
        return {}
