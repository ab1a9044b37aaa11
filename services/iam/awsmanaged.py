"""A few AWS managed policies (``arn:aws:iam::aws:policy/...``) that
applications and infrastructure tools attach, with their documents as AWS
publishes them (statements for the services this broker hosts)."""

from __future__ import annotations

import json

ARN_PREFIX = "arn:aws:iam::aws:policy/"


def _allow(*actions: str, resource: str = "*") -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": list(actions) if len(actions) > 1 else actions[0], "Resource": resource}]})


POLICIES: dict[str, tuple[str, str]] = {
    # name -> (path, document)
    "AdministratorAccess": ("/", _allow("*")),
    "PowerUserAccess": ("/", json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "NotAction": ["iam:*", "organizations:*", "account:*"], "Resource": "*"},
        {"Effect": "Allow", "Action": ["iam:CreateServiceLinkedRole", "iam:DeleteServiceLinkedRole",
                                       "iam:ListRoles", "organizations:DescribeOrganization",
                                       "account:ListRegions", "account:GetAccountInformation"],
         "Resource": "*"}]})),
    "ReadOnlyAccess": ("/", _allow("sqs:Get*", "sqs:List*", "sns:Get*", "sns:List*", "sns:Check*", "kms:Describe*",
                                   "kms:Get*", "kms:List*", "events:Describe*", "events:List*", "events:Test*",
                                   "states:Describe*", "states:Get*", "states:List*", "iam:Get*", "iam:List*",
                                   "iam:Generate*", "iam:Simulate*", "ses:Get*", "ses:List*", "ses:Describe*",
                                   "cloudwatch:Describe*", "cloudwatch:Get*", "cloudwatch:List*", "logs:Describe*",
                                   "logs:Get*", "logs:FilterLogEvents", "mq:Describe*", "mq:List*",
                                   "swf:Describe*", "swf:List*", "swf:Count*", "scheduler:Get*", "scheduler:List*",
                                   "cloudtrail:Describe*", "cloudtrail:Get*", "cloudtrail:List*",
                                   "cloudtrail:LookupEvents", "xray:Get*", "xray:BatchGet*")),
    "IAMFullAccess": ("/", _allow("iam:*", "organizations:DescribeAccount", "organizations:DescribeOrganization",
                                  "organizations:DescribeOrganizationalUnit", "organizations:DescribePolicy",
                                  "organizations:ListChildren", "organizations:ListParents",
                                  "organizations:ListPoliciesForTarget", "organizations:ListRoots",
                                  "organizations:ListPolicies", "organizations:ListTargetsForPolicy")),
    "IAMReadOnlyAccess": ("/", _allow("iam:GenerateCredentialReport", "iam:GenerateServiceLastAccessedDetails",
                                      "iam:Get*", "iam:List*", "iam:SimulateCustomPolicy",
                                      "iam:SimulatePrincipalPolicy")),
    "AmazonSQSFullAccess": ("/", _allow("sqs:*")),
    "AmazonSQSReadOnlyAccess": ("/", _allow("sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ListDeadLetterSourceQueues",
                                            "sqs:ListQueues", "sqs:ListMessageMoveTasks", "sqs:ListQueueTags")),
    "AmazonSNSFullAccess": ("/", _allow("sns:*")),
    "AmazonSNSReadOnlyAccess": ("/", _allow("sns:GetTopicAttributes", "sns:List*", "sns:CheckIfPhoneNumberIsOptedOut",
                                            "sns:GetEndpointAttributes", "sns:GetDataProtectionPolicy",
                                            "sns:GetPlatformApplicationAttributes", "sns:GetSMSAttributes",
                                            "sns:GetSMSSandboxAccountStatus", "sns:GetSubscriptionAttributes")),
    "AmazonEventBridgeFullAccess": ("/", _allow("events:*", "schemas:*", "scheduler:*", "pipes:*")),
    "AmazonEventBridgeReadOnlyAccess": ("/", _allow("events:DescribeRule", "events:DescribeEventBus",
                                                    "events:DescribeEventSource", "events:ListEventBuses",
                                                    "events:ListEventSources", "events:ListRuleNamesByTarget",
                                                    "events:ListRules", "events:ListTargetsByRule",
                                                    "events:TestEventPattern", "events:DescribeArchive",
                                                    "events:ListArchives", "events:DescribeReplay",
                                                    "events:ListReplays", "events:DescribeConnection",
                                                    "events:ListConnections", "events:DescribeApiDestination",
                                                    "events:ListApiDestinations", "events:DescribeEndpoint",
                                                    "events:ListEndpoints", "events:ListTagsForResource")),
    "AWSStepFunctionsFullAccess": ("/", _allow("states:*")),
    "AWSStepFunctionsReadOnlyAccess": ("/", _allow("states:ListStateMachines", "states:ListActivities",
                                                   "states:Describe*", "states:GetExecutionHistory",
                                                   "states:ListExecutions", "states:ListMapRuns",
                                                   "states:ListTagsForResource")),
    "AWSKeyManagementServicePowerUser": ("/", _allow("kms:CreateAlias", "kms:CreateKey", "kms:DeleteAlias",
                                                     "kms:Describe*", "kms:GenerateRandom", "kms:Get*", "kms:List*",
                                                     "kms:TagResource", "kms:UntagResource", "iam:ListGroups",
                                                     "iam:ListRoles", "iam:ListUsers")),
    "CloudWatchFullAccess": ("/", _allow("autoscaling:Describe*", "cloudwatch:*", "logs:*", "sns:*",
                                         "iam:GetPolicy", "iam:GetPolicyVersion", "iam:GetRole")),
    "CloudWatchLogsFullAccess": ("/", _allow("logs:*", "cloudwatch:GenerateQuery")),
    "AmazonSESFullAccess": ("/", _allow("ses:*")),
    "AmazonMQFullAccess": ("/", _allow("mq:*", "ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface",
                                       "ec2:Describe*")),
    "SimpleWorkflowFullAccess": ("/", _allow("swf:*")),
    "AWSCloudTrail_FullAccess": ("/", _allow("cloudtrail:*")),
    "AWSXrayFullAccess": ("/", _allow("xray:*")),
}


def document(arn: str) -> str | None:
    if not arn.startswith(ARN_PREFIX):
        return None
    entry = POLICIES.get(arn[len(ARN_PREFIX):].rsplit("/", 1)[-1])
    return entry[1] if entry else None
