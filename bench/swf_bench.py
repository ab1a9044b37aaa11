"""SWF throughput with 10 concurrent boto3 processes per role, against moto
server (baseline) measured in the same run.

Three phases, each draining a fixed amount of work with 10 processes:
- starts: StartWorkflowExecution of N workflows;
- decisions: deciders poll decision tasks and answer each with a
  ScheduleActivityTask decision (decision tasks handled per second);
- activities: workers poll activity tasks and complete them (activity tasks
  handled per second).
A phase stops counting 10 tasks before its supply runs out, so no process is
left in an idle 60-second long poll.

Prints JSON. Run: python bench/swf_bench.py [--n 2000] [--moto-n 200] [--procs 10]
Needs moto[server] (pip install -e '.[bench]').
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time

from _common import Broker, Moto, emit

WF = {"name": "bench", "version": "1"}
ACT = {"name": "step", "version": "1"}
SPARE = 10


def client(url: str):
    import boto3
    from botocore.config import Config
    return boto3.client("swf", endpoint_url=url, region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE",
                        aws_secret_access_key="x",
                        config=Config(read_timeout=70, retries={"total_max_attempts": 1}))


def setup(url: str, domain: str) -> None:
    swf = client(url)
    swf.register_domain(name=domain, workflowExecutionRetentionPeriodInDays="1")
    swf.register_workflow_type(domain=domain, name=WF["name"], version=WF["version"],
                               defaultTaskList={"name": "decisions"}, defaultExecutionStartToCloseTimeout="3600",
                               defaultTaskStartToCloseTimeout="600", defaultChildPolicy="TERMINATE")
    swf.register_activity_type(domain=domain, name=ACT["name"], version=ACT["version"],
                               defaultTaskList={"name": "activities"}, defaultTaskScheduleToStartTimeout="3600",
                               defaultTaskScheduleToCloseTimeout="3600", defaultTaskStartToCloseTimeout="600",
                               defaultTaskHeartbeatTimeout="NONE")


def _role(role: str, url: str, domain: str, total: int, target: int, next_index, done, errors, ready,
          go) -> None:
    from botocore.exceptions import ClientError
    swf = client(url)
    swf.describe_domain(name=domain)       # warm the connection before the clock starts
    ready.put(1)
    go.wait()
    while done.value < target:
        try:
            outcome = _step(swf, role, domain, total, next_index)
        except ClientError:          # e.g. a task handed to two pollers (counted, reported)
            with errors.get_lock():
                errors.value += 1
            continue
        if outcome is None:
            return
        if outcome:
            with done.get_lock():
                done.value += 1


def _step(swf, role: str, domain: str, total: int, next_index) -> bool | None:
    """One unit of work: True when done, False after an empty poll, None when nothing is left."""
    if role == "starts":
        with next_index.get_lock():
            i = next_index.value
            next_index.value += 1
        if i >= total:
            return None
        swf.start_workflow_execution(domain=domain, workflowId=f"w{i}", workflowType=WF)
        return True
    if role == "decisions":
        task = swf.poll_for_decision_task(domain=domain, taskList={"name": "decisions"}, identity="decider")
        if not task.get("taskToken"):
            return False
        swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[{
            "decisionType": "ScheduleActivityTask",
            "scheduleActivityTaskDecisionAttributes": {"activityType": ACT, "activityId": "a1", "input": "x"}}])
        return True
    task = swf.poll_for_activity_task(domain=domain, taskList={"name": "activities"}, identity="worker")
    if not task.get("taskToken"):
        return False
    swf.respond_activity_task_completed(taskToken=task["taskToken"], result="ok")
    return True


def phase(ctx, role: str, url: str, domain: str, total: int, target: int, procs: int) -> tuple[float, int]:
    """(tasks per second for `target` tasks of `role` done by `procs` processes, failed responses)."""
    next_index, done, errors = ctx.Value("i", 0), ctx.Value("i", 0), ctx.Value("i", 0)
    ready, go = ctx.Queue(), ctx.Event()
    ps = [ctx.Process(target=_role, args=(role, url, domain, total, target, next_index, done, errors, ready, go))
          for _ in range(procs)]
    for p in ps:
        p.start()
    for _ in ps:
        ready.get(timeout=120)
    t0 = time.perf_counter()
    go.set()
    while done.value < target:
        time.sleep(0.002)
        if not any(p.is_alive() for p in ps) and done.value < target:
            raise RuntimeError(f"{role}: workers exited after {done.value}/{target}")
    elapsed = time.perf_counter() - t0
    for p in ps:
        p.join(90)
        if p.is_alive():
            p.kill()
    return target / elapsed, errors.value


def run(ctx, url: str, n: int, procs: int) -> dict:
    domain = f"bench-{int(time.time() * 1000)}"
    setup(url, domain)
    out = {"n": n}
    for role, target in (("starts", n), ("decisions", n - SPARE), ("activity_tasks", n - 2 * SPARE)):
        rate, errors = phase(ctx, role.replace("activity_tasks", "activities"), url, domain, n, target, procs)
        out[role + "_per_s"] = round(rate, 1)
        if errors:
            out[role + "_failed_responses"] = errors
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000, help="workflows for our server")
    ap.add_argument("--moto-n", type=int, default=200, help="workflows for moto (it scans every execution per call)")
    ap.add_argument("--procs", type=int, default=10)
    ap.add_argument("--workers", default="1")
    ap.add_argument("--shards", default="1")
    ap.add_argument("--durability", default="process")
    args = ap.parse_args()
    ctx = mp.get_context("spawn")
    result = {"config": {"workers": args.workers, "shards": args.shards, "durability": args.durability,
                         "client_processes_per_role": args.procs}}
    broker = Broker("--workers", args.workers, "--shards", args.shards, "--durability", args.durability)
    try:
        result["broker"] = run(ctx, broker.url, args.n, args.procs)
    finally:
        broker.close()
    moto = Moto()
    try:
        result["moto"] = run(ctx, moto.url, args.moto_n, args.procs)
    finally:
        moto.close()
    result["ratio"] = {k: round(result["broker"][k] / result["moto"][k], 1)
                       for k in ("starts_per_s", "decisions_per_s", "activity_tasks_per_s") if result["moto"][k]}
    emit(result)


if __name__ == "__main__":
    main()
