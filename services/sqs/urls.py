"""Queue URLs and ARNs.

We hand out ``<scheme>://<host>/<account>/<name>`` (the Host the client used),
and accept the forms other emulators return so existing configs keep working:
``sqs.<region>.localhost.localstack.cloud:4566/<account>/<name>``,
``<host>/queue/<region>/<account>/<name>`` and AWS's own
``sqs.<region>.amazonaws.com/<account>/<name>``.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from services.sqs.errors import err

_HOST_REGION = re.compile(r"^sqs\.([a-z0-9-]+)\.(?:localhost\.localstack\.cloud|amazonaws\.com)")
_ACCOUNT = re.compile(r"^\d{12}$")


def queue_url(base_url: str, account: str, name: str) -> str:
    return f"{base_url}/{account}/{name}"


def queue_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:sqs:{region}:{account}:{name}"


def parse_arn(arn: str) -> tuple[str, str, str] | None:
    """(region, account, name) of an SQS queue ARN, or None."""
    parts = arn.split(":") if isinstance(arn, str) else []
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sqs" or not parts[5]:
        return None
    return parts[3], parts[4], parts[5]


def parse_queue_url(url: str) -> tuple[str | None, str, str]:
    """(region or None, account, name) from any accepted queue URL form or path."""
    if not url:
        raise err("InvalidAddress", f"The address {url} is not valid for this endpoint.")
    rest = url
    host = ""
    if "://" in rest:
        rest = rest.split("://", 1)[1]
        host, _, rest = rest.partition("/")
    path = [unquote(p) for p in rest.split("?", 1)[0].strip("/").split("/") if p]
    region = None
    m = _HOST_REGION.match(host)
    if m:
        region = m.group(1)
    if len(path) == 4 and path[0] == "queue":
        region, path = path[1], path[2:]
    if len(path) == 2 and path[1]:
        return region, path[0], path[1]
    if len(path) == 1 and path[0]:
        # bare queue name, e.g. a relative URL: default account applies
        return region, "", path[0]
    raise err("InvalidAddress", f"The address {url} is not valid for this endpoint.")


def entity_key(region: str, account: str, name: str) -> str:
    """Partition key of a queue: everything about it lives in one partition."""
    return f"sqs/{region}/{account}/{name}"
