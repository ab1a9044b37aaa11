"""Execution environments of one shard process: warm reuse, concurrency, reaping.

Every function's environments run in the shard owning its partition, so the
functions of a server are spread over its shard processes and one function's
concurrency is counted exactly in one place. Per shard:

- idle environments per Spec (a version's code and configuration), reused
  most recently used first, so a burst's extra environments age out;
- in-flight counts per function (reserved concurrency); the account's
  unreserved pool (``lambda.concurrent_executions`` less the reservations)
  is counted server-wide through leases (concurrency.py); past either the
  caller gets TooManyRequestsException;
- provisioned environments kept warm per qualifier, never reaped;
- one reaper timer: environments idle longer than ``lambda.idle_timeout``
  are stopped.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import time

from broker.runtime import telemetry
from services.awslambda import code as codes
from services.awslambda import concurrency
from services.awslambda import runtimes
from services.awslambda.environment import Environment, Invocation, Result
from services.awslambda.logsink import LogSink
from services.awslambda.model import throttled
from services.errors import ServiceError

log = logging.getLogger("broker.lambda")

REAP_EVERY_MS = 5_000


class Spec:
    """What an environment runs: one version's code and configuration."""
    __slots__ = ("id", "key", "name", "account", "region", "version", "runtime", "handler", "memory_mb",
                 "timeout_s", "code", "layers", "env_ct", "kms", "log_group", "dlq")

    def __init__(self, key: str, rec: dict, version: str, cfg: dict, code: dict, layer_codes: list):
        self.key, self.name, self.account, self.region = key, rec["n"], rec["a"], rec["r"]
        self.version, self.runtime, self.handler = version, cfg.get("Runtime"), cfg.get("Handler")
        self.memory_mb, self.timeout_s = cfg["MemorySize"], cfg["Timeout"]
        self.code, self.layers = code, layer_codes
        self.env_ct = rec.get("env_ct") if version == "$LATEST" else cfg.get("_env_ct")
        self.kms = cfg.get("KMSKeyArn")
        self.log_group = (cfg.get("LoggingConfig") or {}).get("LogGroup") or f"/aws/lambda/{self.name}"
        self.id = f"{key}|{version}|{cfg['RevisionId']}|{code['sha']}"


class _FnState:
    __slots__ = ("idle", "all", "inflight", "provisioned")

    def __init__(self):
        self.idle: dict[str, list[Environment]] = {}     # spec id -> idle environments (LIFO)
        self.all: set[Environment] = set()
        self.inflight = 0
        self.provisioned: dict[str, list[Environment]] = {}   # qualifier -> environments kept warm


