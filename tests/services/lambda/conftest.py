"""Lambda integration fixtures: boto3 against the shared session server, zips built in memory."""

from __future__ import annotations

import io
import zipfile

import pytest
from botocore.config import Config

ROLE = "arn:aws:iam::000000000000:role/lambda-role"


def zipped(files: dict[str, str | bytes], modes: dict[str, int] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, content in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = ((modes or {}).get(name, 0o644) & 0o777) << 16
            z.writestr(info, content)
    return buf.getvalue()


PY_ECHO = """
import json, os
def handler(event, context):
    print("got", json.dumps(event))
    return {"event": event, "name": context.function_name, "version": context.function_version,
            "arn": context.invoked_function_arn, "request_id": context.aws_request_id,
            "group": context.log_group_name, "stream": context.log_stream_name,
            "remaining": context.get_remaining_time_in_millis(), "memory": context.memory_limit_in_mb,
            "env": {k: os.environ.get(k) for k in ("FOO", "AWS_REGION", "AWS_LAMBDA_FUNCTION_NAME",
                    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_EXECUTION_ENV", "LAMBDA_TASK_ROOT", "_HANDLER")},
            "trace": os.environ.get("_X_AMZN_TRACE_ID"), "pid": os.getpid()}
"""


@pytest.fixture(scope="session")
def lam(server):
    return server.client("lambda", config=Config(retries={"total_max_attempts": 1}, read_timeout=60))


@pytest.fixture
def make_fn(lam):
    made = []

    def make(name: str, code: str | dict, handler: str = "handler.handler", runtime: str = "python3.11", **kw):
        files = code if isinstance(code, dict) else {"handler.py": code}
        modes = kw.pop("modes", None)
        out = lam.create_function(FunctionName=name, Runtime=runtime, Role=ROLE, Handler=handler,
                                  Code={"ZipFile": zipped(files, modes)}, **kw)
        made.append(name)
        return out
    yield make
    for name in made:
        try:
            lam.delete_function(FunctionName=name)
        except Exception:
            pass


@pytest.fixture(scope="session")
def zip_of():
    return zipped


@pytest.fixture(scope="session")
def py_echo():
    return PY_ECHO
