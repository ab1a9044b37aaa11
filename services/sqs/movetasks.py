"""StartMessageMoveTask / ListMessageMoveTasks / CancelMessageMoveTask.

A task lives with its source queue (a dead-letter queue) and is a durable
record: a restarted shard resumes every RUNNING task. Each step leases up
to the per-second rate of visible messages, enqueues them at their
destination (the original source queue from DeadLetterQueueSourceArn, or
DestinationArn) and deletes them from the source only after the destination
acknowledged: at-least-once, never lost. Messages of the source that pass its
own redrive limit on the way are dead-lettered, as any receive does.

A TaskHandle is AWS's: base64 of ``{"taskId": "<uuid>", "sourceArn": "<arn>"}``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import uuid

from services.errors import ServiceError
from services.sqs.errors import err, invalid_parameter
from services.sqs.model import P_DLQ_SRC, P_SENT, decode_payload
from services.sqs.urls import entity_key, parse_arn

log = logging.getLogger("broker.sqs.move")

KIND_TASK = "sqs.task"
STEP_LEASE_MS = 30000
DEFAULT_RATE = 500


def task_handle(task_id: str, source_arn: str) -> str:
    raw = json.dumps({"taskId": task_id, "sourceArn": source_arn}, separators=(",", ":")).encode()
    return base64.b64encode(raw).decode()


def parse_task_handle(handle: str) -> tuple[str, str] | None:
    """(task id, source ARN) of a TaskHandle, or None when it is not one."""
    try:
        doc = json.loads(base64.b64decode(handle, validate=True))
        task_id, source_arn = doc["taskId"], doc["sourceArn"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(task_id, str) or not isinstance(source_arn, str):
        return None
    return task_id, source_arn


class MoveTasks:
    def __init__(self, shard):
        self.shard = shard
        self.store = shard.store
        self.tasks: dict[str, dict] = {}          # task id -> record
        self.running: dict[str, asyncio.Task] = {}
        for tid, rec in self.store.scan(KIND_TASK):
            self.tasks[tid] = dict(rec)
        for tid, rec in self.tasks.items():
            if rec["status"] in ("RUNNING", "CANCELLING"):
                self._run(tid)

    def close(self) -> None:
        for t in self.running.values():
            t.cancel()
        self.running.clear()

    def _save(self, rec: dict) -> None:
        self.store.put(KIND_TASK, rec["id"], rec)

    def start(self, a):
        q = self.shard._get(a["k"])
        for rec in self.tasks.values():
            if rec["source_key"] == q.key and rec["status"] in ("RUNNING", "CANCELLING"):
                raise invalid_parameter("There is already a task running. Only one active task is allowed for a "
                                        "source queue arn at a given time.")
        tid = str(uuid.uuid4())
        now = self.shard.part.now_ms()
        rec = {"id": tid, "source_key": q.key, "source_arn": q.arn, "dest_arn": a.get("dest"),
               "rate": a.get("rate") or DEFAULT_RATE, "explicit_rate": a.get("rate") is not None,
               "status": "RUNNING", "moved": 0, "to_move": q.queue.visible, "started": now, "failure": None}
        self.tasks[tid] = rec
        self._save(rec)
        self._run(tid)
        return {"TaskHandle": task_handle(tid, q.arn)}

    def cancel(self, a):
        rec = self.tasks.get(a["task"])
        if rec is None or rec["source_key"] != a["k"]:
            raise err("ResourceNotFoundException", "Task does not exist.", 404)
        if rec["status"] != "RUNNING":
            raise err("UnsupportedOperation", f"Task is in {rec['status']} status and cannot be cancelled.")
        rec["status"] = "CANCELLED"
        self._save(rec)
        t = self.running.pop(rec["id"], None)
        if t is not None:
            t.cancel()
        return {"ApproximateNumberOfMessagesMoved": rec["moved"]}

    def list(self, a):
        key = a["k"]
        max_results = a.get("max") or 1
        recs = sorted((r for r in self.tasks.values() if r["source_key"] == key),
                      key=lambda r: r["started"], reverse=True)[:max_results]
        out = []
        for r in recs:
            item = {"Status": r["status"], "SourceArn": r["source_arn"],
                    "ApproximateNumberOfMessagesMoved": r["moved"],
                    "ApproximateNumberOfMessagesToMove": r["to_move"],
                    "StartedTimestamp": r["started"]}
            if r["status"] == "RUNNING":
                item["TaskHandle"] = task_handle(r["id"], r["source_arn"])
            if r["dest_arn"]:
                item["DestinationArn"] = r["dest_arn"]
            if r.get("explicit_rate"):
                item["MaxNumberOfMessagesPerSecond"] = r["rate"]
            if r.get("failure"):
                item["FailureReason"] = r["failure"]
            out.append(item)
        return out

    def queue_deleted(self, q) -> None:
        for rec in self.tasks.values():
            if rec["source_key"] == q.key and rec["status"] == "RUNNING":
                rec["status"] = "FAILED"
                rec["failure"] = "AWS.SimpleQueueService.NonExistentQueue"
                self._save(rec)
                t = self.running.pop(rec["id"], None)
                if t is not None:
                    t.cancel()

    def _run(self, tid: str) -> None:
        self.running[tid] = asyncio.get_running_loop().create_task(self._loop(tid))

    async def _loop(self, tid: str) -> None:
        rec = self.tasks[tid]
        shard = self.shard
        try:
            while rec["status"] == "RUNNING":
                q = shard.queues.get(rec["source_key"])
                if q is None:
                    rec["status"], rec["failure"] = "FAILED", "AWS.SimpleQueueService.NonExistentQueue"
                    break
                if rec["moved"] >= rec["to_move"] or q.queue.visible == 0:
                    rec["status"] = "COMPLETED"
                    break
                now = shard.part.now_ms()
                batch = min(rec["rate"], rec["to_move"] - rec["moved"])
                res = q.queue.receive(now, batch, STEP_LEASE_MS)
                if res.dead:   # past the source's own redrive limit: on to its dead-letter queue
                    shard._dead_letter(q, res.dead)
                by_dest: dict[str, list] = {}
                taken = []
                failure = None
                for m in res.messages:
                    payload = m.payload if m.payload is not None else shard.store.load_payload(q.qid, m.seq)
                    fields = decode_payload(payload)
                    dest = rec["dest_arn"] or fields[P_DLQ_SRC]
                    parsed = parse_arn(dest) if dest else None
                    if parsed is None:
                        failure = "Message has no DeadLetterQueueSourceArn and the task has no DestinationArn."
                        q.queue.change_lease(now, m.seq, m.lease, 0)
                        continue
                    region, account, name = parsed
                    by_dest.setdefault(entity_key(region, account, name), []).append(
                        [payload, m.size, m.msg_id, m.group, m.dedup, fields[P_SENT]])
                    taken.append(m)
                shard.part.flush_soon()
                ok = True
                for key, msgs in by_dest.items():
                    try:
                        if key in shard.queues:
                            shard.op_Enqueue({"k": key, "m": msgs})
                        else:
                            await shard.part.call(key, "sqs.Enqueue", {"k": key, "m": msgs})
                    except Exception as exc:  # destination gone or unreachable
                        ok = False
                        failure = f"{getattr(exc, 'code', type(exc).__name__)}: {getattr(exc, 'message', exc)}"
                        break
                q = shard.queues.get(rec["source_key"])
                if q is None:
                    continue
                now = shard.part.now_ms()
                for m in taken:
                    if ok:
                        q.queue.delete(m.seq)
                    else:
                        try:
                            q.queue.change_lease(now, m.seq, m.lease, 0)
                        except Exception:
                            pass
                if ok:
                    rec["moved"] += len(taken)
                if failure:
                    rec["status"], rec["failure"] = "FAILED", failure
                self._save(rec)
                shard._arm(q)
                shard.part.flush_soon()
                if rec["status"] == "RUNNING":
                    await asyncio.sleep(1.0 if len(taken) >= rec["rate"] else 0.05)
        except asyncio.CancelledError:
            return
        except ServiceError as exc:
            rec["status"], rec["failure"] = "FAILED", exc.message
        except Exception:
            log.exception("event=move_task_failed task=%s", tid)
            rec["status"], rec["failure"] = "FAILED", "internal error"
        self._save(rec)
        self.running.pop(tid, None)
        shard.part.flush_soon()
