"""What routing needs to know of each service, without loading its model.

A gateway must tell which service and operation a request is for before it
can decode it, but a full botocore service model (and its compiled codec)
is large: loading the eighteen the gateway recognises costs about 20 MB and
a noticeable share of start-up. The routing facts are small: signing name,
endpoint prefix, JSON target prefix, protocols, operation names, SDK host
prefixes. They are shipped precomputed in ``routing-index.json`` (written by
``tools/gen_routing_index.py`` for the botocore release it names); with
another botocore installed they are computed from its models once per
process, so routing never disagrees with the models in use. The full codec
of a service is loaded on its first request.
"""
from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

INDEX_PATH = Path(__file__).parent / "routing-index.json"


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    service_name: str
    signing_name: str
    endpoint_prefix: str
    target_prefix: str | None
    service_id: str
    protocols: tuple[str, ...]
    operation_names: frozenset
    host_prefixes: frozenset

    @property
    def rest_protocol(self) -> str | None:
        for p in self.protocols:
            if p in ("rest-json", "rest-xml"):
                return p
        return None

    def to_json(self) -> dict:
        return {"signing_name": self.signing_name, "endpoint_prefix": self.endpoint_prefix,
                "target_prefix": self.target_prefix, "service_id": self.service_id,
                "protocols": list(self.protocols), "operations": sorted(self.operation_names),
                "host_prefixes": sorted(self.host_prefixes)}

    @classmethod
    def from_json(cls, name: str, d: dict) -> "ServiceInfo":
        return cls(name, d["signing_name"], d["endpoint_prefix"], d["target_prefix"], d["service_id"],
                   tuple(d["protocols"]), frozenset(d["operations"]), frozenset(d["host_prefixes"]))


def compute_info(name: str) -> ServiceInfo:
    """Routing facts straight from the installed botocore model (and our overlays)."""
    from ._model import _ALIASES, _OVERLAY_DIR, _raw_model
    name = _ALIASES.get(name, name)
    raw = _raw_model(name)
    md = raw["metadata"]
    protocols = list(md.get("protocols") or [md["protocol"]])
    if "query" not in protocols and (_OVERLAY_DIR / f"{name}-query.json").exists():
        protocols.append("query")
    hosts = set()
    for op in raw["operations"].values():
        hp = (op.get("endpoint") or {}).get("hostPrefix")
        if hp:
            static = re.sub(r"\{[^}]*\}\.?", "", hp)
            if static:
                hosts.add(static)
    return ServiceInfo(name, md.get("signingName") or md["endpointPrefix"], md["endpointPrefix"],
                       md.get("targetPrefix"), md.get("serviceId", name), tuple(protocols),
                       frozenset(raw["operations"]), frozenset(hosts))


def botocore_version() -> str:
    import botocore
    return botocore.__version__


@functools.cache
def _shipped() -> dict:
    try:
        doc = json.loads(INDEX_PATH.read_text())
    except FileNotFoundError:
        return {}
    return doc["services"] if doc.get("botocore") == botocore_version() else {}


@functools.cache
def service_info(name: str) -> ServiceInfo:
    from ._model import _ALIASES
    name = _ALIASES.get(name, name)
    d = _shipped().get(name)
    return ServiceInfo.from_json(name, d) if d is not None else compute_info(name)


def build_index(names: list[str]) -> dict:
    return {"botocore": botocore_version(),
            "services": {n: compute_info(n).to_json() for n in names}}
