"""The data directory: identity, partition count, schema version, master key.

Layout (everything the server writes lives here):

    broker.json        format/schema version, partition count, data-dir id,
                       a check blob sealed with the master key
    master.key         generated master key (0600) unless supplied elsewhere
    partitions/p-NNNN.db   one SQLite store per partition (WAL mode)
    partitions/redo-K-of-N.log   shard K's redo log at durability "fsync" (broker.core.redo)
    tls/               local CA and server certificate
    endpoints.json     one URL per listener, written when the server is ready
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from broker.core.crypto import AesGcmKey, DecryptError

SCHEMA_VERSION = 1
_CHECK = b"broker-master-key-check"


class DataDirError(Exception):
    pass


def write_private(path: Path, data: bytes) -> None:
    """Atomically write a secret with mode 0600."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def write_public(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o644)
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _decode_key(raw: bytes, where: str) -> bytes:
    if len(raw) == 32:          # raw key (may begin or end with whitespace bytes)
        return raw
    text = raw.strip()
    try:
        key = base64.b64decode(text, validate=True)
    except ValueError:
        key = text if len(text) == 32 else b""     # raw key with a trailing newline
    if len(key) != 32:
        raise DataDirError(f"{where}: master key must be 32 bytes (raw or base64)")
    return key


def resolve_master_key(root: Path, key_b64: str, key_file: str,
                       env: dict[str, str] | None = None, allow_generate: bool = True) -> tuple[bytes, str]:
    """Find the master key: config/env value, key file, systemd credential, or generate."""
    env = os.environ if env is None else env
    if key_b64:
        return _decode_key(key_b64.encode(), "security.master_key"), "config"
    if key_file:
        try:
            return _decode_key(Path(key_file).read_bytes(), key_file), f"file:{key_file}"
        except FileNotFoundError:
            raise DataDirError(f"security.master_key_file: {key_file} not found") from None
    cred_dir = env.get("CREDENTIALS_DIRECTORY")
    if cred_dir and (Path(cred_dir) / "master-key").exists():
        path = Path(cred_dir) / "master-key"
        return _decode_key(path.read_bytes(), str(path)), "systemd-credential"
    path = root / "master.key"
    if path.exists():
        return _decode_key(path.read_bytes(), str(path)), f"file:{path}"
    if not allow_generate:
        # An existing data directory was created with a key that is not here:
        # never generate a new one over it (it could not open the data anyway).
        raise DataDirError(
            f"{root}: no master key found (security.master_key_file, security.master_key / "
            f"BROKER_SECURITY_MASTER_KEY, $CREDENTIALS_DIRECTORY/master-key or {path}); "
            "this data directory was created with one")
    key = os.urandom(32)
    write_private(path, base64.b64encode(key) + b"\n")
    return key, "generated"


@dataclass
class DataDir:
    root: Path
    partitions: int
    data_dir_id: str
    master: AesGcmKey
    master_source: str

    @property
    def partitions_dir(self) -> Path:
        return self.root / "partitions"

    def partition_path(self, p: int) -> Path:
        return self.partitions_dir / f"p-{p:04d}.db"

    @property
    def endpoints_path(self) -> Path:
        return self.root / "endpoints.json"

    @property
    def tls_dir(self) -> Path:
        return self.root / "tls"


def open_data_dir(root: Path, partitions: int, key_b64: str = "", key_file: str = "",
                  env: dict[str, str] | None = None) -> DataDir:
    root = Path(root).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.chmod(root, 0o700)
    except PermissionError:
        pass
    (root / "partitions").mkdir(exist_ok=True, mode=0o700)
    meta_path = root / "broker.json"
    key, source = resolve_master_key(root, key_b64, key_file, env, allow_generate=not meta_path.exists())
    master = AesGcmKey(key, "master")
    if meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text())
        except ValueError as exc:
            raise DataDirError(f"{meta_path}: unreadable ({exc})") from None
        if meta.get("schema") != SCHEMA_VERSION:
            raise DataDirError(
                f"{root}: data directory has schema version {meta.get('schema')}, "
                f"this broker uses schema version {SCHEMA_VERSION}; migrate or use another data directory")
        try:
            master.open(base64.b64decode(meta["check"]), _CHECK)
        except (DecryptError, KeyError, ValueError):
            raise DataDirError(f"{root}: the master key ({source}) does not match this data directory") from None
        return DataDir(root, int(meta["partitions"]), meta["id"], master, source)
    meta = {
        "schema": SCHEMA_VERSION,
        "partitions": partitions,
        "id": str(uuid.uuid4()),
        "check": base64.b64encode(master.seal(_CHECK, _CHECK)).decode(),
    }
    write_public(meta_path, (json.dumps(meta, indent=2) + "\n").encode())
    return DataDir(root, partitions, meta["id"], master, source)
