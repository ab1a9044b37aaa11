"""CloudWatch test fixtures: one boto3 client per wire protocol against the shared server.

boto3 speaks AWS JSON 1.0 to CloudWatch by default; a botocore session whose
cloudwatch model lists only one protocol makes the same client speak CBOR
(smithy-rpc-v2-cbor) or query instead.
"""

from __future__ import annotations

import json

import pytest


def protocol_client(server, protocol: str, tmp_root):
    import boto3
    import botocore.session
    base = botocore.session.get_session()
    model = base.get_component("data_loader").load_service_model("cloudwatch", "service-2")
    model["metadata"]["protocols"] = [protocol]
    model["metadata"]["protocol"] = protocol
    d = tmp_root / "cloudwatch" / model["metadata"]["apiVersion"]
    d.mkdir(parents=True, exist_ok=True)
    (d / "service-2.json").write_text(json.dumps(model))
    bc = botocore.session.get_session()
    bc.get_component("data_loader").search_paths.insert(0, str(tmp_root))
    client = boto3.session.Session(botocore_session=bc).client(
        "cloudwatch", region_name="us-east-1", endpoint_url=server.url, aws_access_key_id="AKIDTESTTESTTESTTEST",
        aws_secret_access_key="x", config=server.client("cloudwatch").meta.config)
    assert client.meta.service_model.protocol == protocol
    return client


@pytest.fixture(scope="session")
def cw(server):
    return server.client("cloudwatch")


@pytest.fixture(scope="session")
def cw_query(server, tmp_path_factory):
    return protocol_client(server, "query", tmp_path_factory.mktemp("cwq"))


@pytest.fixture(scope="session")
def cw_cbor(server, tmp_path_factory):
    return protocol_client(server, "smithy-rpc-v2-cbor", tmp_path_factory.mktemp("cwc"))


@pytest.fixture(params=["json", "query", "cbor"])
def any_cw(request):
    return request.getfixturevalue({"json": "cw", "query": "cw_query", "cbor": "cw_cbor"}[request.param])


def error_of(exc_info) -> tuple[str, str]:
    e = exc_info.value.response["Error"]
    return e["Code"], e.get("Message", "")
