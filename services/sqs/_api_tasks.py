"""SQS message move tasks, gateway side: argument checks with AWS's errors, then the
source queue's shard (services/sqs/movetasks.py) runs the task."""

from __future__ import annotations

from services.sqs.errors import err, invalid_parameter, invalid_value
from services.sqs.movetasks import parse_task_handle
from services.sqs.urls import entity_key, parse_arn


def _not_found(member: str):
    return err("ResourceNotFoundException",
               f"The resource that you specified for the {member} parameter doesn't exist.", 404)


class TasksApi:
    async def _existing_queue_key(self, ctx, arn: str, member: str) -> str:
        parsed = parse_arn(arn)
        if parsed is None:
            raise invalid_value(arn, member, f"Invalid value for {member}.")
        key = entity_key(*parsed)
        if await ctx.cluster.call(key, "sqs.GetQueue", {"k": key}) is None:
            raise _not_found(member)
        return key

    async def start_message_move_task(self, ctx, p):
        source = p["SourceArn"]
        key = await self._existing_queue_key(ctx, source, "SourceArn")
        results = await ctx.cluster.call_all("sqs.ListDeadLetterSourceQueues", {"arn": source})
        if not any(rows for _p, rows in results):
            raise invalid_parameter("Source queue must be configured as a Dead Letter Queue.")
        dest = p.get("DestinationArn")
        if dest:
            await self._existing_queue_key(ctx, dest, "DestinationArn")
        rate = p.get("MaxNumberOfMessagesPerSecond")
        if rate is not None and not 1 <= rate <= 500:
            raise invalid_value(rate, "MaxNumberOfMessagesPerSecond", "Must be between 1 and 500.")
        return await ctx.cluster.call(key, "sqs.StartMessageMoveTask", {"k": key, "dest": dest, "rate": rate})

    async def list_message_move_tasks(self, ctx, p):
        max_results = p.get("MaxResults")
        if max_results is not None and not 1 <= max_results <= 10:
            raise invalid_value(max_results, "MaxResults", "Must be between 1 and 10.")
        key = await self._existing_queue_key(ctx, p["SourceArn"], "SourceArn")
        rows = await ctx.cluster.call(key, "sqs.ListMessageMoveTasks", {"k": key, "max": max_results})
        return {"Results": rows}

    async def cancel_message_move_task(self, ctx, p):
        parsed = parse_task_handle(p["TaskHandle"])
        if parsed is None:
            raise invalid_parameter("Value for parameter TaskHandle is invalid.")
        task_id, source = parsed
        source_key = parse_arn(source)
        if source_key is None:
            raise _not_found("SourceArn")
        key = entity_key(*source_key)
        if await ctx.cluster.call(key, "sqs.GetQueue", {"k": key}) is None:
            raise _not_found("SourceArn")
        return await ctx.cluster.call(key, "sqs.CancelMessageMoveTask", {"k": key, "task": task_id})
