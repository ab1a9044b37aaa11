"""What the supervisor tells its workers: one JSON file per server run."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class RunInfo:
    data_dir: str
    run_dir: str
    shards: int
    workers: int
    partitions: int
    durability: str
    host: str
    ports: dict[str, int]              # listener name -> port
    config: dict                       # effective config values (dotted keys)
    tls: dict = field(default_factory=dict)   # ca_cert, cert, key paths
    endpoints: dict = field(default_factory=dict)

    def shard_socket(self, k: int) -> str:
        return str(Path(self.run_dir) / f"shard-{k}.sock")

    @property
    def control_socket(self) -> str:
        return str(Path(self.run_dir) / "control.sock")

    def save(self, path: Path) -> None:
        """Written 0600; holds no secret (see Supervisor.secrets)."""
        from broker.runtime.datadir import write_private
        write_private(path, json.dumps(asdict(self), indent=1).encode())

    @classmethod
    def load(cls, path: str | Path) -> "RunInfo":
        return cls(**json.loads(Path(path).read_text()))
