"""Distributed Map input and output: ItemReader, ItemBatcher, ResultWriter.

Until an S3 service is hosted, S3 is a local directory standing in for it
(config ``stepfunctions.bucket_directory``): object ``s3://bucket/key`` is the
file ``<dir>/bucket/key``. ItemReader reads JSON arrays, JSON Lines and CSV
objects (``s3:getObject``) or lists a prefix (``s3:listObjectsV2``);
ResultWriter writes the Map Run's manifest and result files there.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from datetime import datetime, timezone

from services.stepfunctions import interpreter as I
from services.stepfunctions.asl import errors as E
from services.stepfunctions.asl import jsonata_eval as JE
from services.stepfunctions.asl import payload as P
from services.stepfunctions.asl.errors import StatesError
from services.stepfunctions.asl.jsonpath import to_json


def _root(ex) -> str:
    run = getattr(ex.engine.host, "run", None)
    d = (run.config.get("stepfunctions.bucket_directory", "") if run is not None else "") or ""
    if not d:
        raise StatesError(E.ITEM_READER_FAILED, "No directory stands in for S3: set stepfunctions.bucket_directory.")
    return d


def _safe_path(root: str, bucket: str, key: str) -> str:
    path = os.path.realpath(os.path.join(root, bucket, key))
    if not path.startswith(os.path.realpath(root) + os.sep):
        raise StatesError(E.ITEM_READER_FAILED, f"Invalid S3 location s3://{bucket}/{key}")
    return path


def _params(ex, t, st, spec: dict, eff):
    if st.jsonata:
        return JE.evaluate_template(spec.get("Arguments", {}), "Arguments", I.jsonata_states(ex, t, st),
                                    dict(ex.variables(t)))
    tpl = P.compile_template(spec.get("Parameters", {}))
    return P.evaluate(tpl, eff, ex.context(t, st), ex.variables(t))


def read_items(ex, t, st, eff) -> list:
    reader = st.spec["ItemReader"]
    resource = reader.get("Resource", "")
    params = _params(ex, t, st, reader, eff)
    cfg = reader.get("ReaderConfig") or {}
    root = _root(ex)
    bucket = params.get("Bucket", "")
    if resource.endswith(":s3:listObjectsV2"):
        prefix = params.get("Prefix", "")
        base = _safe_path(root, bucket, ".")
        items = []
        for dirpath, _dirs, files in os.walk(base):
            for f in sorted(files):
                full = os.path.join(dirpath, f)
                key = os.path.relpath(full, base)
                if key.startswith(prefix):
                    stat = os.stat(full)
                    items.append({"Etag": '"' + hashlib.md5(open(full, "rb").read()).hexdigest() + '"', "Key": key,
                                  "LastModified": datetime.fromtimestamp(stat.st_mtime, tz=timezone.utc)
                                  .strftime("%Y-%m-%dT%H:%M:%S+00:00"),
                                  "Size": stat.st_size, "StorageClass": "STANDARD"})
        items.sort(key=lambda i: i["Key"])
    elif resource.endswith(":s3:getObject"):
        path = _safe_path(root, bucket, params.get("Key", ""))
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError:
            raise StatesError(E.ITEM_READER_FAILED, f"The specified key does not exist: s3://{bucket}/"
                                                    f"{params.get('Key', '')}") from None
        kind = cfg.get("InputType", "JSON")
        if kind == "JSON":
            try:
                items = json.loads(text)
            except ValueError:
                raise StatesError(E.ITEM_READER_FAILED, "The object content is not valid JSON.") from None
            if not isinstance(items, list):
                raise StatesError(E.ITEM_READER_FAILED, "Attempting to map over non-iterable node.")
        elif kind == "JSONL":
            items = [json.loads(line) for line in text.splitlines() if line.strip()]
        elif kind == "CSV":
            items = _csv(text, cfg)
        else:
            raise StatesError(E.ITEM_READER_FAILED, f"Unsupported InputType {kind}.")
    else:
        raise StatesError(E.ITEM_READER_FAILED, f"Unsupported ItemReader resource {resource}.")
    max_items = cfg.get("MaxItems")
    if "MaxItemsPath" in cfg:
        v = P.evaluate_path_value(cfg["MaxItemsPath"], eff, ex.context(t, st), ex.variables(t))
        if isinstance(v, bool) or not isinstance(v, (int, float, str)) or \
                (isinstance(v, float) and not v.is_integer()):
            raise E.runtime_error(f"The MaxItemsPath field refers to value \"{v if isinstance(v, str) else to_json(v)}"
                                  f"\" which is not a valid integer: {cfg['MaxItemsPath']}")
        max_items = int(v)
    if max_items is not None:
        if max_items < 0:
            raise StatesError(E.ITEM_READER_FAILED, "field MaxItems must be positive")
        if max_items:
            items = items[:max_items]
    return items


def _csv(text: str, cfg: dict) -> list:
    rows = list(csv.reader(io.StringIO(text)))
    if cfg.get("CSVHeaderLocation", "FIRST_ROW") == "GIVEN":
        headers = cfg.get("CSVHeaders") or []
    else:
        headers, rows = (rows[0] if rows else []), rows[1:]
    if len(set(headers)) != len(headers):
        raise StatesError(E.ITEM_READER_FAILED, "CSV headers cannot contain duplicates.")
    out = []
    for row in rows:
        if len(row) > len(headers):
            raise StatesError(E.ITEM_READER_FAILED, "CSV rows cannot have more fields than the headers.")
        out.append({h: (row[i] if i < len(row) else "") for i, h in enumerate(headers)})
    return out


def batch_items(ex, t, st, items: list, eff, batcher: dict) -> list:
    max_n = batcher.get("MaxItemsPerBatch")
    if "MaxItemsPerBatchPath" in batcher:
        max_n = int(P.evaluate_path_value(batcher["MaxItemsPerBatchPath"], eff, ex.context(t, st), ex.variables(t)))
    if st.jsonata and JE.is_expression(max_n):
        max_n = JE.evaluate(max_n, "ItemBatcher/MaxItemsPerBatch", I.jsonata_states(ex, t, st), dict(ex.variables(t)))
    max_bytes = batcher.get("MaxInputBytesPerBatch")
    if st.jsonata and JE.is_expression(max_bytes):
        max_bytes = JE.evaluate(max_bytes, "ItemBatcher/MaxInputBytesPerBatch", I.jsonata_states(ex, t, st),
                                dict(ex.variables(t)))
    batch_input = None
    if "BatchInput" in batcher:
        bi = batcher["BatchInput"]
        batch_input = JE.evaluate_template(bi, "ItemBatcher/BatchInput", I.jsonata_states(ex, t, st),
                                           dict(ex.variables(t))) if st.jsonata else \
            P.evaluate(P.compile_template(bi), eff, ex.context(t, st), ex.variables(t))
    batches, cur, size = [], [], 0
    for item in items:
        n = len(to_json(item))
        if cur and ((max_n and len(cur) >= max_n) or (max_bytes and size + n > max_bytes)):
            batches.append(cur)
            cur, size = [], 0
        cur.append(item)
        size += n
    if cur:
        batches.append(cur)
    return [({"BatchInput": batch_input, "Items": b} if batch_input is not None else {"Items": b}) for b in batches]


def write_results(ex, t, st, run: dict, items: list, rows: list) -> dict:
    """The Map Run's results under ResultWriter's prefix: SUCCEEDED_0.json, FAILED_0.json and
    manifest.json (rows: (index, status, output or error output) per child execution)."""
    spec = st.spec["ResultWriter"]
    params = _params(ex, t, st, spec, t["kids"]["eff"])
    bucket, prefix = params.get("Bucket", ""), params.get("Prefix", "")
    run_arn = run["arn"]
    run_id = run_arn.rsplit(":", 1)[-1]
    try:
        root = _root(ex)
    except StatesError as err:
        raise StatesError(E.RESULT_WRITER_FAILED, err.cause) from None
    base_key = f"{prefix.rstrip('/')}/{run_id}" if prefix else run_id
    folder = _safe_path(root, bucket, base_key)
    os.makedirs(folder, exist_ok=True)
    ok, bad = [], []
    for i, status, value in rows:
        if status == "SUCCEEDED":
            ok.append({"Input": to_json(items[i]), "Output": to_json(value), "Status": status})
        else:
            value = value or {}
            bad.append({"Input": to_json(items[i]), "Error": value.get("Error"), "Cause": value.get("Cause"),
                        "Status": status})
    files = {"SUCCEEDED": [], "FAILED": [], "PENDING": []}
    for kind, entries in (("SUCCEEDED", ok), ("FAILED", bad)):
        if entries:
            name = f"{kind}_0.json"
            data = json.dumps(entries).encode()
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data)
            files[kind].append({"Key": f"{base_key}/{name}", "Size": len(data)})
    manifest = {"DestinationBucket": bucket, "MapRunArn": run_arn, "ResultFiles": files}
    with open(os.path.join(folder, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f)
    return {"MapRunArn": run_arn, "ResultWriterDetails": {"Bucket": bucket, "Key": f"{base_key}/manifest.json"}}
