"""Error bodies as AWS sends them: ``__type`` names, the query-compatible header, absent messages."""
import json

from botocore.parsers import create_parser

from protocols.http.codec import Match, get_service_codec
from services.errors import ServiceError


def _json_error(service, code, message, protocol="json"):
    c = get_service_codec(service)
    resp = c.encode_error(Match("SendMessage" if service == "sqs" else "Decrypt", protocol),
                          ServiceError(message, code=code), "rid")
    return resp, {k.lower(): v for k, v in resp.headers}, json.loads(resp.body)


def test_sqs_json_type_and_query_header():
    cases = [
        ("InvalidParameterValue", "com.amazonaws.sqs#InvalidParameterValueException", "InvalidParameterValue"),
        ("MissingParameter", "com.amazonaws.sqs#MissingRequiredParameterException", "MissingParameter"),
        ("QueueDoesNotExist", "com.amazonaws.sqs#QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue"),
        ("InvalidAttributeName", "com.amazonaws.sqs#InvalidAttributeName", "InvalidAttributeName"),
        ("QueueNameExists", "com.amazonaws.sqs#QueueNameExists", "QueueAlreadyExists"),
    ]
    for code, type_name, header in cases:
        resp, headers, body = _json_error("sqs", code, "why")
        assert body["__type"] == type_name, code
        assert headers["x-amzn-query-error"] == f"{header};Sender"
        assert body["message"] == "why"
        # what a current SDK makes of it: the legacy code, and the JSON type as QueryErrorCode
        parsed = create_parser("json").parse({"status_code": 400, "headers": headers, "body": resp.body}, None)
        assert parsed["Error"]["Code"] == header
        assert parsed["Error"]["QueryErrorCode"] == type_name.split("#")[1]


def test_error_without_message_has_no_message_key():
    resp, _, body = _json_error("kms", "InvalidCiphertextException", "")
    assert body == {"__type": "InvalidCiphertextException"}
    _, _, body = _json_error("kms", "NotFoundException", "Invalid keyId 'x'")
    assert body["message"] == "Invalid keyId 'x'"
