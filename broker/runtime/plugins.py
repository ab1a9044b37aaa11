"""What the composition point (`broker serve`) hands the runtime.

The runtime knows nothing of AWS or of any wire protocol; it runs whatever
listeners, protocols and shard services it is given here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class ListenerSpec:
    """A listener opened at start on every gateway (port from config)."""
    name: str                 # endpoints.json key, e.g. "http"
    port_key: str             # config key holding the port, e.g. "listeners.http_port"
    scheme: str               # URL scheme written to endpoints.json
    tls: str                  # "never" | "always" | "sniff" (TLS detected per connection)
    # factory(gateway, ssl_context_or_None) -> asyncio protocol factory
    factory: Callable[[Any, Any], Callable[[], Any]]
    tls_name: str | None = None   # endpoints.json key of the TLS flavour when tls == "sniff"
    tls_scheme: str | None = None
    enabled_when_port_zero: bool = True   # False: port 0 means "off" (optional listeners)


@dataclass(frozen=True)
class ShardService:
    """A service's shard half: `factory(partition_ctx)` builds its per-partition
    state; methods named ``op_<Name>(self, args)`` become IPC ops ``<name>.<Name>``.
    A method may return a value, or an awaitable whose result is the reply.

    Halves are built lazily: the factory (or ``ref``, "module:Class", imported
    on first use) runs in a partition on the first op for the service there,
    or at start when the partition holds records of one of its ``kinds``
    (entity-kind prefixes, also naming its durable timer and delivery kinds;
    default ``"<name>."``)."""
    name: str
    factory: Callable[[Any], Any] | None = None
    ref: str | None = None
    kinds: tuple[str, ...] = ()

    @property
    def prefixes(self) -> tuple[str, ...]:
        return self.kinds or (f"{self.name}.",)


def import_ref(ref: str) -> Any:
    import importlib
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass
class Plugins:
    listeners: list[ListenerSpec] = field(default_factory=list)
    services: list[ShardService] = field(default_factory=list)
    # Each hook(gateway) runs once in every gateway before listeners open
    # (may be async); one per front-end.
    gateway_hooks: list[Callable[[Any], Any]] = field(default_factory=list)
    # Each hook(host) runs once in every worker process at start: in gateways
    # before listeners open, in shards after partitions are recovered (may be
    # async). For process-wide wiring such as telemetry sinks.
    process_hooks: list[Callable[[Any], Any]] = field(default_factory=list)
    # Protocols that listeners opened at runtime can speak (broker/runtime/
    # listeners.py): name -> factory(gateway, ssl_context_or_None, args) ->
    # asyncio protocol factory. `args` is what the opener recorded.
    protocols: dict[str, Callable[[Any, Any, dict], Callable[[], Any]]] = field(default_factory=dict)
