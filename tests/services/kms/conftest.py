from __future__ import annotations

import datetime

import botocore.session
import pytest

from broker.core.crypto import AesGcmKey
from broker.core.entities import MemoryEntityStore
from services.errors import ServiceError
from services.kms import KmsBackend

ACCOUNT = "000000000000"
REGION = "us-east-1"

_MODEL = None


def kms_model():
    global _MODEL
    if _MODEL is None:
        _MODEL = botocore.session.get_session().get_service_model("kms")
    return _MODEL


class Clock:
    def __init__(self, t: float = 1_700_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, days: float) -> None:
        self.t += days * 86400


def check_shape(shape, value, path="out"):
    """Assert `value` fits the botocore output shape: no unknown members, right types."""
    t = shape.type_name
    if t == "structure":
        assert isinstance(value, dict), f"{path}: expected dict, got {type(value)}"
        for k, v in value.items():
            assert k in shape.members, f"{path}: unknown member {k!r}"
            check_shape(shape.members[k], v, f"{path}.{k}")
    elif t == "list":
        assert isinstance(value, list), f"{path}: expected list"
        for i, v in enumerate(value):
            check_shape(shape.member, v, f"{path}[{i}]")
    elif t == "map":
        assert isinstance(value, dict), f"{path}: expected map"
        for k, v in value.items():
            check_shape(shape.key, k, f"{path}.<key>")
            check_shape(shape.value, v, f"{path}[{k}]")
    elif t == "string":
        assert isinstance(value, str), f"{path}: expected str, got {value!r}"
        if shape.enum:
            assert value in shape.enum, f"{path}: {value!r} not in enum"
    elif t == "blob":
        assert isinstance(value, (bytes, bytearray)), f"{path}: expected bytes"
    elif t == "timestamp":
        assert isinstance(value, (datetime.datetime, int, float)), f"{path}: bad timestamp"
    elif t == "boolean":
        assert isinstance(value, bool), f"{path}: expected bool"
    elif t in ("integer", "long"):
        assert isinstance(value, int) and not isinstance(value, bool), f"{path}: expected int"
    else:  # pragma: no cover
        raise AssertionError(f"{path}: unhandled shape type {t}")


class Client:
    """Calls the backend like the gateway would, checking every output against the model."""

    def __init__(self, backend: KmsBackend, account: str = ACCOUNT, region: str = REGION):
        self.backend, self.account, self.region = backend, account, region

    def __call__(self, operation: str, **params):
        out = self.backend.handle(self.account, self.region, operation, params)
        op = kms_model().operation_model(operation)
        if op.output_shape is None:
            assert out == {}, f"{operation} has no output shape but returned {out}"
        else:
            check_shape(op.output_shape, out, operation)
        return out

    def error(self, operation: str, **params) -> ServiceError:
        with pytest.raises(ServiceError) as info:
            self.backend.handle(self.account, self.region, operation, params)
        err = info.value
        # Every error code we raise is an error shape of the model (or a common AWS error).
        op = kms_model().operation_model(operation)
        known = {s.name for s in op.error_shapes} | {
            "ValidationException", "NotAuthorizedException", "UnsupportedOperationException",
            "InvalidAliasNameException", "KMSInvalidStateException", "AlreadyExistsException",
            "InvalidMarkerException", "TagException", "LimitExceededException",
            "MalformedPolicyDocumentException", "InvalidCiphertextException",
            "IncorrectKeyException", "InvalidKeyUsageException", "DryRunOperationException"}
        assert err.code in known, f"{operation} raised unexpected code {err.code}"
        return err


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store():
    return MemoryEntityStore()


@pytest.fixture
def master():
    return AesGcmKey.generate()[0]


@pytest.fixture
def backend(store, master, clock):
    return KmsBackend(store, master, now=clock)


@pytest.fixture
def kms(backend):
    return Client(backend)
