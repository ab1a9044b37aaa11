"""Lambda shard half: function records, invocations, layers and event sources.

Built once per partition. A function's record and its execution
environments live here (functions.py, settings.py, pool.py); layers live in
the partition of their own key (layers.py); an event-source mapping polls
from the partition of its UUID (esm.py) and invokes through the Lambda API
like any client, so its functions may live anywhere.

``Invoke`` is the hot path: resolve the qualifier (weighted aliases pick a
version), admit one unit of concurrency, run on a warm environment or a new
one, answer. ``Event`` invocations are durable deliveries (asyncinvoke.py)
committed before the 202.
"""

from __future__ import annotations

from broker.core.ids import uuid4
from services.awslambda import asyncinvoke, concurrency
from services.awslambda.concurrency import Ledger
from services.awslambda.environment import Invocation
from services.awslambda.esm import EventSourceMappings
from services.awslambda.functions import K_FN, FunctionRecords
from services.awslambda.layers import LayerRecords
from services.awslambda.model import LATEST, fn_arn, not_found
from services.awslambda.pool import Pools, Spec
from services.awslambda.settings import FunctionSettings


class LambdaShard(FunctionRecords, FunctionSettings, LayerRecords):
    def __init__(self, part):
        self.part = part
        self.store = part.store
        self.host = part.shard
        run = part.shard.run
        self.config = run.config
        self.data_dir = run.data_dir
        self.account_limit = int(self.config.get("lambda.concurrent_executions", 1000))
        self.min_unreserved = min(100, self.account_limit // 10)
        self.fns: dict[str, dict] = dict(self.store.scan(K_FN))
        self.ledgers: dict[str, Ledger] = {}
        self.specs: dict[str, Spec] = {}
        self.pools = Pools(self)
        LayerRecords.__init__(self)
        self.esms = EventSourceMappings(self)
        for key, rec in self.fns.items():
            for q, pc in rec["pc"].items():
                part.after_commit(lambda k=key, r=rec, q=q, n=pc["n"]: self.pools.provision(k, r, q, n))

    def close(self) -> None:
        self.esms.close()
        self.pools.close()

    # -- dispatch ---------------------------------------------------------------------
    def op_Fn(self, a):
        return getattr(self, "_" + a["op"])(a["k"], a)

    def key_of(self, rec: dict) -> str:
        return f"lambda/{rec['a']}/{rec['r']}/{rec['n']}"

    def retire(self, key: str, drop: bool = False) -> None:
        self.specs = {i: s for i, s in self.specs.items() if s.key != key}
        self.pools.retire(key, drop)

    def spec(self, key: str, rec: dict, version: str, cfg: dict, code: dict) -> Spec:
        sid = f"{key}|{version}|{cfg['RevisionId']}|{code['sha']}"
        s = self.specs.get(sid)
        if s is None:
            s = self.specs[sid] = Spec(key, rec, version, cfg, code, cfg.get("_layers") or [])
        return s

    def endpoint_env(self, account: str) -> dict:
        """Variables pointing the AWS SDKs inside a function at this broker (in dev mode a
        12-digit access key is that account), as LocalStack does."""
        port = self.host.run.ports.get("http") or 4566
        return {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": account,
                "AWS_SECRET_ACCESS_KEY": "test", "AWS_SESSION_TOKEN": "test"}

    async def decrypt_env(self, spec: Spec) -> dict:
        from services.awslambda.envvars import decrypt
        return await decrypt(self.host, spec.account, spec.region, spec.env_ct, spec.kms)

    # -- invoke ----------------------------------------------------------------------------
    def op_Invoke(self, a):
        key = a["k"]
        rec = self.fns.get(key)
        if rec is None:
            raise not_found(f"Function not found: {fn_arn(a['r'], a['a'], a['n'], a.get('q'))}")
        version, cfg, code = self.resolve(rec, a.get("q"), route=True)
        kind = a.get("t") or "RequestResponse"
        if kind == "DryRun":
            return {"s": 204, "v": version}
        if kind == "Event":
            asyncinvoke.submit(self, key, rec, a)
            return {"s": 202, "v": version}
        return self._run_sync(key, rec, version, cfg, code, a)

    async def _run_sync(self, key, rec, version, cfg, code, a):
        token = await self.pools.admit(key, rec)
        try:
            result, tail = await self.execute(key, rec, version, cfg, code, a.get("q"), a["pl"], a.get("tr"),
                                              a.get("cc"), bool(a.get("l")), a.get("rid"))
        finally:
            self.pools.release(token)
        out = {"s": 200, "p": result.payload, "v": version}
        if result.error:
            out["fe"] = result.error
        if tail is not None:
            out["log"] = tail
        return out

    async def execute(self, key, rec, version, cfg, code, qualifier, payload, trace, client_context, tail,
                      rid=None):
        """Run one invocation (concurrency already admitted): (Result, log tail or None)."""
        spec = self.spec(key, rec, version, cfg, code)
        arn = fn_arn(rec["r"], rec["a"], rec["n"], qualifier)
        inv = Invocation(rid or uuid4(), payload, arn, cfg["Timeout"], trace, client_context)
        return await self.pools.run(spec, rec, inv, qualifier if qualifier and qualifier != LATEST else None, tail)

    # -- the account's concurrency (concurrency.py) ---------------------------------------------
    def op_Acct(self, a):
        """The ledger of an account's concurrency (this partition owns its key)."""
        ledger = self.ledgers.get(a["k"])
        if ledger is None:
            ledger = self.ledgers[a["k"]] = Ledger(self, a["k"], a["a"], a["r"])
        return ledger.handle(a)

    def op_AcctRecall(self, a):
        """A ledger recalls this process's spare units (any partition of the process answers)."""
        return concurrency.holder(self.host).recall(a)

    # -- event-source mappings (records in the UUID's partition) ---------------------------------
    def op_Esm(self, a):
        return getattr(self.esms, "_" + a["op"])(a)

    def op_EsmList(self, a):
        return self.esms.list(a)
