"""STS with IAM enforced: a role assumed across accounts (trust policy and the
caller's own policy both needed), session policies narrowing a role, session
tokens SigV4 checks, expired sessions refused, GetSessionToken,
GetAccessKeyInfo, web identities; AWS's validation texts."""

from __future__ import annotations

import base64
import json
import time
import uuid

import botocore.exceptions
import pytest

from tests.services.iam.conftest import A, ADMIN_A, B, allow, error, new_user


def _trust(principal: dict, action="sts:AssumeRole", **extra) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": principal, "Action": action, **extra}]})


def _role(iam, trust: str, policy: dict | None = None, **kw) -> str:
    name = f"r-{uuid.uuid4().hex[:10]}"
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust, **kw)["Role"]["Arn"]
    if policy:
        iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    return arn


def test_role_assumed_across_accounts(clients):
    iam_a, iam_b = clients.a("iam"), clients.b("iam")
    role = _role(iam_a, _trust({"AWS": B}), allow("sqs:*"))
    queue = clients.a("sqs").create_queue(QueueName=f"q-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    # a user of B without sts:AssumeRole in its own policies is refused even though the trust allows B
    nobody = clients.of(new_user(iam_b), "sts")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        nobody.assume_role(RoleArn=role, RoleSessionName="sess")
    code, msg, status = error(ei)
    assert (code, status) == ("AccessDenied", 403) and "sts:AssumeRole on resource: " + role in msg
    caller = clients.of(new_user(iam_b, policy=allow("sts:AssumeRole", role)), "sts")
    out = caller.assume_role(RoleArn=role, RoleSessionName="worker", DurationSeconds=900)
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{A}:assumed-role/{role.split('/')[-1]}/worker"
    assert out["Credentials"]["AccessKeyId"].startswith("ASIA")
    sess = out["Credentials"]
    me = clients.of(sess, "sts").get_caller_identity()
    assert me["Account"] == A and me["Arn"] == out["AssumedRoleUser"]["Arn"]
    assert me["UserId"] == out["AssumedRoleUser"]["AssumedRoleId"]
    clients.of(sess, "sqs").send_message(QueueUrl=queue, MessageBody="by the role")
    with pytest.raises(botocore.exceptions.ClientError):           # the role grants sqs only
        clients.of(sess, "sns").list_topics()
    # a trust that does not name B: refused whatever B's own policy says
    closed = _role(iam_a, _trust({"AWS": A}))
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        clients.b("sts").assume_role(RoleArn=closed, RoleSessionName="sess")
    assert error(ei)[0] == "AccessDenied"


def test_session_token_is_verified(clients):
    role = _role(clients.a("iam"), _trust({"AWS": A}), allow("sts:GetCallerIdentity"))
    creds = clients.a("sts").assume_role(RoleArn=role, RoleSessionName="sess")["Credentials"]
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        clients.of({**creds, "SessionToken": "forged"}, "sts").get_caller_identity()
    assert error(ei)[0] == "InvalidClientTokenId"
    with pytest.raises(botocore.exceptions.ClientError):
        clients.of({**creds, "SessionToken": None}, "sts").get_caller_identity()


def test_session_policy_narrows_the_role(clients):
    role = _role(clients.a("iam"), _trust({"AWS": A}), allow("sqs:*"))
    queue = clients.a("sqs").create_queue(QueueName=f"q-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    out = clients.a("sts").assume_role(RoleArn=role, RoleSessionName="narrow",
                                       Policy=json.dumps(allow("sqs:SendMessage")))
    assert out["PackedPolicySize"] > 0
    sqs = clients.of(out["Credentials"], "sqs")
    sqs.send_message(QueueUrl=queue, MessageBody="x")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        sqs.receive_message(QueueUrl=queue)
    assert error(ei)[1].endswith("because no session policy allows the sqs:receivemessage action")


def test_role_chaining_and_duration_limits(clients):
    iam = clients.a("iam")
    role = _role(iam, _trust({"AWS": A}), allow("sts:AssumeRole"), MaxSessionDuration=3600)
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        clients.a("sts").assume_role(RoleArn=role, RoleSessionName="sess", DurationSeconds=7200)
    assert error(ei)[:2] == ("ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration "
                                                "set for this role.")
    creds = clients.a("sts").assume_role(RoleArn=role, RoleSessionName="sess")["Credentials"]
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        clients.of(creds, "sts").assume_role(RoleArn=role, RoleSessionName="tt", DurationSeconds=7200)
    assert "1 hour session limit for roles assumed by role chaining" in error(ei)[1]
    chained = clients.of(creds, "sts").assume_role(RoleArn=role, RoleSessionName="tt")
    assert chained["AssumedRoleUser"]["Arn"].endswith("/tt")


@pytest.mark.parametrize("arn,message", [
    ("nothing-valid-in-here", "nothing-valid-in-here is invalid"),
    ("arn::b:::something/test-role", "arn::b:::something/test-role is invalid"),
    ("arn:a:::something/test-role", "arn:a:::something/test-role is invalid"),
])
def test_invalid_role_arn(clients, arn, message):
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        clients.a("sts").assume_role(RoleArn=arn, RoleSessionName="sess")
    assert error(ei)[:2] == ("ValidationError", message)


def test_role_arn_without_an_account_is_invalid_in_dev_mode(server):
    # no credentials configured: nothing denies first, and the role's account is not an account
    sts = server.client("sts")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        sts.assume_role(RoleArn="arn:aws:iam::1234567890z2:role/r", RoleSessionName="sess")
    assert error(ei)[:2] == ("ValidationError", "arn:aws:iam::1234567890z2:role/r is invalid")


def test_tag_validation(clients):
    role = _role(clients.a("iam"), _trust({"AWS": A}, action=["sts:AssumeRole", "sts:TagSession"]))
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        clients.a("sts").assume_role(RoleArn=role, RoleSessionName="sess", Tags=[{"Key": "a", "Value": "1"}],
                                     TransitiveTagKeys=["b"])
    assert error(ei)[:2] == ("InvalidParameterValue",
                             "The specified transitive tag key must be included in the requested tags.")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        clients.a("sts").assume_role(RoleArn=role, RoleSessionName="sess",
                                     Tags=[{"Key": "a", "Value": "1"}, {"Key": "A", "Value": "2"}])
    assert error(ei)[1] == "Duplicate tag keys found. Please note that Tag keys are case insensitive."
    out = clients.a("sts").assume_role(RoleArn=role, RoleSessionName="sess", Tags=[{"Key": "team", "Value": "x"}])
    assert out["Credentials"]["SessionToken"]
    # without sts:TagSession in the trust, tags are refused
    plain = _role(clients.a("iam"), _trust({"AWS": A}))
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        clients.a("sts").assume_role(RoleArn=plain, RoleSessionName="sess", Tags=[{"Key": "t", "Value": "x"}])
    assert "sts:TagSession" in error(ei)[1]


def test_get_session_token_and_access_key_info(clients):
    key = new_user(clients.a("iam"), policy=allow(["sts:GetSessionToken", "sts:GetCallerIdentity"]))
    creds = clients.of(key, "sts").get_session_token(DurationSeconds=900)["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    me = clients.of(creds, "sts").get_caller_identity()
    assert me["Account"] == A and ":user/" in me["Arn"]
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        clients.of(creds, "sts").get_session_token()
    assert error(ei)[0] == "AccessDenied"
    sts = clients.a("sts")
    assert sts.get_access_key_info(AccessKeyId=key["AccessKeyId"])["Account"] == A
    assert sts.get_access_key_info(AccessKeyId=creds["AccessKeyId"])["Account"] == A
    assert sts.get_access_key_info(AccessKeyId=ADMIN_A[0])["Account"] == A
    assert sts.get_access_key_info(AccessKeyId="ASIAY34FZKBOKMUTVV7A")["Account"] == "609629065308"


def _jwt(claims: dict) -> str:
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")  # noqa: E731
    return f"{enc({'alg': 'RS256', 'typ': 'JWT'})}.{enc(claims)}.c2ln"


def test_assume_role_with_web_identity(clients, secured):
    provider = "token.actions.githubusercontent.com"
    trust = _trust({"Federated": f"arn:aws:iam::{A}:oidc-provider/{provider}"},
                   action="sts:AssumeRoleWithWebIdentity",
                   Condition={"StringEquals": {f"{provider}:aud": "sts.amazonaws.com"},
                              "StringLike": {f"{provider}:sub": "repo:org/app:*"}})
    role = _role(clients.a("iam"), trust, allow("sts:GetCallerIdentity"))
    unsigned = secured.client("sts", config=botocore.config.Config(signature_version=botocore.UNSIGNED))
    good = _jwt({"iss": f"https://{provider}", "sub": "repo:org/app:ref:refs/heads/main", "aud": "sts.amazonaws.com",
                 "exp": int(time.time()) + 600})
    out = unsigned.assume_role_with_web_identity(RoleArn=role, RoleSessionName="ci", WebIdentityToken=good)
    assert out["SubjectFromWebIdentityToken"] == "repo:org/app:ref:refs/heads/main"
    assert out["Audience"] == "sts.amazonaws.com"
    assert clients.of(out["Credentials"], "sts").get_caller_identity()["Arn"].endswith("/ci")
    other = _jwt({"iss": f"https://{provider}", "sub": "repo:evil/app:ref", "aud": "sts.amazonaws.com"})
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        unsigned.assume_role_with_web_identity(RoleArn=role, RoleSessionName="ci", WebIdentityToken=other)
    assert error(ei)[:2] == ("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        unsigned.assume_role_with_web_identity(RoleArn=role, RoleSessionName="ci", WebIdentityToken="not-a-jwt")
    assert error(ei)[0] == "InvalidIdentityToken"
