"""Cost of IAM enforcement: SQS SendMessage/s with enforcement on vs off.

Off: credentials configured (signatures verified) with ``iam.enforce = false``,
the request signed by a configured key. On: enforcement; the request is signed by an IAM user whose inline policy allows
sqs:SendMessage on the queue, and the queue carries a resource policy too, so
every request authenticates a runtime key, evaluates the identity policy and
the queue policy (compiled and cached at the gateway). Same server shape,
same signed request (SigV4 signatures stay valid for minutes, so wrk replays
one), runs interleaved; the ratio on/off is the figure (target >= 0.9).

Prints JSON. Run: python bench/iam_bench.py [--seconds 5] [--rounds 3] [--workers 1 --shards 1]
Needs: wrk (apt-get install wrk).
"""

from __future__ import annotations

import argparse
import json
import statistics

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from _common import Broker, emit, wrk

ADMIN = ("AKIABENCHADMIN000001", "bench-admin-secret/abcdefghijklmnopqrstuvw")
ACCOUNT = "123456789012"
BODY = "hello world, a small benchmark message"


def _client(url, service, key, secret):
    return boto3.session.Session().client(service, endpoint_url=url, region_name="us-east-1",
                                          aws_access_key_id=key, aws_secret_access_key=secret)


def signed(url: str, key: str, secret: str, queue_url: str) -> tuple[dict, str]:
    body = json.dumps({"QueueUrl": queue_url, "MessageBody": BODY})
    req = AWSRequest("POST", url + "/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.SendMessage"})
    SigV4Auth(Credentials(key, secret), "sqs", "us-east-1").add_auth(req)
    return {k: v for k, v in req.headers.items()}, body


def setup(broker: Broker, enforced: bool) -> tuple[dict, str]:
    url = broker.url
    key, secret = ADMIN
    sqs = _client(url, "sqs", key, secret)
    queue_url = sqs.create_queue(QueueName="bench")["QueueUrl"]
    if not enforced:
        return signed(url, key, secret, queue_url)
    arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:bench"
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "sqs:SendMessage",
                                                 "Resource": arn, "Condition": {"Bool": {"aws:SecureTransport":
                                                                                         "false"},
                                                                                "IpAddress": {"aws:SourceIp":
                                                                                              "192.0.2.0/24"}}}]})})
    iam = _client(url, "iam", key, secret)
    iam.create_user(UserName="sender")
    iam.put_user_policy(UserName="sender", PolicyName="send", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["sqs:SendMessage",
                                                                              "sqs:GetQueueUrl"],
                                                 "Resource": f"arn:aws:sqs:*:{ACCOUNT}:bench*"}]}))
    ak = iam.create_access_key(UserName="sender")["AccessKey"]
    _client(url, "sqs", ak["AccessKeyId"], ak["SecretAccessKey"]).send_message(QueueUrl=queue_url, MessageBody="w")
    return signed(url, ak["AccessKeyId"], ak["SecretAccessKey"], queue_url)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", default="1")
    ap.add_argument("--shards", default="1")
    args = ap.parse_args()
    shape = ("--workers", args.workers, "--shards", args.shards, "--durability", "memory")
    creds = json.dumps([{"access_key": ADMIN[0], "secret_key": ADMIN[1], "account_id": ACCOUNT}])
    off = Broker(*shape, env={"BROKER_AWS_CREDENTIALS": creds, "BROKER_IAM_ENFORCE": "false",
                              "BROKER_TELEMETRY_ENABLED": "false"})
    on = Broker(*shape, env={"BROKER_AWS_CREDENTIALS": creds, "BROKER_TELEMETRY_ENABLED": "false"})
    try:
        req_off, req_on = setup(off, False), setup(on, True)
        rates = {"off": [], "on": []}
        for _ in range(args.rounds):
            for name, broker, (headers, body) in (("off", off, req_off), ("on", on, req_on)):
                rates[name].append(wrk(broker.url, "POST", headers, body, args.seconds))
        med_off, med_on = statistics.median(rates["off"]), statistics.median(rates["on"])
        emit({"bench": "iam_enforcement", "operation": "SQS SendMessage (wrk, 32 connections)",
              "workers": args.workers, "shards": args.shards, "seconds": args.seconds, "rounds": args.rounds,
              "enforcement_off_per_s": round(med_off, 1), "enforcement_on_per_s": round(med_on, 1),
              "ratio_on_vs_off": round(med_on / med_off, 3), "samples": rates})
    finally:
        off.close()
        on.close()


if __name__ == "__main__":
    main()
