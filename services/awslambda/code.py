"""Function and layer code on disk.

A zip is stored once under ``<data_dir>/lambda/code/<sha256 hex>.zip``
(content-addressed, written and fsynced before the record that names it is
committed) and unpacked on first use into ``<data_dir>/lambda/unpacked/<hex>/``
(the function's LAMBDA_TASK_ROOT). A function from a local path
(``S3Bucket`` "hot-reload" or "__local__", ``S3Key`` the directory) runs
from that directory as it is, so edits show at the next cold start. Any other
bucket is read from ``<data_dir>/s3/<bucket>/<key>``, the stand-in for S3
that other services of this broker write to.

Layers cannot be unpacked into the real /opt: each combination of layers a
function uses is merged, in order, into ``<data_dir>/lambda/opt/<hash>/`` and
the runtime's search paths are set as AWS computes them from /opt
(runtimes.py).
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import zipfile
from pathlib import Path

from services.awslambda.model import LOCAL_CODE_BUCKETS, MAX_UNZIPPED, invalid


def root(data_dir: str) -> Path:
    return Path(data_dir) / "lambda"


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _hex(sha_b64: str) -> str:
    return base64.b64decode(sha_b64).hex()


def check_zip(data: bytes) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            total = sum(i.file_size for i in z.infolist())
            for i in z.infolist():
                if i.filename.startswith("/") or ".." in Path(i.filename).parts:
                    raise invalid("Unzipped size must be smaller than 262144000 bytes")
    except zipfile.BadZipFile:
        raise invalid("Could not unzip uploaded file. Please check your file, then try to upload again.") from None
    if total > MAX_UNZIPPED:
        raise invalid(f"Unzipped size must be smaller than {MAX_UNZIPPED} bytes")


def store_zip(data_dir: str, data: bytes, durable: bool) -> dict:
    """Write a zip (once per content); returns the code descriptor kept in the record."""
    check_zip(data)
    sha = sha256_b64(data)
    d = root(data_dir) / "code"
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{_hex(sha)}.zip"
    if not path.exists():
        tmp = path.with_suffix(_tmp_suffix())
        with open(tmp, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    return {"zip": path.name, "sha": sha, "size": len(data)}


def code_from_params(data_dir: str, code: dict, durable: bool) -> dict:
    """Code descriptor from a Code / UpdateFunctionCode / layer Content parameter."""
    if code.get("ZipFile") is not None:
        return store_zip(data_dir, bytes(code["ZipFile"]), durable)
    bucket, key = code.get("S3Bucket"), code.get("S3Key")
    if bucket and key:
        if bucket in LOCAL_CODE_BUCKETS:
            p = Path(key)
            if not p.is_absolute() or not p.is_dir():
                raise invalid(f"Local code path {key} must be an existing absolute directory on the server.")
            h = hashlib.sha256(str(p).encode()).digest()
            return {"dir": str(p), "sha": base64.b64encode(h).decode(), "size": 0}
        p = Path(data_dir) / "s3" / bucket / key
        if not p.is_file():
            raise invalid("Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: "
                          "The specified key does not exist.")
        return store_zip(data_dir, p.read_bytes(), durable)
    if code.get("ImageUri"):
        raise invalid("Container images are not supported by this broker: use a .zip file archive.")
    raise invalid("Please provide a source for function code.")


def zip_bytes(data_dir: str, desc: dict) -> bytes | None:
    if "zip" not in desc:
        return None
    try:
        return (root(data_dir) / "code" / desc["zip"]).read_bytes()
    except FileNotFoundError:
        return None


def _tmp_suffix() -> str:
    """Unique per writer: two threads of one process may unpack the same code at once."""
    return f".{os.getpid()}-{os.urandom(4).hex()}.tmp"


def _unpack(zip_path: Path, dest: Path) -> None:
    tmp = dest.with_name(dest.name + _tmp_suffix())
    shutil.rmtree(tmp, ignore_errors=True)
    with zipfile.ZipFile(zip_path) as z:
        for info in z.infolist():
            z.extract(info, tmp)
            mode = (info.external_attr >> 16) & 0o777
            target = tmp / info.filename
            if mode and not info.is_dir():
                os.chmod(target, mode)
            elif not info.is_dir() and target.name == "bootstrap":
                os.chmod(target, 0o755)
    try:
        os.rename(tmp, dest)
    except OSError:            # unpacked meanwhile by someone else
        shutil.rmtree(tmp, ignore_errors=True)


def task_root(data_dir: str, desc: dict) -> Path:
    """The directory a function's code runs from (unpacked on first use)."""
    if "dir" in desc:
        return Path(desc["dir"])
    dest = root(data_dir) / "unpacked" / desc["zip"][:-4]
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        _unpack(root(data_dir) / "code" / desc["zip"], dest)
    return dest


def opt_dir(data_dir: str, layers: list[dict]) -> Path | None:
    """The merged /opt of a list of layer code descriptors (later layers win), or None."""
    if not layers:
        return None
    h = hashlib.sha256("|".join(d.get("zip") or d.get("dir", "") for d in layers).encode()).hexdigest()[:32]
    dest = root(data_dir) / "opt" / h
    if dest.exists():
        return dest
    tmp = dest.with_name(dest.name + _tmp_suffix())
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for d in layers:
        shutil.copytree(task_root(data_dir, d), tmp, dirs_exist_ok=True, symlinks=True)
    try:
        os.rename(tmp, dest)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest
