"""The IAM API through boto3: entities, IAM's errors, policy versions, instance
profiles, tags, and the policy simulator."""

from __future__ import annotations

import json
import uuid

import botocore.exceptions
import pytest

from tests.services.iam.conftest import A, allow, error


def _n(prefix="x"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_user_lifecycle_and_errors(clients):
    iam = clients.a("iam")
    name = _n("user")
    u = iam.create_user(UserName=name, Path="/team/", Tags=[{"Key": "team", "Value": "blue"}])["User"]
    assert u["Arn"] == f"arn:aws:iam::{A}:user/team/{name}" and u["UserId"].startswith("AIDA")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        iam.create_user(UserName=name.upper())          # names are unique regardless of case
    assert error(ei) == ("EntityAlreadyExists", f"User with name {name.upper()} already exists.", 409)
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        iam.get_user(UserName=_n("missing"))
    assert error(ei)[0] == "NoSuchEntity" and error(ei)[2] == 404
    assert iam.get_user(UserName=name)["User"]["Tags"] == [{"Key": "team", "Value": "blue"}]
    assert name in [x["UserName"] for x in iam.list_users(PathPrefix="/team/")["Users"]]
    iam.create_access_key(UserName=name)
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        iam.delete_user(UserName=name)
    assert error(ei) == ("DeleteConflict", "Cannot delete entity, must delete access keys first.", 409)
    iam.create_access_key(UserName=name)
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        iam.create_access_key(UserName=name)
    assert error(ei)[:2] == ("LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2")
    for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]:
        iam.delete_access_key(UserName=name, AccessKeyId=k["AccessKeyId"])
    iam.delete_user(UserName=name)


def test_malformed_policies_are_refused(clients):
    iam = clients.a("iam")
    name = _n("user")
    iam.create_user(UserName=name)
    cases = [("not json", "Syntax errors in policy."),
             (json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*"}]}),
              "Policy statement must contain actions."),
             (json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:*"}]}),
              "Policy statement must contain resources."),
             (json.dumps({"Version": "2012-10-17", "Statement": [{"Action": "sqs:*", "Resource": "*"}]}),
              "Missing required field Effect"),
             (json.dumps(allow("SendMessage")),
              "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.")]
    for doc, message in cases:
        with pytest.raises(botocore.exceptions.ClientError) as ei:
            iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=doc)
        assert error(ei)[:2] == ("MalformedPolicyDocument", message)
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        iam.create_role(RoleName=_n("role"), AssumeRolePolicyDocument=json.dumps(allow("sts:AssumeRole")))
    assert error(ei)[:2] == ("MalformedPolicyDocument", "Missing required field Principal")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        iam.create_role(RoleName=_n("role"), AssumeRolePolicyDocument=json.dumps(
            allow("sts:AssumeRole", Principal={"AWS": A})))
    assert error(ei)[:2] == ("MalformedPolicyDocument", "Has prohibited field Resource")


def test_managed_policy_versions_and_attachments(clients):
    iam = clients.a("iam")
    arn = iam.create_policy(PolicyName=_n("pol"), PolicyDocument=json.dumps(allow("sqs:*")))["Policy"]["Arn"]
    for i in range(4):
        v = iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(allow(f"sns:Get{i}")),
                                      SetAsDefault=i == 3)["PolicyVersion"]
    assert v["VersionId"] == "v5" and v["IsDefaultVersion"]
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(allow("sqs:*")))
    assert error(ei)[0] == "LimitExceeded"
    assert iam.get_policy_version(PolicyArn=arn, VersionId="v5")["PolicyVersion"]["Document"] == allow("sns:Get3")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        iam.delete_policy_version(PolicyArn=arn, VersionId="v5")
    assert error(ei)[:2] == ("DeleteConflict", "Cannot delete the default version of a policy.")
    role = _n("role")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}))
    iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 1
    assert [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]] == [arn]
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        iam.delete_policy(PolicyArn=arn)
    assert error(ei)[:2] == ("DeleteConflict", "Cannot delete a policy attached to entities.")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        iam.attach_role_policy(RoleName=role, PolicyArn="arn:aws:iam::aws:policy/NoSuchPolicy")
    assert error(ei)[:2] == ("NoSuchEntity", "Policy arn:aws:iam::aws:policy/NoSuchPolicy does not exist or is "
                                             "not attachable.")
    profile = _n("ip")
    iam.create_instance_profile(InstanceProfileName=profile)
    iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=role)
    got = iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]
    assert [r["RoleName"] for r in got["Roles"]] == [role]
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        iam.delete_role(RoleName=role)
    assert error(ei)[0] == "DeleteConflict"


def test_policy_simulator(clients):
    iam = clients.a("iam")
    doc = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sqs:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "sqs:DeleteQueue", "Resource": "*"},
        {"Effect": "Allow", "Action": "sns:Publish", "Resource": "*",
         "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]})
    out = iam.simulate_custom_policy(PolicyInputList=[doc], ActionNames=["sqs:SendMessage", "sqs:DeleteQueue",
                                                                         "sns:Publish", "kms:Decrypt"],
                                     ContextEntries=[{"ContextKeyName": "aws:SourceIp",
                                                      "ContextKeyValues": ["10.1.2.3"], "ContextKeyType": "ip"}])
    assert {r["EvalActionName"]: r["EvalDecision"] for r in out["EvaluationResults"]} == {
        "sqs:SendMessage": "allowed", "sqs:DeleteQueue": "explicitDeny", "sns:Publish": "allowed",
        "kms:Decrypt": "implicitDeny"}
    name = _n("user")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=doc)
    out = iam.simulate_principal_policy(PolicySourceArn=f"arn:aws:iam::{A}:user/{name}",
                                        ActionNames=["sqs:ReceiveMessage", "sqs:DeleteQueue"])
    assert [r["EvalDecision"] for r in out["EvaluationResults"]] == ["allowed", "explicitDeny"]
