"""SQS gateway half: validation, MD5s and payloads here; state on the shard.

Stateless per request: parse the queue URL into the queue's entity key,
validate input with SQS's limits and messages, and send one compact op to
the shard that owns the queue. Scatter-gather only for the list operations.
The operations live in three mixins: queues (_api_queues), messages
(_api_messages) and message move tasks (_api_tasks).
"""

from __future__ import annotations

import base64

from services.errors import NotImplementedOperation
from services.sqs._api_messages import MessagesApi
from services.sqs._api_queues import QueuesApi
from services.sqs._api_tasks import TasksApi
from services.sqs.admin import DEV_PATH, sdk_request
from services.sqs.errors import err, invalid_action, invalid_parameter, invalid_value
from services.sqs.limits import MAX_BATCH_ENTRIES, MAX_LIST_RESULTS
from services.sqs.messages import valid_batch_id
from services.sqs.urls import entity_key, parse_queue_url, queue_url

# Actions AWS refuses when a query request is sent to a queue's URL rather than the endpoint
_ENDPOINT_ONLY = frozenset({"CreateQueue", "ListQueues"})


class SqsApi(QueuesApi, MessagesApi, TasksApi):
    def __init__(self, gateway):
        self.gateway = gateway
        self.index = getattr(gateway, "index", 0)
        self._ops = {
            "CreateQueue": self.create_queue, "DeleteQueue": self.delete_queue,
            "GetQueueUrl": self.get_queue_url, "ListQueues": self.list_queues,
            "GetQueueAttributes": self.get_queue_attributes, "SetQueueAttributes": self.set_queue_attributes,
            "SendMessage": self.send_message, "SendMessageBatch": self.send_message_batch,
            "ReceiveMessage": self.receive_message, "DeleteMessage": self.delete_message,
            "DeleteMessageBatch": self.delete_message_batch,
            "ChangeMessageVisibility": self.change_message_visibility,
            "ChangeMessageVisibilityBatch": self.change_message_visibility_batch,
            "PurgeQueue": self.purge_queue, "TagQueue": self.tag_queue, "UntagQueue": self.untag_queue,
            "ListQueueTags": self.list_queue_tags, "AddPermission": self.add_permission,
            "RemovePermission": self.remove_permission,
            "ListDeadLetterSourceQueues": self.list_dead_letter_source_queues,
            "StartMessageMoveTask": self.start_message_move_task,
            "ListMessageMoveTasks": self.list_message_move_tasks,
            "CancelMessageMoveTask": self.cancel_message_move_task,
        }
        if hasattr(gateway, "drain_hooks"):
            gateway.drain_hooks.append(self._on_drain)

    async def _on_drain(self) -> None:
        await self.gateway.cluster.call_all("sqs.ReleaseWaiters", {"g": self.index})

    async def handle(self, ctx, operation: str, params: dict) -> dict:
        fn = self._ops.get(operation)
        if fn is None:
            raise NotImplementedOperation(f"SQS {operation} is not implemented.")
        if ctx.path.startswith(DEV_PATH):    # an SDK pointed at the developer endpoint: peeks only
            return await sdk_request(self, ctx, operation, params)
        if operation in _ENDPOINT_ONLY and ctx.protocol == "query" and ctx.path not in ("", "/"):
            raise invalid_action(operation)
        return await fn(ctx, params)

    # -- helpers --------------------------------------------------------------
    def _target(self, ctx, params) -> tuple[str, str, str, str]:
        """(entity key, region, account, name) of the queue a request addresses."""
        url = params.get("QueueUrl")
        if not url:
            raise err("MissingParameter", "The request must contain the parameter QueueUrl.")
        region, account, name = parse_queue_url(url)
        region = region or ctx.region
        account = account or ctx.account_id
        return entity_key(region, account, name), region, account, name

    @staticmethod
    def _url(ctx, region: str, account: str, name: str) -> str:
        return queue_url(ctx.scheme, ctx.host, region, account, name)

    @staticmethod
    async def _call(ctx, key: str, op: str, args: dict):
        args["k"] = key
        return await ctx.cluster.call(key, op, args)

    @staticmethod
    def _check_batch(entries, kind: str) -> None:
        if not entries:
            raise err("EmptyBatchRequest", f"There should be at least one {kind} in the request.")
        if len(entries) > MAX_BATCH_ENTRIES:
            raise err("TooManyEntriesInBatchRequest",
                      f"Maximum number of entries per request are {MAX_BATCH_ENTRIES}. You have sent {len(entries)}.")
        seen = set()
        for e in entries:
            eid = e.get("Id", "")
            if not valid_batch_id(eid):
                raise err("InvalidBatchEntryId", "A batch entry id can only contain alphanumeric characters, "
                          "hyphens and underscores. It can be at most 80 letters long.")
            if eid in seen:
                raise err("BatchEntryIdsNotDistinct", f"Id {eid} repeated.")
            seen.add(eid)

    @staticmethod
    def _batch_result(entries, results) -> dict:
        ok, failed = [], []
        for e, res in zip(entries, results):
            if res[0] == "e":
                failed.append({"Id": e["Id"], "SenderFault": True, "Code": res[1], "Message": res[2]})
            else:
                ok.append({"Id": e["Id"]})
        out: dict = {"Successful": ok}
        if failed:            # AWS leaves an empty Failed list out
            out["Failed"] = failed
        return out

    @staticmethod
    def _paginate(items: list, p: dict, member: str) -> dict:
        max_results = p.get("MaxResults")
        if max_results is not None and not 1 <= max_results <= MAX_LIST_RESULTS:
            raise invalid_value(max_results, "MaxResults", "MaxResults must be an integer between 1 and 1000.")
        start = 0
        token = p.get("NextToken")
        if token:
            try:
                start = int(base64.b64decode(token).decode())
            except (ValueError, UnicodeDecodeError):
                raise invalid_parameter("Invalid NextToken value.") from None
        limit = max_results or MAX_LIST_RESULTS
        page = items[start:start + limit]
        out: dict = {member: page} if page else {}
        if max_results is not None and start + limit < len(items):
            out["NextToken"] = base64.b64encode(str(start + limit).encode()).decode()
        return out
