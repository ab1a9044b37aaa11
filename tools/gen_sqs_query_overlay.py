"""Generate protocols/http/codec/overlays/sqs-query.json.

botocore's current SQS model is json-only (awsQueryCompatible) and lacks the
query-protocol serialization traits that older SDKs still use.  This script
reads an old query-protocol SQS model (botocore <= 1.31.6x, e.g. obtained with
``pip download --no-deps botocore==1.31.60``) and extracts only the trait
differences: locationName / flattened on members and list/map parts,
resultWrapper of outputs, xmlNamespace, and error codes.

Usage: python tools/gen_sqs_query_overlay.py path/to/botocore-1.31.60.whl|service-2.json
"""
from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "protocols/http/codec/overlays/sqs-query.json"
MEMBER_PATH = "botocore/data/sqs/2012-11-05/service-2.json"


def load_old(src: str) -> dict:
    if src.endswith(".whl"):
        with zipfile.ZipFile(src) as zf:
            return json.loads(zf.read(MEMBER_PATH))
    return json.loads(Path(src).read_text())


def ref_traits(ref: dict, shapes: dict | None = None) -> dict:
    traits = {k: ref[k] for k in ("locationName", "flattened") if k in ref}
    # A locationName set on the target shape itself (TagMap, QueueAttributeMap,
    # MessageSystemAttributeMap) names the member on the wire too.
    if shapes is not None and "locationName" not in traits:
        target = shapes.get(ref.get("shape", ""), {})
        if "locationName" in target:
            traits["locationName"] = target["locationName"]
    return traits


# Error shapes added to SQS after the last query-protocol model (2023): their
# legacy query codes, as SQS returns them in x-amzn-query-error and in query
# error responses.
EXTRA_ERRORS = {
    "KmsAccessDenied": ("KMS.AccessDeniedException", 400),
    "KmsDisabled": ("KMS.DisabledException", 400),
    "KmsInvalidKeyUsage": ("KMS.InvalidKeyUsageException", 400),
    "KmsInvalidState": ("KMS.InvalidStateException", 400),
    "KmsNotFound": ("KMS.NotFoundException", 400),
    "KmsOptInRequired": ("KMS.OptInRequired", 403),
    "KmsThrottled": ("KMS.ThrottlingException", 400),
}


def build(old: dict) -> dict:
    if old["metadata"].get("protocol") != "query":
        raise SystemExit("source model is not the query-protocol SQS model")
    shapes: dict[str, dict] = {}
    for name, shape in sorted(old["shapes"].items()):
        entry: dict = {}
        if shape.get("flattened"):
            entry["flattened"] = True
        t = shape["type"]
        if t == "structure":
            all_shapes = old["shapes"]
            members = {m: ref_traits(r, all_shapes) for m, r in shape.get("members", {}).items()
                       if ref_traits(r, all_shapes)}
            if members:
                entry["members"] = members
            if "error" in shape:
                entry["error"] = shape["error"]
        elif t == "list":
            if ref_traits(shape["member"]):
                entry["member"] = ref_traits(shape["member"])
        elif t == "map":
            for part in ("key", "value"):
                if ref_traits(shape[part]):
                    entry[part] = ref_traits(shape[part])
        if entry:
            shapes[name] = entry
    for name, (code, status) in EXTRA_ERRORS.items():
        shapes.setdefault(name, {})["error"] = {"code": code, "httpStatusCode": status, "senderFault": True}
    operations = {}
    for name, op in sorted(old["operations"].items()):
        out = op.get("output") or {}
        if "resultWrapper" in out:
            operations[name] = {"resultWrapper": out["resultWrapper"]}
    return {
        "_source": "botocore sqs 2012-11-05 query model (Apache-2.0); traits only",
        "metadata": {"xmlNamespace": old["metadata"]["xmlNamespace"], "protocol": "query"},
        "operations": operations,
        "shapes": shapes,
    }


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        raise SystemExit(__doc__)
    data = build(load_old(argv[1]))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT} ({len(data['shapes'])} shapes, {len(data['operations'])} operations)")


if __name__ == "__main__":
    main(sys.argv)
