"""SNS admin paths on the HTTP listener.

Under ``/_broker/sns/`` and, for fixtures written against LocalStack, the
same under ``/_aws/sns/`` (LocalStack's JSON shapes):

- ``GET|DELETE sms-messages?accountId=&region=&phoneNumber=``
- ``GET|DELETE platform-endpoint-messages?accountId=&region=&endpointArn=``
- ``GET|DELETE email-messages?accountId=&region=&email=`` (also delivered to the SES mailbox)
- ``GET subscription-tokens/<subscription arn>``
- ``POST phone-opt-outs`` (``{"phoneNumber": ..., "accountId": ...}``)
- ``GET SimpleNotificationService-<id>.pem``: the signing certificate
"""

from __future__ import annotations

import json
from urllib.parse import unquote

from services.errors import ServiceError
from services.sns.arns import account_key, parse_subscription
from services.sns.signing import read_certificate

PREFIXES = ("/_broker/sns/", "/_aws/sns/")
_JSON = "application/json"
# admin path -> (record kind, filter query parameter, record field it matches and groups by, response member)
_RECORDED = {
    "sms-messages": ("sms", "phoneNumber", "PhoneNumber", "sms_messages"),
    "platform-endpoint-messages": ("push", "endpointArn", "TargetArn", "platform_endpoint_messages"),
    "email-messages": ("email", "email", "Endpoint", "email_messages"),
}


def _json(status: int, doc) -> tuple:
    return status, _JSON, json.dumps(doc).encode()


async def handle(gateway, method: str, path: str, query: dict, headers: dict, body: bytes):
    rest = next((path[len(p):] for p in PREFIXES if path.startswith(p)), None)
    if rest is None:
        return None
    rest = unquote(rest)
    if rest.startswith("SimpleNotificationService-") and rest.endswith(".pem") and method in ("GET", "HEAD"):
        cert = read_certificate(gateway.run.data_dir)
        if cert is None or rest != f"SimpleNotificationService-{cert[0]}.pem":
            return _json(404, {"error": "no such certificate"})
        return 200, "application/x-pem-file", cert[1].encode()
    config = gateway.config
    account = query.get("accountId") or config.get("aws.default_account", "000000000000")
    region = query.get("region") or config.get("aws.default_region", "us-east-1")
    if rest in _RECORDED and method in ("GET", "DELETE"):
        return await _recorded(gateway, rest, method, query, account, region)
    if rest.startswith("subscription-tokens/") and method == "GET":
        return await _token(gateway, rest[len("subscription-tokens/"):])
    if rest == "phone-opt-outs" and method == "POST":
        try:
            doc = json.loads(body or b"{}")
        except ValueError:
            doc = {}
        number = doc.get("phoneNumber") or query.get("phoneNumber")
        if not number:
            return _json(400, {"error": "phoneNumber is required"})
        acct = doc.get("accountId") or account
        key = account_key(config.get("aws.default_region", "us-east-1"), acct)
        await gateway.cluster.call(key, "sns.SetOptOut", {"k": key, "number": number, "out": True})
        return _json(200, {"phoneNumber": number, "accountId": acct})
    return _json(404, {"error": f"no SNS admin endpoint {method} {path}"})


async def _recorded(gateway, rest: str, method: str, query: dict, account: str, region: str):
    what, param, field, member = _RECORDED[rest]
    wanted = query.get(param)
    results = await gateway.cluster.call_all("sns.Records", {
        "what": what, "account": account, "region": region, "match": {field: wanted} if wanted else None,
        "delete": method == "DELETE"})
    if method == "DELETE":
        return 204, _JSON, b""
    grouped: dict[str, list] = {wanted: []} if wanted else {}
    for _key, doc in sorted((r for _p, part in results for r in part), key=lambda r: r[0]):
        grouped.setdefault(doc.get(field), []).append(doc)
    return _json(200, {member: grouped, "region": region})


async def _token(gateway, arn: str):
    try:
        ref = parse_subscription(arn, None)
    except ServiceError:
        return _json(400, {"error": "The provided SubscriptionARN is invalid", "subscription_arn": arn})
    tok = await gateway.cluster.call(ref.topic.key, "sns.SubscriptionToken", {"k": ref.topic.key, "sid": ref.sub_id})
    if tok is None:
        return _json(404, {"error": "The provided SubscriptionARN is not found", "subscription_arn": arn})
    return _json(200, {"subscription_token": tok, "subscription_arn": arn})
