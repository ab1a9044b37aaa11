"""One worker process holding the gateway and the shard (`server.single_worker`).

The smallest server: with one gateway and one shard there is nothing to
spread over processes but the two event loops, and each forked worker keeps
its own copy of every shared page it writes to (reference counts, the
interpreter's caches: 6-9 MB a worker). Here both run on one loop and talk
over the same IPC socket as ever, so nothing else changes: the shard
recovers and serves first, then the gateway connects and opens its
listeners; SIGTERM drains the gateway, then the shard. The supervisor sees
the shard and the gateway as two roles of one process and restarts both when
it dies.
"""

from __future__ import annotations

import asyncio

from broker.runtime.gateway import Gateway
from broker.runtime.plugins import Plugins
from broker.runtime.runinfo import RunInfo
from broker.runtime.shard import Shard
from broker.runtime.worker import stop_event


async def _main(run: RunInfo, shard_plugins: Plugins, gateway_plugins: Plugins) -> int:
    stop = stop_event()
    shard_stop = asyncio.Event()
    shard = Shard(run, 0, shard_plugins)
    shard_task = asyncio.ensure_future(shard.main(stop=shard_stop))
    serving = asyncio.ensure_future(shard.serving.wait())
    await asyncio.wait({shard_task, serving}, return_when=asyncio.FIRST_COMPLETED)
    if shard_task.done():           # the shard failed to start
        serving.cancel()
        return shard_task.result()
    try:
        rc = await Gateway(run, 0, gateway_plugins).main(stop=stop)
    finally:
        shard_stop.set()            # the gateway has drained (or failed): the shard drains now
        shard_rc = await shard_task
    return rc or shard_rc


def run(run: RunInfo, shard_plugins: Plugins, gateway_plugins: Plugins) -> int:
    return asyncio.run(_main(run, shard_plugins, gateway_plugins))
