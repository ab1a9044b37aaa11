"""Condition operators, table-driven: (operator, key, policy values, request
context, expected). Cases follow AWS's "IAM JSON policy elements: Condition
operators" and "Single-valued vs. multivalued context keys" pages."""

from __future__ import annotations

import pytest

from services.iam.policy.conditions import Condition, compile_block
from services.iam.policy.evaluate import Context

NOW = "2024-06-01T12:00:00Z"

CASES = [
    # -- strings --------------------------------------------------------------
    ("StringEquals", "aws:username", ["alice"], {"aws:username": "alice"}, True),
    ("StringEquals", "aws:username", ["alice"], {"aws:username": "Alice"}, False),
    ("StringEquals", "aws:username", ["bob", "alice"], {"aws:username": "alice"}, True),
    ("StringEquals", "aws:username", ["alice"], {}, False),
    ("StringNotEquals", "aws:username", ["alice"], {"aws:username": "bob"}, True),
    ("StringNotEquals", "aws:username", ["alice", "bob"], {"aws:username": "bob"}, False),
    ("StringNotEquals", "aws:username", ["alice"], {}, True),            # absent key: negated holds
    ("StringEqualsIgnoreCase", "aws:username", ["ALICE"], {"aws:username": "alice"}, True),
    ("StringNotEqualsIgnoreCase", "aws:username", ["ALICE"], {"aws:username": "alice"}, False),
    ("StringLike", "s3:prefix", ["home/*"], {"s3:prefix": "home/alice/x"}, True),
    ("StringLike", "s3:prefix", ["home/?"], {"s3:prefix": "home/ab"}, False),
    ("StringLike", "s3:prefix", ["home/??"], {"s3:prefix": "home/ab"}, True),
    ("StringNotLike", "s3:prefix", ["home/*"], {"s3:prefix": "tmp/x"}, True),
    ("StringNotLike", "s3:prefix", ["home/*"], {"s3:prefix": "home/x"}, False),
    ("StringEquals", "aws:PrincipalTag/team", ["blue"], {"aws:principaltag/team": "blue"}, True),
    # policy variables in values
    ("StringEquals", "sqs:queue", ["${aws:username}-q"], {"sqs:queue": "alice-q", "aws:username": "alice"}, True),
    ("StringEquals", "sqs:queue", ["${aws:username}-q"], {"sqs:queue": "bob-q", "aws:username": "alice"}, False),
    ("StringLike", "x:k", ["${aws:username, 'anon'}*"], {"x:k": "anon-1"}, True),
    ("StringEquals", "x:k", ["a${*}b"], {"x:k": "a*b"}, True),
    # -- numbers --------------------------------------------------------------
    ("NumericEquals", "x:n", ["10"], {"x:n": 10}, True),
    ("NumericEquals", "x:n", ["10"], {"x:n": "10.0"}, True),
    ("NumericNotEquals", "x:n", ["10"], {"x:n": 11}, True),
    ("NumericLessThan", "x:n", ["10"], {"x:n": 9}, True),
    ("NumericLessThan", "x:n", ["10"], {"x:n": 10}, False),
    ("NumericLessThanEquals", "x:n", ["10"], {"x:n": 10}, True),
    ("NumericGreaterThan", "x:n", ["10"], {"x:n": 10.5}, True),
    ("NumericGreaterThanEquals", "x:n", ["10"], {"x:n": 9}, False),
    ("NumericLessThan", "x:n", ["not-a-number"], {"x:n": 1}, False),
    ("NumericLessThan", "x:n", ["10"], {}, False),
    # -- dates ----------------------------------------------------------------
    ("DateGreaterThan", "aws:CurrentTime", ["2024-01-01T00:00:00Z"], {"aws:currenttime": NOW}, True),
    ("DateLessThan", "aws:CurrentTime", ["2024-01-01T00:00:00Z"], {"aws:currenttime": NOW}, False),
    ("DateLessThanEquals", "aws:CurrentTime", [NOW], {"aws:currenttime": NOW}, True),
    ("DateGreaterThanEquals", "aws:CurrentTime", ["2024-06-01"], {"aws:currenttime": NOW}, True),
    ("DateEquals", "aws:EpochTime", ["1717243200"], {"aws:epochtime": 1717243200}, True),
    ("DateNotEquals", "aws:EpochTime", ["1717243200"], {"aws:epochtime": 1717243201}, True),
    ("DateLessThan", "aws:TokenIssueTime", ["2024-06-01T12:00:01Z"], {"aws:tokenissuetime": NOW}, True),
    # -- bool, binary ---------------------------------------------------------
    ("Bool", "aws:SecureTransport", ["true"], {"aws:securetransport": True}, True),
    ("Bool", "aws:SecureTransport", ["true"], {"aws:securetransport": False}, False),
    ("Bool", "aws:SecureTransport", ["false"], {"aws:securetransport": "false"}, True),
    ("Bool", "aws:MultiFactorAuthPresent", ["false"], {}, False),
    ("BinaryEquals", "x:b", ["QmluYXJ5VmFsdWU="], {"x:b": b"BinaryValue"}, True),
    ("BinaryEquals", "x:b", ["QmluYXJ5VmFsdWU="], {"x:b": b"other"}, False),
    # -- IP addresses -------------------------------------------------------------
    ("IpAddress", "aws:SourceIp", ["203.0.113.0/24"], {"aws:sourceip": "203.0.113.7"}, True),
    ("IpAddress", "aws:SourceIp", ["203.0.113.0/24"], {"aws:sourceip": "198.51.100.7"}, False),
    ("IpAddress", "aws:SourceIp", ["127.0.0.1"], {"aws:sourceip": "127.0.0.1"}, True),
    ("IpAddress", "aws:SourceIp", ["2001:db8::/32"], {"aws:sourceip": "2001:db8::1"}, True),
    ("IpAddress", "aws:SourceIp", ["2001:db8::/32"], {"aws:sourceip": "127.0.0.1"}, False),
    ("NotIpAddress", "aws:SourceIp", ["203.0.113.0/24"], {"aws:sourceip": "198.51.100.7"}, True),
    ("NotIpAddress", "aws:SourceIp", ["203.0.113.0/24"], {"aws:sourceip": "203.0.113.9"}, False),
    # -- ARNs -----------------------------------------------------------------
    ("ArnEquals", "aws:SourceArn", ["arn:aws:sns:us-east-1:111122223333:topic"],
     {"aws:sourcearn": "arn:aws:sns:us-east-1:111122223333:topic"}, True),
    ("ArnLike", "aws:SourceArn", ["arn:aws:sns:*:111122223333:*"],
     {"aws:sourcearn": "arn:aws:sns:eu-west-1:111122223333:other"}, True),
    ("ArnLike", "aws:SourceArn", ["arn:aws:sns:*:111122223333:*"],
     {"aws:sourcearn": "arn:aws:sns:eu-west-1:444455556666:other"}, False),
    # a wildcard stays within its ARN part
    ("ArnLike", "aws:SourceArn", ["arn:aws:sns:us-east-1:*"],
     {"aws:sourcearn": "arn:aws:sns:us-east-1:111122223333:t"}, False),
    ("ArnNotEquals", "aws:SourceArn", ["arn:aws:sns:us-east-1:111122223333:topic"],
     {"aws:sourcearn": "arn:aws:sns:us-east-1:111122223333:other"}, True),
    ("ArnNotLike", "aws:SourceArn", ["arn:aws:sns:*:*:topic"], {"aws:sourcearn": "arn:aws:sns:r:1:topic"}, False),
    ("ArnEquals", "aws:SourceArn", ["arn:aws:sns:r:1:t"], {}, False),
    ("ArnNotEquals", "aws:SourceArn", ["arn:aws:sns:r:1:t"], {}, True),
    # -- Null -----------------------------------------------------------------
    ("Null", "aws:TokenIssueTime", ["true"], {}, True),
    ("Null", "aws:TokenIssueTime", ["true"], {"aws:tokenissuetime": NOW}, False),
    ("Null", "aws:TokenIssueTime", ["false"], {"aws:tokenissuetime": NOW}, True),
    ("Null", "aws:TagKeys", ["false"], {"aws:tagkeys": []}, False),
    # -- ...IfExists ----------------------------------------------------------
    ("StringEqualsIfExists", "ec2:InstanceType", ["t2.micro"], {}, True),
    ("StringEqualsIfExists", "ec2:InstanceType", ["t2.micro"], {"ec2:instancetype": "m5.large"}, False),
    ("StringEqualsIfExists", "ec2:InstanceType", ["t2.micro"], {"ec2:instancetype": "t2.micro"}, True),
    ("NumericLessThanIfExists", "x:n", ["5"], {}, True),
    ("IpAddressIfExists", "aws:SourceIp", ["10.0.0.0/8"], {"aws:sourceip": "11.0.0.1"}, False),
    ("ArnLikeIfExists", "aws:SourceArn", ["arn:aws:sns:*:*:t"], {}, True),
    ("BoolIfExists", "aws:MultiFactorAuthPresent", ["true"], {}, True),
    # -- multivalued: ForAllValues / ForAnyValue ---------------------------------
    ("ForAllValues:StringEquals", "aws:TagKeys", ["env", "team"], {"aws:tagkeys": ["env"]}, True),
    ("ForAllValues:StringEquals", "aws:TagKeys", ["env", "team"], {"aws:tagkeys": ["env", "cost"]}, False),
    ("ForAllValues:StringEquals", "aws:TagKeys", ["env"], {}, True),                 # absent: holds
    ("ForAllValues:StringEquals", "aws:TagKeys", ["env"], {"aws:tagkeys": []}, True),
    ("ForAnyValue:StringEquals", "aws:TagKeys", ["env"], {"aws:tagkeys": ["cost", "env"]}, True),
    ("ForAnyValue:StringEquals", "aws:TagKeys", ["env"], {"aws:tagkeys": ["cost"]}, False),
    ("ForAnyValue:StringEquals", "aws:TagKeys", ["env"], {}, False),                 # absent: fails
    ("ForAllValues:StringLike", "aws:TagKeys", ["team-*"], {"aws:tagkeys": ["team-a", "team-b"]}, True),
    ("ForAnyValue:StringLike", "aws:TagKeys", ["team-*"], {"aws:tagkeys": ["x", "team-b"]}, True),
    ("ForAllValues:StringNotEquals", "aws:TagKeys", ["secret"], {"aws:tagkeys": ["a", "b"]}, True),
    ("ForAllValues:StringNotEquals", "aws:TagKeys", ["secret"], {"aws:tagkeys": ["a", "secret"]}, False),
    ("ForAnyValue:StringNotEquals", "aws:TagKeys", ["secret"], {"aws:tagkeys": ["a", "secret"]}, True),
    ("ForAnyValue:StringNotEquals", "aws:TagKeys", ["secret"], {"aws:tagkeys": ["secret"]}, False),
    ("ForAnyValue:NumericGreaterThan", "x:ns", ["5"], {"x:ns": [1, 7]}, True),
    ("ForAllValues:NumericGreaterThan", "x:ns", ["5"], {"x:ns": [1, 7]}, False),
    # a plain operator on a multivalued key: any value
    ("StringEquals", "aws:TagKeys", ["env"], {"aws:tagkeys": ["cost", "env"]}, True),
    # condition keys are case-insensitive
    ("StringEquals", "AWS:USERNAME", ["alice"], {"aws:username": "alice"}, True),
]


@pytest.mark.parametrize("operator,key,values,context,expected", CASES,
                         ids=[f"{i}-{c[0]}" for i, c in enumerate(CASES)])
def test_operator(operator, key, values, context, expected):
    ctx = Context()
    for k, v in context.items():
        ctx.set(k, v)
    assert Condition(operator, key, values).holds(ctx) is expected


def test_block_is_and_of_operators_and_keys():
    block = {"StringEquals": {"aws:username": "alice", "aws:PrincipalAccount": "111122223333"},
             "Bool": {"aws:SecureTransport": "true"}}
    conds = compile_block(block)
    ctx = Context({"aws:username": "alice", "aws:principalaccount": "111122223333", "aws:securetransport": True})
    assert all(c.holds(ctx) for c in conds)
    ctx.set("aws:SecureTransport", False)
    assert not all(c.holds(ctx) for c in conds)


def test_unknown_operator_is_refused():
    from services.iam.policy.conditions import ConditionError
    with pytest.raises(ConditionError):
        Condition("StringSortOf", "k", ["v"])
