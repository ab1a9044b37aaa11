"""The codec's own model classes and loader read every model exactly as botocore's do.

botocore.model / botocore.loaders are the reference here (tests may import them; the
server does not): same raw dict (search path, latest API version, .json.gz, sdk-extras),
and the same shape tree (names, types, member order, merged serialization, metadata,
required members, enums), operations, error shapes and service metadata.
"""
from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys

import botocore.loaders
import botocore.model
import pytest

from protocols.http.codec import _model
from protocols.http.codec._shapemodel import NoShapeFoundError, OperationNotFoundError, ServiceModel
from services.registry import KNOWN_SERVICES

_REF = botocore.loaders.create_loader(os.environ.get("AWS_DATA_PATH"))
# every service the gateway recognises, one with service-2.sdk-extras (rds), a rest-xml one (s3)
SERVICES = sorted({*(_model._ALIASES.get(n, n) for n in KNOWN_SERVICES), "rds", "s3", "cloudfront"})


def _same_shape(a, b, seen: set, path: str) -> None:
    key = (a.name, json.dumps(b.serialization, sort_keys=True, default=str),
           json.dumps(b.metadata, sort_keys=True, default=str))
    if key in seen:        # recursive shapes
        return
    seen.add(key)
    assert (a.name, a.type_name) == (b.name, b.type_name), path
    assert a.serialization == b.serialization, path
    assert a.metadata == b.metadata, path
    assert a.required_members == b.required_members, path
    if b.type_name == "structure":
        assert list(a.members) == list(b.members), path
        assert a.is_document_type == b.is_document_type and a.event_stream_name == b.event_stream_name, path
        for name in b.members:
            _same_shape(a.members[name], b.members[name], seen, f"{path}.{name}")
    elif b.type_name == "list":
        _same_shape(a.member, b.member, seen, path + "[]")
    elif b.type_name == "map":
        _same_shape(a.key, b.key, seen, path + "{k}")
        _same_shape(a.value, b.value, seen, path + "{v}")
    elif b.type_name == "string":
        assert a.enum == b.enum, path


@pytest.mark.parametrize("service", SERVICES)
def test_model_matches_botocore(service):
    raw = _model._load_service_model(service)
    assert raw == _REF.load_service_model(service, "service-2")
    ours, ref = ServiceModel(raw, service), botocore.model.ServiceModel(raw, service)
    assert ours.metadata == ref.metadata
    assert (ours.signing_name, ours.endpoint_prefix, ours.service_id, ours.service_name) == \
           (ref.signing_name, ref.endpoint_prefix, ref.service_id, ref.service_name)
    assert ours.operation_names == ref.operation_names
    assert [s.name for s in ours.error_shapes] == [s.name for s in ref.error_shapes]
    assert [s.error_code for s in ours.error_shapes] == [s.error_code for s in ref.error_shapes]
    seen: set = set()
    for op in ref.operation_names:
        a, b = ours.operation_model(op), ref.operation_model(op)
        assert (a.name, a.wire_name, a.http, a.endpoint, a.metadata) == (b.name, b.wire_name, b.http, b.endpoint,
                                                                         b.metadata)
        assert [s.name for s in a.error_shapes] == [s.name for s in b.error_shapes]
        for x, y in ((a.input_shape, b.input_shape), (a.output_shape, b.output_shape)):
            assert (x is None) == (y is None), op
            if y is not None:
                _same_shape(x, y, seen, op)


def test_the_query_overlay_models_match_botocore_too():
    overlays = sorted(_model._OVERLAY_DIR.glob("*-query.json"))   # JSON services served as query as well
    assert overlays
    for path in overlays:
        service, overlay = path.name.removesuffix("-query.json"), json.loads(path.read_text())
        raw = _model._apply_overlay(_model._raw_model(service), overlay)
        ours, ref = ServiceModel(raw, service), botocore.model.ServiceModel(raw, service)
        seen: set = set()
        for op in ref.operation_names:
            for x, y in ((ours.operation_model(op).input_shape, ref.operation_model(op).input_shape),
                         (ours.operation_model(op).output_shape, ref.operation_model(op).output_shape)):
                if y is not None:
                    _same_shape(x, y, seen, op)


def test_unknown_names_are_errors_not_paths():
    for bad in ("", "..", "../sqs", "sqs/2012-11-05", ".hidden", "no-such-service-xyz"):
        with pytest.raises(_model.UnknownServiceError):
            _model._load_service_model(bad)
    m = ServiceModel(_model._load_service_model("sqs"), "sqs")
    with pytest.raises(OperationNotFoundError):
        m.operation_model("NoSuchOperation")
    with pytest.raises(NoShapeFoundError):
        m.shape_for("NoSuchShape")


def test_a_shape_referenced_without_traits_is_built_once():
    m = ServiceModel(_model._load_service_model("sqs"), "sqs")
    assert m.shape_for("String") is m.shape_for("String")
    assert m.operation_model("SendMessage") is m.operation_model("SendMessage")


PROBE = """
import json, sys
from protocols.http.codec import _model
raw = _model._load_service_model("sqs")
print(json.dumps({"version": raw["metadata"]["apiVersion"], "marker": raw["metadata"].get("marker"),
                  "botocore_model": "botocore.model" in sys.modules, "loaders": "botocore.loaders" in sys.modules}))
"""


def _probe(env_path: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "AWS_DATA_PATH"}
    if env_path is not None:
        env["AWS_DATA_PATH"] = env_path
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True,
                         env=env, cwd=os.getcwd())
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_aws_data_path_comes_first_and_the_latest_api_version_wins(tmp_path):
    raw = _REF.load_service_model("sqs", "service-2")
    version = raw["metadata"]["apiVersion"]
    same = {**raw, "metadata": {**raw["metadata"], "marker": "same-version"}}
    (tmp_path / "a" / "sqs" / version).mkdir(parents=True)
    (tmp_path / "a" / "sqs" / version / "service-2.json").write_text(json.dumps(same))
    later = {**raw, "metadata": {**raw["metadata"], "marker": "later", "apiVersion": "2999-01-01"}}
    (tmp_path / "b" / "sqs" / "2999-01-01").mkdir(parents=True)
    with gzip.open(tmp_path / "b" / "sqs" / "2999-01-01" / "service-2.json.gz", "wt") as f:
        json.dump(later, f)
    got = _probe(None)
    assert got == {"version": version, "marker": None, "botocore_model": False, "loaders": False}
    assert _probe(str(tmp_path / "a"))["marker"] == "same-version"
    # the newest version on any path, gzipped or not
    assert _probe(os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b")]))["marker"] == "later"
