"""What a subscriber receives: the per-protocol message text, the JSON
envelope SNS wraps it in (signed for standard topics), and the request each
destination gets (SQS SendMessage params, HTTP headers, Lambda event).

A published message is the fan-out record written by the shard:
``id`` message id, ``arn`` topic ARN, ``m`` message, ``st`` per-protocol
messages (MessageStructure=json) or None, ``sj`` subject, ``a`` attributes
``{name: [DataType, str|bytes]}``, ``g``/``d``/``q`` FIFO group,
deduplication id and sequence number, ``ts`` timestamp, ``tr`` X-Ray trace
header, ``b`` base URL, ``sv`` SignatureVersion, ``fifo``.
"""

from __future__ import annotations

import base64
import json

from services.sns.signing import Signer, string_to_sign

USER_AGENT = "Amazon Simple Notification Service Agent"


def text_for(msg: dict, key: str) -> str:
    """The message for one protocol (or push platform, e.g. "APNS") key of a
    MessageStructure=json message; its 'default' otherwise."""
    st = msg.get("st")
    if st:
        v = st.get(key)
        if isinstance(v, str):
            return v
        return st["default"]
    return msg["m"]


def unsubscribe_url(base: str, sub_arn: str) -> str:
    return f"{base}/?Action=Unsubscribe&SubscriptionArn={sub_arn}"


def subscribe_url(base: str, topic_arn: str, token: str) -> str:
    return f"{base}/?Action=ConfirmSubscription&TopicArn={topic_arn}&Token={token}"


def sns_attributes(attrs: dict | None) -> dict:
    """Message attributes as the envelope carries them (binary in base64)."""
    out = {}
    for name, (dtype, value) in (attrs or {}).items():
        if isinstance(value, (bytes, bytearray)):
            value = base64.b64encode(value).decode()
        out[name] = {"Type": dtype, "Value": value}
    return out


def sqs_attributes(attrs: dict | None) -> dict:
    out = {}
    for name, (dtype, value) in (attrs or {}).items():
        if isinstance(value, (bytes, bytearray)):
            out[name] = {"DataType": dtype, "BinaryValue": bytes(value)}
        else:
            out[name] = {"DataType": dtype, "StringValue": value}
    return out


def record_attributes(attrs: dict | None) -> dict:
    """Message attributes as the admin API shows recorded deliveries (as published)."""
    out = {}
    for name, (dtype, value) in (attrs or {}).items():
        if isinstance(value, (bytes, bytearray)):
            out[name] = {"DataType": dtype, "BinaryValue": base64.b64encode(value).decode()}
        else:
            out[name] = {"DataType": dtype, "StringValue": value}
    return out


def notification(msg: dict, sub_arn: str, text: str, signer: Signer | None, variant: str = "") -> dict:
    """The Notification envelope as a dict in AWS's key order."""
    env = {"Type": "Notification", "MessageId": msg["id"]}
    if msg.get("fifo"):
        env["SequenceNumber"] = msg.get("q")
    env["TopicArn"] = msg["arn"]
    if msg.get("sj") is not None:
        env["Subject"] = msg["sj"]
    env["Message"] = text
    env["Timestamp"] = msg["ts"]
    if not msg.get("fifo") and signer is not None:
        version = msg.get("sv") or "1"
        env["SignatureVersion"] = version
        env["Signature"] = signer.sign(string_to_sign(env), version, (msg["id"], version, variant))
        env["SigningCertURL"] = signer.cert_url(msg["b"])
    env["UnsubscribeURL"] = unsubscribe_url(msg["b"], sub_arn)
    if msg.get("a"):
        env["MessageAttributes"] = sns_attributes(msg["a"])
    return env


def confirmation(kind: str, topic_arn: str, message_id: str, token: str, base: str, timestamp: str,
                 message: str, signer: Signer | None, version: str = "1") -> dict:
    """SubscriptionConfirmation / UnsubscribeConfirmation body."""
    env = {"Type": kind, "MessageId": message_id, "Token": token, "TopicArn": topic_arn, "Message": message,
           "SubscribeURL": subscribe_url(base, topic_arn, token), "Timestamp": timestamp}
    if signer is not None:
        env["SignatureVersion"] = version
        env["Signature"] = signer.sign(string_to_sign(env), version)
        env["SigningCertURL"] = signer.cert_url(base)
    return env


def subscribe_text(topic_arn: str) -> str:
    return (f"You have chosen to subscribe to the topic {topic_arn}.\n"
            f"To confirm the subscription, visit the SubscribeURL included in this message.")


def unsubscribe_text(sub_arn: str) -> str:
    return (f"You have chosen to deactivate subscription {sub_arn}.\n"
            f"To cancel this operation and restore the subscription, visit the SubscribeURL included in "
            f"this message.")


def dumps(env: dict) -> str:
    return json.dumps(env, ensure_ascii=False, separators=(",", ":"))


def sqs_params(msg: dict, sub_arn: str, queue_url: str, queue_fifo: bool, raw: bool,
               signer: Signer | None, key: str = "sqs") -> dict:
    """SendMessage parameters for one SQS subscription (or for the dead-letter
    queue of a subscription of protocol `key`)."""
    text = text_for(msg, key)
    if raw:
        params = {"QueueUrl": queue_url, "MessageBody": text}
        if msg.get("a"):
            params["MessageAttributes"] = sqs_attributes(msg["a"])
    else:
        params = {"QueueUrl": queue_url,
                  "MessageBody": dumps(notification(msg, sub_arn, text, signer, key))}
    group = msg.get("g")
    if queue_fifo:
        params["MessageGroupId"] = group
        params["MessageDeduplicationId"] = msg.get("d")
    elif group and not msg.get("fifo"):
        params["MessageGroupId"] = group        # standard topics forward it to standard queues
    if msg.get("tr"):
        params["MessageSystemAttributes"] = {"AWSTraceHeader": {"DataType": "String", "StringValue": msg["tr"]}}
    return params


def http_request(msg: dict, sub_arn: str, protocol: str, raw: bool, content_type: str,
                 signer: Signer | None) -> tuple[list, bytes]:
    """(headers, body) of a Notification POST."""
    text = text_for(msg, protocol)
    headers = [("Content-Type", content_type), ("User-Agent", USER_AGENT),
               ("x-amz-sns-message-type", "Notification"), ("x-amz-sns-message-id", msg["id"]),
               ("x-amz-sns-topic-arn", msg["arn"]), ("x-amz-sns-subscription-arn", sub_arn)]
    if raw:
        headers.append(("x-amz-sns-rawdelivery", "true"))
        return headers, text.encode()
    return headers, dumps(notification(msg, sub_arn, text, signer, protocol)).encode()


def lambda_event(msg: dict, sub_arn: str, signer: Signer | None) -> dict:
    """The event a Lambda subscription is invoked with (AWS writes SignatureVersion 1
    there whatever the topic uses, and names two keys ...Url)."""
    env = notification(msg, sub_arn, text_for(msg, "lambda"), signer, "lambda")
    sns = {"Type": env["Type"], "MessageId": env["MessageId"], "TopicArn": env["TopicArn"],
           "Subject": env.get("Subject"), "Message": env["Message"], "Timestamp": env["Timestamp"],
           "SignatureVersion": "1", "Signature": env.get("Signature"),
           "SigningCertUrl": env.get("SigningCertURL"), "UnsubscribeUrl": env["UnsubscribeURL"],
           "MessageAttributes": env.get("MessageAttributes", {})}
    return {"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": sub_arn,
                         "Sns": sns}]}

