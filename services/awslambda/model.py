"""Lambda vocabulary: errors with AWS's codes and words, ARNs, names, limits.

A function's entity key is ``lambda/<account>/<region>/<name>``: everything
of one function (its $LATEST, versions, aliases, policy, concurrency,
URL configs, event-invoke configs, tags) is one record in one partition,
and its execution environments run in the shard that owns that partition.
"""

from __future__ import annotations

import re

from services.errors import ServiceError

MAX_SYNC_PAYLOAD = 6 * 1024 * 1024          # RequestResponse request and response
MAX_ASYNC_PAYLOAD = 256 * 1024              # Event invocations (AWS: 256 KB)
MAX_UNZIPPED = 250 * 1024 * 1024
LATEST = "$LATEST"
RUNTIMES_PY = ("python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14")
RUNTIMES_NODE = ("nodejs18.x", "nodejs20.x", "nodejs22.x", "nodejs24.x")
RUNTIMES_PROVIDED = ("provided", "provided.al2", "provided.al2023")
RUNTIMES = RUNTIMES_PY + RUNTIMES_NODE + RUNTIMES_PROVIDED
LOCAL_CODE_BUCKETS = ("hot-reload", "__local__")   # S3Bucket naming a directory on the server (LocalStack's)

_NAME = re.compile(r"^[a-zA-Z0-9-_]{1,64}$")
_ALIAS = re.compile(r"^(?!^[0-9]+$)([a-zA-Z0-9-_]+)$")
_FN_ARN = re.compile(r"^arn:(aws[a-zA-Z-]*):lambda:([a-z]{2}(?:-gov)?-[a-z]+-\d{1}):(\d{12}):function:"
                     r"([a-zA-Z0-9-_]+)(?::(\$LATEST|[a-zA-Z0-9-_]+))?$")
_PARTIAL = re.compile(r"^(\d{12}):function:([a-zA-Z0-9-_]+)(?::(\$LATEST|[a-zA-Z0-9-_]+))?$")


def err(code: str, message: str, status: int = 400, *, capital: bool = False, **fields) -> ServiceError:
    """A Lambda error: every shape carries ``Type`` ("User" for sender faults)."""
    return ServiceError(message, code=code, status=status, sender_fault=status < 500,
                        Type="User" if status < 500 else "Service", **fields)


def invalid(message: str) -> ServiceError:
    return err("InvalidParameterValueException", message)


def not_found(message: str) -> ServiceError:
    return err("ResourceNotFoundException", message, 404)


def conflict(message: str) -> ServiceError:
    return err("ResourceConflictException", message, 409)


def precondition(message: str) -> ServiceError:
    return err("PreconditionFailedException", message, 412)


def throttled(reason: str) -> ServiceError:
    return err("TooManyRequestsException", "Rate Exceeded.", 429, Reason=reason)


def fn_key(account: str, region: str, name: str) -> str:
    return f"lambda/{account}/{region}/{name}"


def fn_arn(region: str, account: str, name: str, qualifier: str | None = None) -> str:
    base = f"arn:aws:lambda:{region}:{account}:function:{name}"
    return f"{base}:{qualifier}" if qualifier else base


def layer_arn(region: str, account: str, name: str, version: int | None = None) -> str:
    base = f"arn:aws:lambda:{region}:{account}:layer:{name}"
    return f"{base}:{version}" if version is not None else base


def valid_alias_name(name: str) -> bool:
    return bool(_ALIAS.match(name)) and len(name) <= 128 and name != LATEST


def parse_function(ident: str, account: str, region: str, qualifier: str | None = None):
    """(account, region, name, qualifier) of a FunctionName as AWS accepts it:
    a name, a partial ARN (``123456789012:function:name``) or a full ARN, with or
    without ``:qualifier``; a Qualifier parameter must agree with the ARN's."""
    q = None
    m = _FN_ARN.match(ident)
    if m:
        region, account, name, q = m.group(2), m.group(3), m.group(4), m.group(5)
    else:
        m = _PARTIAL.match(ident)
        if m:
            account, name, q = m.group(1), m.group(2), m.group(3)
        elif ":" in ident:
            name, _, q = ident.partition(":")
            if not _NAME.match(name) or not q:
                raise _bad_name(ident)
        else:
            name = ident
            if not _NAME.match(name):
                raise _bad_name(ident)
    if q and qualifier and q != qualifier:
        raise invalid("The derived qualifier from the function name does not match the specified qualifier.")
    return account, region, name, q or qualifier


def _bad_name(ident: str) -> ServiceError:
    return ServiceError(f"1 validation error detected: Value '{ident}' at 'functionName' failed to satisfy "
                        "constraint: Member must satisfy regular expression pattern: "
                        r"(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?"
                        r"([a-zA-Z0-9-_\.]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?",
                        code="ValidationException", status=400)


def arn_parts(arn: str) -> tuple[str, str, str, str]:
    """(service, region, account, resource) of an ARN, '' where absent."""
    p = arn.split(":", 5)
    if len(p) < 6 or p[0] != "arn":
        return "", "", "", ""
    return p[2], p[3], p[4], p[5]
