"""CloudTrail records without a server: redaction, classification, selectors."""

from __future__ import annotations

import botocore.session

from services.cloudtrail.record import HIDDEN, is_data_event, read_only, redact
from services.cloudtrail.selectors import compile_advanced, compile_basic, selects, selects_data

MODEL = botocore.session.get_session()


def _shapes(service, op):
    om = MODEL.get_service_model(service).operation_model(op)
    return om.input_shape, om.output_shape


def test_kms_plaintext_is_omitted_and_names_are_lower_camel_case():
    inp, out = _shapes("kms", "Encrypt")
    params = {"KeyId": "alias/x", "Plaintext": b"secret", "EncryptionContext": {"Dept": "IT"}}
    assert redact(params, inp) == {"keyId": "alias/x", "encryptionContext": {"Dept": "IT"}}
    assert redact({"CiphertextBlob": b"..", "KeyId": "k"}, out) == {"keyId": "k"}


def test_sensitive_strings_are_hidden():
    inp, _ = _shapes("sqs", "SendMessage")
    got = redact({"QueueUrl": "u", "MessageBody": "card 4111", "MessageAttributes": {}}, inp, {"MessageBody"})
    assert got["messageBody"] == HIDDEN and got["queueUrl"] == "u"
    inp, _ = _shapes("events", "CreateConnection")
    auth = {"ApiKeyAuthParameters": {"ApiKeyName": "k", "ApiKeyValue": "s3cr3t"}}
    got = redact({"Name": "c", "AuthorizationType": "API_KEY", "AuthParameters": auth}, inp)
    assert got["authParameters"]["apiKeyAuthParameters"]["apiKeyValue"] == HIDDEN


def test_classification():
    assert is_data_event("sqs", "SendMessage") and is_data_event("sns", "Publish")
    assert not is_data_event("sqs", "CreateQueue") and not is_data_event("kms", "Encrypt")
    assert read_only("kms", "Encrypt") and read_only("sqs", "ReceiveMessage") and read_only("sqs", "ListQueues")
    assert not read_only("sqs", "SendMessage") and not read_only("kms", "CreateKey")


def _event(category="Management", ro=False, source="sqs.amazonaws.com", name="CreateQueue", rtype=None, arn=None):
    e = {"eventCategory": category, "readOnly": ro, "eventSource": source, "eventName": name}
    if rtype:
        e["resources"] = [{"type": rtype, "ARN": arn}]
    return e


def test_basic_selectors():
    default = compile_basic([{"ReadWriteType": "All", "IncludeManagementEvents": True, "DataResources": []}])
    assert selects(default, _event()) and selects(default, _event(ro=True))
    assert not selects(default, _event("Data", rtype="AWS::SQS::Queue", arn="arn:aws:sqs:us-east-1:1:q"))
    assert not selects_data(default)
    write = compile_basic([{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True,
                            "ExcludeManagementEventSources": ["kms.amazonaws.com"]}])
    assert selects(write, _event()) and not selects(write, _event(ro=True))
    assert not selects(write, _event(source="kms.amazonaws.com"))
    data = compile_basic([{"IncludeManagementEvents": False, "DataResources": [
        {"Type": "AWS::SQS::Queue", "Values": ["arn:aws:sqs:us-east-1:1:orders"]}]}])
    assert selects(data, _event("Data", rtype="AWS::SQS::Queue", arn="arn:aws:sqs:us-east-1:1:orders"))
    assert not selects(data, _event("Data", rtype="AWS::SQS::Queue", arn="arn:aws:sqs:us-east-1:1:other"))
    assert not selects(data, _event()) and selects_data(data)


def test_advanced_selectors():
    sel = compile_advanced([{"FieldSelectors": [
        {"Field": "eventCategory", "Equals": ["Data"]}, {"Field": "resources.type", "Equals": ["AWS::SQS::Queue"]},
        {"Field": "eventName", "NotEquals": ["ReceiveMessage"]},
        {"Field": "resources.ARN", "StartsWith": ["arn:aws:sqs:us-east-1:1:"], "NotEndsWith": ["-dlq"]}]}])
    ok = _event("Data", name="SendMessage", rtype="AWS::SQS::Queue", arn="arn:aws:sqs:us-east-1:1:q")
    assert selects(sel, ok)
    assert not selects(sel, {**ok, "eventName": "ReceiveMessage"})
    assert not selects(sel, _event("Data", name="SendMessage", rtype="AWS::SQS::Queue",
                                   arn="arn:aws:sqs:us-east-1:1:q-dlq"))
    assert not selects(sel, _event())
