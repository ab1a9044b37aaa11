"""Activities: their records, their task queues and the workers polling them.

An activity task is a record (``sfn.atask``) in the activity's partition,
written before ActivityEnqueue answers, so a scheduled task survives a
restart with its token. GetActivityTask takes the oldest task at once, or
parks the caller (one future per waiting poll, no polling loop) until a task
arrives or 60 s pass; a poll whose client went away is cancelled by the
runtime and its waiter dropped. Handing a task to a worker deletes its
record and sends ActivityStarted to the execution's partition through the
durable outbox, in the same commit.
"""

from __future__ import annotations

import asyncio
from collections import deque

from broker.runtime.outbox import Outbox
from services.stepfunctions import arns
from services.stepfunctions.errors import activity_does_not_exist, resource_not_found

KIND_ACTIVITY = "sfn.act"
KIND_TASK = "sfn.atask"
KIND_OUTBOX = "sfn.aoutbox"
POLL_SECONDS = 60


class _Queue:
    __slots__ = ("tasks", "waiters")

    def __init__(self):
        self.tasks: deque[str] = deque()       # task record keys, oldest first
        self.waiters: deque = deque()           # futures of parked GetActivityTask calls


class Activities:
    def __init__(self, service):
        self.service = service
        self.part = service.part
        self.store = self.part.store
        self.queues: dict[str, _Queue] = {}
        self.seq = 0
        pending = sorted(self.store.scan(KIND_TASK), key=lambda kv: kv[1]["seq"])
        for key, rec in pending:
            self._queue(rec["arn"]).tasks.append(key)
            self.seq = max(self.seq, rec["seq"])
        self.outbox = Outbox(self.part, KIND_OUTBOX, give_up_codes=("ExecutionDoesNotExist",))

    def close(self) -> None:
        self.outbox.close()
        for q in self.queues.values():
            for fut in q.waiters:
                if not fut.done():
                    fut.cancel()

    def _queue(self, arn: str) -> _Queue:
        q = self.queues.get(arn)
        if q is None:
            q = self.queues[arn] = _Queue()
        return q

    # -- records ------------------------------------------------------------------------
    def create(self, a: dict) -> dict:
        arn = a["arn"]
        rec = self.store.get(KIND_ACTIVITY, arn)
        if rec is None:
            rec = {"arn": arn, "name": a["name"], "account": a["account"], "region": a["region"],
                   "created": self.service.engine.now_ms(), "tags": dict(a.get("tags") or {}),
                   "enc": a.get("enc") or {"type": "AWS_OWNED_KEY"}}
            self.store.put(KIND_ACTIVITY, arn, rec)
        return {"activityArn": arn, "creationDate": rec["created"] / 1000.0}

    def describe(self, arn: str) -> dict:
        rec = self.store.get(KIND_ACTIVITY, arn)
        if rec is None:
            raise activity_does_not_exist(arn)
        return {"activityArn": arn, "name": rec["name"], "creationDate": rec["created"] / 1000.0,
                "encryptionConfiguration": rec.get("enc") or {"type": "AWS_OWNED_KEY"}}

    def delete(self, arn: str) -> None:
        if self.store.get(KIND_ACTIVITY, arn) is None:
            return
        self.store.delete(KIND_ACTIVITY, arn)
        q = self.queues.pop(arn, None)
        if q is not None:
            for key in q.tasks:
                self.store.delete(KIND_TASK, key)
            for fut in q.waiters:
                if not fut.done():
                    fut.set_result(None)

    def list(self, account: str, region: str) -> list[dict]:
        return [{"activityArn": r["arn"], "name": r["name"], "creationDate": r["created"] / 1000.0}
                for _k, r in self.store.scan(KIND_ACTIVITY) if r["account"] == account and r["region"] == region]

    def record(self, arn: str) -> dict:
        rec = self.store.get(KIND_ACTIVITY, arn)
        if rec is None:
            raise resource_not_found(arn)
        return rec

    # -- tasks --------------------------------------------------------------------------
    def enqueue(self, a: dict) -> bool:
        arn = a["arn"]
        if self.store.get(KIND_ACTIVITY, arn) is None:
            raise activity_does_not_exist(arn)
        key = f"{arn}|{a['token']}"
        if self.store.get(KIND_TASK, key) is not None:
            return True                      # re-sent after a restart: already queued
        self.seq += 1
        self.store.put(KIND_TASK, key, {"arn": arn, "token": a["token"], "input": a["input"], "exec": a["exec"],
                                        "seq": self.seq})
        q = self._queue(arn)
        q.tasks.append(key)
        self._serve(q)
        return True

    def _take(self, q: _Queue, worker: str | None) -> dict | None:
        while q.tasks:
            key = q.tasks.popleft()
            rec = self.store.get(KIND_TASK, key)
            if rec is None:
                continue
            self.store.delete(KIND_TASK, key)
            target = arns.parse(rec["exec"]).key
            notice = {"k": target, "token": rec["token"], "worker": worker}
            self.outbox.send(target, "sfn.ActivityStarted", notice)
            return {"taskToken": rec["token"], "input": rec["input"], "_notice": notice}
        return None

    def _serve(self, q: _Queue) -> None:
        while q.tasks and q.waiters:
            fut, worker = q.waiters.popleft()
            if fut.done():
                continue
            got = self._take(q, worker)
            if got is None:
                q.waiters.appendleft((fut, worker))
                return
            fut.set_result(got)
        self.part.flush_soon()

    def get_task(self, arn: str, worker: str | None, wait_s: float = POLL_SECONDS):
        if self.store.get(KIND_ACTIVITY, arn) is None:
            raise activity_does_not_exist(arn)
        q = self._queue(arn)
        return self._get(q, worker, wait_s)

    async def _get(self, q: _Queue, worker: str | None, wait_s: float) -> dict:
        got = self._take(q, worker) or await self._wait(q, worker, wait_s)
        if not got:
            return {}
        notice = got.pop("_notice")
        try:    # the execution records ActivityStarted before the worker can answer (the outbox re-sends on loss)
            await self.part.call(notice["k"], "sfn.ActivityStarted", dict(notice))
        except Exception:
            pass
        return got

    async def _wait(self, q: _Queue, worker: str | None, wait_s: float):
        fut = asyncio.get_running_loop().create_future()
        entry = (fut, worker)
        q.waiters.append(entry)
        try:
            got = await asyncio.wait_for(asyncio.shield(fut), wait_s)
        except asyncio.TimeoutError:
            got = None
        except asyncio.CancelledError:
            # the client went away: its waiter goes (a task already handed to it is lost with the
            # worker, as at AWS: the execution sees it time out or heartbeat out)
            raise
        finally:
            try:
                q.waiters.remove(entry)
            except ValueError:
                pass
        return got