class Pools:
    def __init__(self, shard):
        self.shard = shard
        self.part = shard.part
        cfg = shard.config
        self.idle_s = float(cfg.get("lambda.idle_timeout", 300.0))
        self.fns: dict[str, _FnState] = {}
        self.logs = LogSink(shard)
        self.leases = concurrency.holder(shard.host)
        self._reaper_armed = False
        self.data_dir = shard.data_dir

    # -- concurrency ---------------------------------------------------------------------
    def _state(self, key: str) -> _FnState:
        st = self.fns.get(key)
        if st is None:
            st = self.fns[key] = _FnState()
        return st

    async def admit(self, key: str, rec: dict) -> tuple:
        """Take one unit of concurrency (a token for `release`) or raise TooManyRequestsException.
        Reserved concurrency is counted here, where all of the function's environments run; the
        account's unreserved pool server-wide, through leases (concurrency.py)."""
        st = self._state(key)
        rc = rec.get("rc")
        account, region = rec["a"], rec["r"]
        if rc is not None:
            if st.inflight >= rc:
                self._throttle(rec)
                raise throttled("ReservedFunctionConcurrentInvocationLimitExceeded")
            self.leases.note_reserved(account, region, 1)
        else:
            try:
                await self.leases.take(account, region)
            except ServiceError as exc:
                if exc.code == "TooManyRequestsException":
                    self._throttle(rec)
                raise
        st.inflight += 1
        telemetry.metric("AWS/Lambda", "ConcurrentExecutions", {"FunctionName": rec["n"]}, st.inflight, "Count",
                         account=account, region=region)
        return (key, account, region, rc is None)

    def release(self, token: tuple) -> None:
        key, account, region, unreserved = token
        self._state(key).inflight -= 1
        if unreserved:
            self.leases.give(account, region)
        else:
            self.leases.note_reserved(account, region, -1)

    @staticmethod
    def _throttle(rec: dict) -> None:
        telemetry.metric("AWS/Lambda", "Throttles", {"FunctionName": rec["n"]}, 1, "Count",
                         account=rec["a"], region=rec["r"])

    # -- environments ---------------------------------------------------------------------
    async def _variables(self, spec: Spec) -> dict:
        """Opened with KMS at every cold start (never cached), so the key's state counts."""
        if not spec.env_ct:
            return {}
        return await self.shard.decrypt_env(spec)

    async def _spawn(self, spec: Spec, init_type: str) -> Environment:
        now = time.gmtime()
        stream = f"{time.strftime('%Y/%m/%d', now)}/[{spec.version}]{os.urandom(16).hex()}"
        env = Environment(spec, stream, init_type)
        task = await asyncio.to_thread(codes.task_root, self.data_dir, spec.code)
        opt = await asyncio.to_thread(codes.opt_dir, self.data_dir, spec.layers) if spec.layers else None
        variables = await self._variables(spec)
        cmd = runtimes.command(spec.runtime, spec.handler or "", task, opt)
        base = self.shard.endpoint_env(spec.account)
        ev = {
            **base, **variables, **runtimes.environment(spec.runtime, task, opt),
            "_HANDLER": spec.handler or "", "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group, "AWS_LAMBDA_LOG_STREAM_NAME": stream,
            "AWS_LAMBDA_INITIALIZATION_TYPE": init_type, "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region, "AWS_EXECUTION_ENV": runtimes.execution_env(spec.runtime),
            "TZ": ":UTC", "LANG": "en_US.UTF-8", "HOME": str(task),
        }
        st = self._state(spec.key)
        st.all.add(env)
        env.on_exit = self._exited
        try:
            await env.start(cmd, ev, str(task))
        except Exception:
            st.all.discard(env)
            raise
        env.init_lines.append((int(time.time() * 1000),
                               f"INIT_START Runtime Version: {spec.runtime} Runtime Version ARN: "
                               f"arn:aws:lambda:{spec.region}::runtime:broker-{spec.runtime}"))
        return env

    def _exited(self, env: Environment) -> None:
        st = self.fns.get(env.spec.key)
        if st is None:
            return
        st.all.discard(env)
        lst = st.idle.get(env.spec.id)
        if lst and env in lst:
            lst.remove(env)
        for q, envs in st.provisioned.items():
            if env in envs:
                envs.remove(env)
                rec = self.shard.fns.get(env.spec.key)
                want = ((rec or {}).get("pc") or {}).get(q)
                if want:       # a crashed provisioned environment is replaced
                    asyncio.get_running_loop().call_later(0.5, self.provision, env.spec.key, rec, q, want["n"])
        if env.init_lines:
            self.logs.add(env.spec, env.stream, env.init_lines)
            env.init_lines = []

    def _take_idle(self, spec: Spec, qualifier: str | None) -> Environment | None:
        st = self._state(spec.key)
        if qualifier and st.provisioned.get(qualifier):
            for env in st.provisioned[qualifier]:
                if env.current is None and not env.dead and env.spec.id == spec.id and env.ready:
                    return env
        lst = st.idle.get(spec.id)
        while lst:
            env = lst.pop()
            if not env.dead:
                return env
        return None

    def _park(self, env: Environment, provisioned: bool) -> None:
        if env.dead:
            return
        if provisioned:
            return
        self._state(env.spec.key).idle.setdefault(env.spec.id, []).append(env)
        self._arm_reaper()

    # -- invoke ---------------------------------------------------------------------------------
    async def run(self, spec: Spec, rec: dict, inv: Invocation, qualifier: str | None, tail: bool) -> tuple[Result, str | None]:
        """Run `inv` on a warm or new environment; (result, base64 log tail or None).
        Concurrency must already be admitted (and is released by the caller)."""
        env = self._take_idle(spec, qualifier)
        cold = env is None
        provisioned = env is not None and env.init_type == "provisioned-concurrency"
        if env is None:
            try:
                env = await self._spawn(spec, "on-demand")
            except runtimes.RuntimeUnavailable as exc:
                return self._init_failed(spec, inv, exc.error_type, str(exc), tail)
            except ServiceError:
                raise                     # KMS refused the environment variables: the caller's error
            except Exception as exc:
                log.warning("event=lambda_spawn_failed function=%s error=%s", spec.name, exc)
                return self._init_failed(spec, inv, "Runtime.InvalidEntrypoint", str(exc), tail)
        t0 = time.monotonic()
        result = await env.invoke(inv)
        duration = (time.monotonic() - (inv.started or t0)) * 1000
        init_ms = env.init_ms
        lines = self._frame(spec, env, inv, duration, init_ms if cold else None, result)
        if cold and env.init_lines:
            self.logs.add(spec, env.stream, env.init_lines)
            env.init_lines = []
        self.logs.add(spec, env.stream, lines)
        if result.error is not None and result.error_type in ("Runtime.ExitError", "Sandbox.Timedout") or env.dead:
            env.kill()
        elif not env.dead:
            self._park(env, provisioned)
        self._metrics(spec, duration, result)
        return result, (_tail(lines) if tail else None)

    def _init_failed(self, spec, inv, etype, text, tail):
        import json
        result = Result(json.dumps({"errorType": etype, "errorMessage": text}).encode(), "Unhandled", etype)
        now = int(time.time() * 1000)
        lines = [(now, f"START RequestId: {inv.id} Version: {spec.version}"), (now, text),
                 (now, f"END RequestId: {inv.id}"),
                 (now, f"REPORT RequestId: {inv.id}\tDuration: 0.00 ms\tBilled Duration: 0 ms\t"
                       f"Memory Size: {spec.memory_mb} MB\tMax Memory Used: 0 MB\tStatus: error\tError Type: {etype}")]
        self.logs.add(spec, f"{time.strftime('%Y/%m/%d')}/[{spec.version}]{os.urandom(16).hex()}", lines)
        self._metrics(spec, 0.0, result)
        return result, (_tail(lines) if tail else None)

    @staticmethod
    def _frame(spec: Spec, env: Environment, inv: Invocation, duration: float, init_ms: float | None,
               result: Result) -> list[tuple[int, str]]:
        start = int(time.time() * 1000 - duration)
        out = [(inv.lines[0][0] if inv.lines else start, f"START RequestId: {inv.id} Version: {spec.version}")]
        out.extend(inv.lines)
        end = int(time.time() * 1000)
        out.append((end, f"END RequestId: {inv.id}"))
        rss = _rss_mb(env)
        report = (f"REPORT RequestId: {inv.id}\tDuration: {duration:.2f} ms\tBilled Duration: {max(1, int(duration + 0.999))} ms\t"
                  f"Memory Size: {spec.memory_mb} MB\tMax Memory Used: {rss} MB")
        if init_ms is not None:
            report += f"\tInit Duration: {init_ms:.2f} ms"
        if result.error_type in ("Sandbox.Timedout", "Runtime.ExitError"):
            report += f"\tStatus: {'timeout' if result.error_type == 'Sandbox.Timedout' else 'error'}"
        out.append((end, report))
        return out

    @staticmethod
    def _metrics(spec: Spec, duration: float, result: Result) -> None:
        dims = {"FunctionName": spec.name}
        telemetry.metric("AWS/Lambda", "Invocations", dims, 1, "Count", account=spec.account, region=spec.region)
        telemetry.metric("AWS/Lambda", "Duration", dims, duration, "Milliseconds", account=spec.account,
                         region=spec.region)
        telemetry.metric("AWS/Lambda", "Errors", dims, 1 if result.error else 0, "Count", account=spec.account,
                         region=spec.region)

    # -- provisioned concurrency ---------------------------------------------------------------
    def provision(self, key: str, rec: dict, qualifier: str, n: int) -> None:
        st = self._state(key)
        envs = st.provisioned.setdefault(qualifier, [])
        for env in envs[n:]:
            env.kill()
        del envs[n:]
        missing = n - len(envs)
        if missing > 0:
            asyncio.get_running_loop().create_task(self._provision(key, rec, qualifier, missing))

    async def _provision(self, key: str, rec: dict, qualifier: str, n: int) -> None:
        try:
            version, cfg, code = self.shard.resolve(rec, qualifier)
            spec = self.shard.spec(key, rec, version, cfg, code)
        except Exception:
            return
        envs = self._state(key).provisioned.setdefault(qualifier, [])
        for _ in range(n):
            try:
                env = await self._spawn(spec, "provisioned-concurrency")
            except Exception as exc:
                log.warning("event=lambda_provision_failed function=%s error=%s", spec.name, exc)
                return
            envs.append(env)
            asyncio.get_running_loop().create_task(self._warm(env))

    @staticmethod
    async def _warm(env: Environment) -> None:
        """A provisioned environment initialises before any invocation (its first /next)."""
        deadline = time.monotonic() + 10.0
        while not env.ready and not env.dead and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    def provisioned_ready(self, rec: dict, qualifier: str) -> int:
        key = self.shard.key_of(rec)
        st = self.fns.get(key)
        if st is None:
            return 0
        return sum(1 for e in st.provisioned.get(qualifier, ()) if e.ready and not e.dead)

    # -- retiring and reaping ------------------------------------------------------------------
    def retire(self, key: str, drop: bool = False) -> None:
        """Code or configuration changed: idle environments of old specs stop now."""
        st = self.fns.get(key)
        if st is None:
            return
        for lst in st.idle.values():
            for env in lst:
                env.kill()
        st.idle.clear()
        if drop:
            for envs in st.provisioned.values():
                for env in envs:
                    env.kill()
            st.provisioned.clear()

    def _arm_reaper(self) -> None:
        if not self._reaper_armed:
            self._reaper_armed = True
            self.part.schedule(self.part.now_ms() + REAP_EVERY_MS, self._reap)

    def _reap(self, _now) -> None:
        self._reaper_armed = False
        cutoff = time.monotonic() - self.idle_s
        left = 0
        for st in self.fns.values():
            for lst in st.idle.values():
                keep = []
                for env in lst:
                    if env.dead:
                        continue
                    if env.last_used < cutoff:
                        env.kill()
                    else:
                        keep.append(env)
                lst[:] = keep
                left += len(keep)
        if left:
            self._arm_reaper()

    def close(self) -> None:
        for st in self.fns.values():
            for env in list(st.all):
                env.kill()
        self.logs.close()


def _rss_mb(env: Environment) -> int:
    try:
        with open(f"/proc/{env.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return max(1, int(line.split()[1]) // 1024)
    except (OSError, AttributeError, ValueError):
        pass
    return env.max_rss_mb or 1


def _tail(lines: list[tuple[int, str]]) -> str:
    text = "".join(t + "\n" for _ts, t in lines).encode()
    return base64.b64encode(text[-4096:]).decode()
