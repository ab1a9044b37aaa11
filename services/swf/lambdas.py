"""Lambda tasks: the ScheduleLambdaFunction decision, run through the Lambda service.

SWF calls the function itself (no worker polls for it). Scheduling records
``LambdaFunctionScheduled`` and, in the same commit, a durable delivery
(kind ``swf.lambda``) in the domain's partition; the delivery runs the task:

1. a ``DryRun`` Invoke (the function exists, the qualifier resolves, the
   input is JSON): if Lambda refuses, ``StartLambdaFunctionFailed`` with
   Lambda's message, and the task is over;
2. ``LambdaFunctionStarted``, and the start-to-close timer (the decision's
   ``startToCloseTimeout``, default and maximum 900 s) as a durable timer;
3. a ``RequestResponse`` Invoke with the task's input as the event: the
   function's result is ``LambdaFunctionCompleted`` ``result``; a function
   error is ``LambdaFunctionFailed`` with ``reason`` its ``errorType`` and
   ``details`` the error document; the timer firing first is
   ``LambdaFunctionTimedOut`` (``START_TO_CLOSE``) and a late result is
   dropped, as AWS cannot stop a running function either.

A kill -9 during step 3 re-runs the invocation after recovery (at least
once), without a second Started event. Scheduling fails with
``ScheduleLambdaFunctionFailed``: ``ID_ALREADY_IN_USE`` (an open task has
the id), ``OPEN_LAMBDA_FUNCTIONS_LIMIT_EXCEEDED`` (1,000 open), and
``LAMBDA_SERVICE_NOT_AVAILABLE_IN_REGION`` when this build has no Lambda
service or the execution has no IAM role for Lambda (``lambdaRole``, or the
type's ``defaultLambdaRole``): AWS documents that failure without naming a
cause, and SDKs accept only the four causes of the model.
"""

from __future__ import annotations

import json
import logging
from functools import lru_cache

from broker.runtime import sinks
from services.swf.model import MAX_LAMBDA_SECONDS, MAX_OPEN_LAMBDAS, seconds
from services.swf.state import Execution

log = logging.getLogger("broker.swf")

KIND = "swf.lambda"
MAX_REASON = 256
MAX_DATA = 32_768


@lru_cache(maxsize=1)
def lambda_available() -> bool:
    from services.registry import SERVICES
    return any(s.name == "lambda" for s in SERVICES)


class LambdaMixin:
    """Mixed into the engine: Lambda tasks of an execution live in ``ex.fns``
    (id -> [scheduledEventId, startedEventId])."""

    def schedule_lambda(self, ex: Execution, a: dict, completed: int) -> None:
        fid, name = a["id"], a["name"]
        cause = None
        if not lambda_available() or not ex.cfg.get("lr"):
            cause = "LAMBDA_SERVICE_NOT_AVAILABLE_IN_REGION"
        elif fid in ex.fns:
            cause = "ID_ALREADY_IN_USE"
        elif len(ex.fns) >= MAX_OPEN_LAMBDAS:
            cause = "OPEN_LAMBDA_FUNCTIONS_LIMIT_EXCEEDED"
        if cause is not None:
            self.event(ex, "ScheduleLambdaFunctionFailed", {"id": fid, "name": name, "cause": cause,
                                                            "decisionTaskCompletedEventId": completed})
            self.notify(ex)
            return
        s = self.event(ex, "LambdaFunctionScheduled", {
            "id": fid, "name": name, "control": a.get("control"), "input": a.get("input"),
            "startToCloseTimeout": a.get("startToCloseTimeout") or str(MAX_LAMBDA_SECONDS),
            "decisionTaskCompletedEventId": completed})
        ex.fns[fid] = [s, 0]
        d = ex.domain
        sinks.deliveries(self.part).submit(KIND, {"k": d.key, "rid": ex.run_id, "s": s}, None)

    def lambda_task(self, target: dict) -> tuple[Execution, str, list] | None:
        """(execution, id, [scheduled, started]) of a delivery's task while it is open."""
        d = self.domains.get(target["k"])
        ex = d.runs.get(target["rid"]) if d is not None else None
        if ex is None or not ex.is_open:
            return None
        for fid, task in ex.fns.items():
            if task[0] == target["s"]:
                return ex, fid, task
        return None

    def lambda_started(self, ex: Execution, task: list) -> None:
        now = self.now()
        task[1] = self.event(ex, "LambdaFunctionStarted", {"scheduledEventId": task[0]}, now)
        timeout = seconds(self._lambda_attrs(ex, task)["startToCloseTimeout"])
        self.schedule(f"{ex.run_id}/l{task[0]}", now + timeout * 1000, "lst2c", ex, task[0])

    def lambda_closed(self, ex: Execution, fid: str, etype: str, attrs: dict) -> None:
        """The task's outcome: recorded, the task dropped, the decider told."""
        task = ex.fns.pop(fid)
        self.timers.cancel(f"{ex.run_id}/l{task[0]}")
        self.event(ex, etype, {"scheduledEventId": task[0], **({"startedEventId": task[1]} if task[1] else {}),
                               **attrs})
        self.notify(ex)

    def drop_lambdas(self, ex: Execution) -> None:
        """The execution closed: its open Lambda tasks are forgotten (a late result is dropped)."""
        for task in ex.fns.values():
            self.timers.cancel(f"{ex.run_id}/l{task[0]}")
        ex.fns = {}

    @staticmethod
    def _lambda_attrs(ex: Execution, task: list) -> dict:
        return ex.events[task[0] - 1]["lambdaFunctionScheduledEventAttributes"]

    def _t_lambda_st2c(self, ex: Execution, _tid, scheduled: int) -> None:
        for fid, task in ex.fns.items():
            if task[0] == scheduled and task[1]:
                self.lambda_closed(ex, fid, "LambdaFunctionTimedOut", {"timeoutType": "START_TO_CLOSE"})
                return


RETRIED = frozenset(("TooManyRequestsException", "ServiceUnavailable", "ServiceException"))


async def _invoke(call, params: dict, kw: dict) -> tuple[dict | None, tuple[str, str] | None]:
    """(output, None), or (None, (code, message)) when Lambda refused; a passing refusal
    (throttle, a shard restarting) is retried as the delivery."""
    try:
        return await call("lambda", "Invoke", params, **kw), None
    except Exception as exc:      # ServiceError from the gateway half, RemoteError from its shard
        code = getattr(exc, "code", None)
        if code is None:
            raise
        message = str(getattr(exc, "message", exc))
        if code in RETRIED:
            raise sinks.Failed(f"{code}: {message}", True, code) from None
        return None, (code, message)


async def run(d: sinks.Delivery) -> None:
    """Start (once) and run one Lambda task; retried until its outcome is recorded."""
    from services.internal import caller
    eng = d.partition.services["swf"].engine
    found = eng.lambda_task(d.target)
    if found is None:
        return                                 # closed, timed out, or already done
    ex, _fid, task = found
    attrs = eng._lambda_attrs(ex, task)
    params = {"FunctionName": attrs["name"], "Payload": (attrs.get("input") or "").encode()}
    call = caller(d.partition.shard).call
    kw = {"account": ex.domain.account, "region": ex.domain.region, "role_arn": ex.cfg.get("lr")}
    if not task[1]:
        _out, refused = await _invoke(call, {**params, "InvocationType": "DryRun"}, kw)
        if refused is not None:
            _outcome(d, "StartLambdaFunctionFailed", {"message": refused[1][:1728]}, started=False)
            return
        found = eng.lambda_task(d.target)
        if found is None:
            return
        ex, _fid, task = found
        if not task[1]:
            eng.lambda_started(ex, task)
            eng.commit()
            d.partition.flush_soon()
    out, refused = await _invoke(call, {**params, "InvocationType": "RequestResponse"}, kw)
    if refused is not None:
        _outcome(d, "LambdaFunctionFailed", {"reason": refused[0][:MAX_REASON], "details": refused[1][:MAX_DATA]})
        return
    payload = (out.get("Payload") or b"").decode("utf-8", "replace")
    if out.get("FunctionError"):
        try:
            reason = json.loads(payload).get("errorType") or out["FunctionError"]
        except (ValueError, AttributeError):
            reason = out["FunctionError"]
        _outcome(d, "LambdaFunctionFailed", {"reason": str(reason)[:MAX_REASON], "details": payload[:MAX_DATA]})
    else:
        _outcome(d, "LambdaFunctionCompleted", {"result": payload})


def _outcome(d: sinks.Delivery, etype: str, attrs: dict, started: bool = True) -> None:
    eng = d.partition.services["swf"].engine
    found = eng.lambda_task(d.target)
    if found is None or bool(found[2][1]) != started:
        return                                 # timed out or closed meanwhile
    ex, fid, _task = found
    eng.lambda_closed(ex, fid, etype, attrs)
    eng.commit()
    d.partition.flush_soon()


sinks.register_kind(KIND, run)
