"""Queue URLs, ARNs and entity keys: how a queue is named on the wire and in the cluster.

A queue lives in one partition under ``entity_key(region, account, name)``.

URLs we hand out carry the queue's region, so same-named queues in two
regions have different URLs (as at AWS):

- when the client addressed us by a regional SQS host (``sqs.<region>.amazonaws.com``,
  ``sqs.<region>.localhost.localstack.cloud:4566``, ``<region>.queue.amazonaws.com``)
  for the queue's region: ``<scheme>://<that host>/<account>/<name>``, AWS's form;
- otherwise (``localhost:4566``, an IP, a custom name): the Host the client used,
  with the region in the path: ``<scheme>://<host>/queue/<region>/<account>/<name>``
  (LocalStack's path form). SDKs that send requests to the queue URL itself
  (Java v1, JS v2, query clients) reach this server unchanged.

Every accepted form, plus the region-less ``<host>/<account>/<name>`` (region from
the request's signature) and a bare queue name, parses with `parse_queue_url`.
Anything else is a queue that does not exist (AWS: QueueDoesNotExist).

Other services (SNS, EventBridge, Lambda event sources) address queues by ARN
``arn:aws:sqs:<region>:<account>:<name>``: `queue_key_of_arn` gives the entity
key (to call the owning shard), `queue_url_of_arn` the URL to pass to SqsApi
through services/internal.py.
"""

from __future__ import annotations

import functools
import re
from urllib.parse import unquote

from services.sqs.errors import queue_does_not_exist

# host forms that name the region: sqs.<r>.amazonaws.com[.cn], sqs.<r>.localhost.localstack.cloud,
# <r>.queue.amazonaws.com
_HOST_REGION = re.compile(r"^(?:sqs\.([a-z0-9-]+)\.(?:localhost\.localstack\.cloud|amazonaws\.com(?:\.cn)?)"
                          r"|([a-z0-9-]+)\.queue\.amazonaws\.com(?:\.cn)?)(?::\d+)?$")
_ACCOUNT = re.compile(r"^\d{12}$")
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}(?:\.fifo)?$")


def host_region(host: str) -> str | None:
    """The region a regional SQS host names, else None."""
    m = _HOST_REGION.match(host.lower())
    if m is None:
        return None
    return m.group(1) or m.group(2)


def queue_url(scheme: str, host: str, region: str, account: str, name: str) -> str:
    if host_region(host) == region:
        return f"{scheme}://{host}/{account}/{name}"
    return f"{scheme}://{host}/queue/{region}/{account}/{name}"


def queue_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:sqs:{region}:{account}:{name}"


def parse_arn(arn: str) -> tuple[str, str, str] | None:
    """(region, account, name) of an SQS queue ARN, or None."""
    parts = arn.split(":") if isinstance(arn, str) else []
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sqs" or not parts[5]:
        return None
    return parts[3], parts[4], parts[5]


def queue_key_of_arn(arn: str) -> str | None:
    """Entity key of the queue an ARN names (the shard to call), or None for a non-queue ARN."""
    parsed = parse_arn(arn)
    return entity_key(*parsed) if parsed is not None else None


def queue_url_of_arn(arn: str, base_url: str = "http://localhost:4566") -> str | None:
    """The URL SqsApi accepts for the queue an ARN names (region, account and name kept)."""
    parsed = parse_arn(arn)
    if parsed is None:
        return None
    region, account, name = parsed
    scheme, _, host = base_url.partition("://")
    return queue_url(scheme, host, region, account, name)


@functools.lru_cache(maxsize=4096)      # the same few URLs arrive over and over
def parse_queue_url(url: str) -> tuple[str | None, str, str]:
    """(region or None, account or "", name) of a queue URL, path or bare name.

    Raises QueueDoesNotExist for anything that cannot name a queue (AWS does the same)."""
    if not url or not isinstance(url, str):
        raise queue_does_not_exist()
    rest = url
    host = ""
    if "://" in rest:
        rest = rest.split("://", 1)[1]
        host, _, rest = rest.partition("/")
    path = [unquote(p) for p in rest.split("?", 1)[0].split("#", 1)[0].strip("/").split("/") if p]
    region = host_region(host) if host else None
    if len(path) == 4 and path[0] == "queue":
        region, path = path[1], path[2:]
    if len(path) == 2 and _ACCOUNT.match(path[0]) and _NAME.match(path[1]):
        return region, path[0], path[1]
    if len(path) == 1 and _NAME.match(path[0]):
        # a bare queue name (or <host>/<name>): the caller's account applies
        return region, "", path[0]
    raise queue_does_not_exist()


def entity_key(region: str, account: str, name: str) -> str:
    """Partition key of a queue: everything about it lives in one partition."""
    return f"sqs/{region}/{account}/{name}"
