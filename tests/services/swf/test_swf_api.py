"""SWF management and visibility operations through boto3: domains, types,
tags, executions, counts, listings with paging, and the faults AWS returns."""

from __future__ import annotations

import random
from datetime import datetime, timezone

import botocore.exceptions
import pytest

from tests.services.swf._helpers import ACT, WF, error_of, register_types

EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def own_account(server):
    """A client in an account of its own (dev mode maps a 12-digit access key to that account)."""
    account = "".join(random.choice("0123456789") for _ in range(12))
    return server.client("swf", aws_access_key_id=account), account


def test_domain_lifecycle_and_faults(swf, unique_name):
    swf.register_domain(name=unique_name, workflowExecutionRetentionPeriodInDays="3", description="desc",
                        tags=[{"key": "team", "value": "a"}])
    d = swf.describe_domain(name=unique_name)
    assert d["domainInfo"] == {"name": unique_name, "status": "REGISTERED", "description": "desc",
                               "arn": f"arn:aws:swf:us-east-1:000000000000:/domain/{unique_name}"}
    assert d["configuration"] == {"workflowExecutionRetentionPeriodInDays": "3"}
    with pytest.raises(botocore.exceptions.ClientError) as e:
        swf.register_domain(name=unique_name, workflowExecutionRetentionPeriodInDays="1")
    assert error_of(e) == ("DomainAlreadyExistsFault", unique_name)
    with pytest.raises(swf.exceptions.DomainAlreadyExistsFault):
        swf.undeprecate_domain(name=unique_name)
    swf.deprecate_domain(name=unique_name)
    assert swf.describe_domain(name=unique_name)["domainInfo"]["status"] == "DEPRECATED"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        swf.deprecate_domain(name=unique_name)
    assert error_of(e) == ("DomainDeprecatedFault", unique_name)
    with pytest.raises(botocore.exceptions.ClientError) as e:   # no new types in a deprecated domain
        swf.register_activity_type(domain=unique_name, name="a", version="1")
    assert error_of(e) == ("UnknownResourceFault", f"Unknown domain: {unique_name}")
    swf.undeprecate_domain(name=unique_name)
    with pytest.raises(swf.exceptions.UnknownResourceFault) as e:
        swf.describe_domain(name=unique_name + "-nope")
    assert error_of(e) == ("UnknownResourceFault", f"Unknown domain: {unique_name}-nope")


@pytest.mark.parametrize("call, code, message", [
    (dict(name="a:b", workflowExecutionRetentionPeriodInDays="1"), "ValidationException", "at 'name'"),
    (dict(name="arn", workflowExecutionRetentionPeriodInDays="1"), "ValidationException", "at 'name'"),
    (dict(name="ok", workflowExecutionRetentionPeriodInDays="91"), "ValidationException",
     "Value '91' at 'workflowExecutionRetentionPeriodInDays'"),
    (dict(name="ok", workflowExecutionRetentionPeriodInDays="x"), "ValidationException",
     "workflowExecutionRetentionPeriodInDays"),
    (dict(name="", workflowExecutionRetentionPeriodInDays="1"), "ValidationException", "at 'name'"),
])
def test_register_domain_validation(server, call, code, message):
    swf = server.client("swf", config=botocore.config.Config(parameter_validation=False))
    with pytest.raises(botocore.exceptions.ClientError) as e:
        swf.register_domain(**call)
    got_code, got_message = error_of(e)
    assert got_code == code and message in got_message and got_message.startswith("1 validation error detected: ")


def test_list_domains_paging_and_status(own_account):
    swf, account = own_account
    names = [f"dom-{i}" for i in range(5)]
    for n in names:
        swf.register_domain(name=n, workflowExecutionRetentionPeriodInDays="NONE")
    swf.deprecate_domain(name="dom-4")
    seen, token = [], None
    while True:
        page = swf.list_domains(registrationStatus="REGISTERED", maximumPageSize=2,
                                **({"nextPageToken": token} if token else {}))
        assert len(page["domainInfos"]) <= 2
        seen += [i["name"] for i in page["domainInfos"]]
        token = page.get("nextPageToken")
        if not token:
            break
    assert seen == names[:4]
    assert [i["name"] for i in swf.list_domains(registrationStatus="REGISTERED", reverseOrder=True)["domainInfos"]] \
        == names[3::-1]
    dep = swf.list_domains(registrationStatus="DEPRECATED")["domainInfos"]
    assert dep == [{"name": "dom-4", "status": "DEPRECATED", "arn": f"arn:aws:swf:us-east-1:{account}:/domain/dom-4"}]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        swf.list_domains(registrationStatus="REGISTERED", nextPageToken="bogus")
    assert error_of(e)[0] == "ValidationException"


def test_tags(swf, domain):
    arn = swf.describe_domain(name=domain)["domainInfo"]["arn"]
    swf.tag_resource(resourceArn=arn, tags=[{"key": "a", "value": "1"}, {"key": "b", "value": "2"}])
    swf.tag_resource(resourceArn=arn, tags=[{"key": "a", "value": "3"}])
    swf.untag_resource(resourceArn=arn, tagKeys=["b"])
    assert swf.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "a", "value": "3"}]
    with pytest.raises(swf.exceptions.TooManyTagsFault):
        swf.tag_resource(resourceArn=arn, tags=[{"key": f"k{i}", "value": "v"} for i in range(50)])
    with pytest.raises(swf.exceptions.UnknownResourceFault):
        swf.list_tags_for_resource(resourceArn="arn:aws:swf:us-east-1:000000000000:/domain/" + domain + "-x")
    with pytest.raises(swf.exceptions.UnknownResourceFault):
        swf.list_tags_for_resource(resourceArn="not-an-arn")


def test_type_lifecycle_and_faults(swf, domain):
    swf.register_activity_type(domain=domain, name="act", version="1", description="d",
                               defaultTaskList={"name": "al"}, defaultTaskPriority="7",
                               defaultTaskStartToCloseTimeout="30", defaultTaskHeartbeatTimeout="NONE")
    detail = swf.describe_activity_type(domain=domain, activityType=ACT)
    assert detail["typeInfo"]["activityType"] == ACT and detail["typeInfo"]["status"] == "REGISTERED"
    assert detail["typeInfo"]["description"] == "d" and "deprecationDate" not in detail["typeInfo"]
    assert detail["configuration"] == {"defaultTaskList": {"name": "al"}, "defaultTaskPriority": "7",
                                       "defaultTaskStartToCloseTimeout": "30", "defaultTaskHeartbeatTimeout": "NONE"}
    with pytest.raises(botocore.exceptions.ClientError) as e:
        swf.register_activity_type(domain=domain, name="act", version="1")
    assert error_of(e) == ("TypeAlreadyExistsFault", "ActivityType=[name=act, version=1]")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        swf.delete_activity_type(domain=domain, activityType=ACT)
    assert error_of(e) == ("TypeNotDeprecatedFault", "ActivityType=[name=act, version=1]")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        swf.undeprecate_activity_type(domain=domain, activityType=ACT)
    assert error_of(e) == ("TypeAlreadyExistsFault", "ActivityType=[name=act, version=1]")
    swf.deprecate_activity_type(domain=domain, activityType=ACT)
    assert "deprecationDate" in swf.describe_activity_type(domain=domain, activityType=ACT)["typeInfo"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        swf.deprecate_activity_type(domain=domain, activityType=ACT)
    assert error_of(e) == ("TypeDeprecatedFault", "ActivityType=[name=act, version=1]")
    swf.delete_activity_type(domain=domain, activityType=ACT)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        swf.describe_activity_type(domain=domain, activityType=ACT)
    assert error_of(e) == ("UnknownResourceFault", "Unknown type: ActivityType=[name=act, version=1]")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        swf.register_activity_type(domain=domain, name="bad", version="1", defaultTaskStartToCloseTimeout="ten")
    assert error_of(e)[0] == "ValidationException"
    assert "defaultTaskStartToCloseTimeout" in error_of(e)[1]


def test_workflow_types_listing(swf, domain):
    for name, version in [("b", "1"), ("a", "2"), ("a", "1"), ("c", "1")]:
        swf.register_workflow_type(domain=domain, name=name, version=version)
    swf.deprecate_workflow_type(domain=domain, workflowType={"name": "c", "version": "1"})
    listed = swf.list_workflow_types(domain=domain, registrationStatus="REGISTERED")["typeInfos"]
    assert [(t["workflowType"]["name"], t["workflowType"]["version"]) for t in listed] == \
        [("a", "1"), ("a", "2"), ("b", "1")]
    assert [t["workflowType"]["version"] for t in swf.list_workflow_types(
        domain=domain, registrationStatus="REGISTERED", name="a", reverseOrder=True)["typeInfos"]] == ["2", "1"]
    first = swf.list_workflow_types(domain=domain, registrationStatus="REGISTERED", maximumPageSize=2)
    assert len(first["typeInfos"]) == 2
    rest = swf.list_workflow_types(domain=domain, registrationStatus="REGISTERED", maximumPageSize=2,
                                   nextPageToken=first["nextPageToken"])
    assert [t["workflowType"]["name"] for t in rest["typeInfos"]] == ["b"] and "nextPageToken" not in rest
    assert [t["workflowType"]["name"] for t in swf.list_workflow_types(
        domain=domain, registrationStatus="DEPRECATED")["typeInfos"]] == ["c"]


def test_start_workflow_execution_faults(swf, domain):
    swf.register_workflow_type(domain=domain, name="bare", version="1")
    register_types(swf, domain)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        swf.start_workflow_execution(domain=domain, workflowId="w", workflowType={"name": "bare", "version": "1"})
    assert error_of(e) == ("DefaultUndefinedFault", "defaultExecutionStartToCloseTimeout")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        swf.start_workflow_execution(domain=domain, workflowId="w", workflowType={"name": "bare", "version": "1"},
                                     executionStartToCloseTimeout="60", taskList={"name": "x"},
                                     taskStartToCloseTimeout="10")
    assert error_of(e) == ("DefaultUndefinedFault", "defaultChildPolicy")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        swf.start_workflow_execution(domain=domain, workflowId="w", workflowType={"name": "nope", "version": "1"})
    assert error_of(e) == ("UnknownResourceFault", "Unknown type: WorkflowType=[name=nope, version=1]")
    for bad in (dict(executionStartToCloseTimeout="NONE"), dict(executionStartToCloseTimeout="31536001"),
                dict(taskPriority="high"), dict(taskStartToCloseTimeout="-1"), dict(workflowId="a/b")):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            swf.start_workflow_execution(**{"domain": domain, "workflowId": "w", "workflowType": WF, **bad})
        assert error_of(e)[0] == "ValidationException", bad
    run = swf.start_workflow_execution(domain=domain, workflowId="w", workflowType=WF)["runId"]
    with pytest.raises(swf.exceptions.WorkflowExecutionAlreadyStartedFault):
        swf.start_workflow_execution(domain=domain, workflowId="w", workflowType=WF)
    swf.deprecate_workflow_type(domain=domain, workflowType=WF)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        swf.start_workflow_execution(domain=domain, workflowId="w2", workflowType=WF)
    assert error_of(e) == ("TypeDeprecatedFault", "WorkflowType=[name=wf, version=1]")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        swf.describe_workflow_execution(domain=domain, execution={"workflowId": "w", "runId": "nope"})
    assert error_of(e) == ("UnknownResourceFault", "Unknown execution: WorkflowExecution=[workflowId=w, runId=nope]")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        swf.signal_workflow_execution(domain=domain, workflowId="ghost", signalName="s")
    assert error_of(e) == ("UnknownResourceFault", "Unknown execution, workflowId = ghost")
    swf.terminate_workflow_execution(domain=domain, workflowId="w", runId=run, reason="done")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        swf.request_cancel_workflow_execution(domain=domain, workflowId="w", runId=run)
    assert error_of(e) == ("UnknownResourceFault", f"Unknown execution: WorkflowExecution=[workflowId=w, runId={run}]")


def test_list_and_count_executions(swf, typed_domain):
    d = typed_domain
    runs = {}
    for i, (wid, tags) in enumerate([("a", ["x"]), ("b", ["y"]), ("c", ["x", "z"])]):
        runs[wid] = swf.start_workflow_execution(domain=d, workflowId=wid, workflowType=WF, tagList=tags)["runId"]
    swf.terminate_workflow_execution(domain=d, workflowId="b")
    window = {"oldestDate": EPOCH}
    opened = swf.list_open_workflow_executions(domain=d, startTimeFilter=window)["executionInfos"]
    assert [i["execution"]["workflowId"] for i in opened] == ["c", "a"]          # newest first
    assert opened[1] == {"execution": {"workflowId": "a", "runId": runs["a"]}, "workflowType": WF,
                         "startTimestamp": opened[1]["startTimestamp"], "executionStatus": "OPEN",
                         "cancelRequested": False, "tagList": ["x"]}
    assert [i["execution"]["workflowId"] for i in swf.list_open_workflow_executions(
        domain=d, startTimeFilter=window, reverseOrder=True)["executionInfos"]] == ["a", "c"]
    counted = swf.count_open_workflow_executions(domain=d, startTimeFilter=window, tagFilter={"tag": "x"})
    assert (counted["count"], counted["truncated"]) == (2, False)
    assert swf.count_open_workflow_executions(domain=d, startTimeFilter=window,
                                              executionFilter={"workflowId": "c"})["count"] == 1
    assert swf.count_open_workflow_executions(domain=d, startTimeFilter=window,
                                              typeFilter={"name": "wf"})["count"] == 2
    assert swf.count_open_workflow_executions(domain=d, startTimeFilter={"oldestDate": datetime(2999, 1, 1)})[
        "count"] == 0
    closed = swf.list_closed_workflow_executions(domain=d, closeTimeFilter=window)["executionInfos"]
    assert [(i["execution"]["workflowId"], i["closeStatus"]) for i in closed] == [("b", "TERMINATED")]
    assert swf.count_closed_workflow_executions(domain=d, startTimeFilter=window,
                                                closeStatusFilter={"status": "COMPLETED"})["count"] == 0
    page = swf.list_open_workflow_executions(domain=d, startTimeFilter=window, maximumPageSize=1)
    assert len(page["executionInfos"]) == 1
    page2 = swf.list_open_workflow_executions(domain=d, startTimeFilter=window, maximumPageSize=1,
                                              nextPageToken=page["nextPageToken"])
    assert page2["executionInfos"][0]["execution"]["workflowId"] == "a" and "nextPageToken" not in page2
    with pytest.raises(botocore.exceptions.ClientError) as e:
        swf.count_open_workflow_executions(domain=d, startTimeFilter=window, tagFilter={"tag": "x"},
                                           typeFilter={"name": "wf"})
    assert error_of(e)[0] == "ValidationException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        swf.list_closed_workflow_executions(domain=d, startTimeFilter=window, closeTimeFilter=window)
    assert error_of(e)[0] == "ValidationException"


def test_describe_execution_and_pending_counts(swf, typed_domain):
    d = typed_domain
    run = swf.start_workflow_execution(domain=d, workflowId="w", workflowType=WF, taskPriority="3",
                                       input="i")["runId"]
    desc = swf.describe_workflow_execution(domain=d, execution={"workflowId": "w", "runId": run})
    assert desc["executionConfiguration"] == {"taskStartToCloseTimeout": "60", "executionStartToCloseTimeout": "600",
                                              "taskList": {"name": "dl"}, "taskPriority": "3",
                                              "childPolicy": "TERMINATE"}
    assert desc["openCounts"] == {"openActivityTasks": 0, "openDecisionTasks": 1, "openTimers": 0,
                                  "openChildWorkflowExecutions": 0, "openLambdaFunctions": 0}
    assert swf.count_pending_decision_tasks(domain=d, taskList={"name": "dl"})["count"] == 1
    assert swf.count_pending_activity_tasks(domain=d, taskList={"name": "al"})["count"] == 0
    assert swf.count_pending_decision_tasks(domain=d, taskList={"name": "other"})["count"] == 0
    with pytest.raises(swf.exceptions.UnknownResourceFault):
        swf.count_pending_decision_tasks(domain=d + "-x", taskList={"name": "dl"})


def test_history_paging_and_reverse_order(swf, typed_domain):
    d = typed_domain
    run = swf.start_workflow_execution(domain=d, workflowId="w", workflowType=WF)["runId"]
    ex = {"workflowId": "w", "runId": run}
    for i in range(5):
        swf.signal_workflow_execution(domain=d, workflowId="w", signalName=f"s{i}")
    ids, token = [], None
    while True:
        page = swf.get_workflow_execution_history(domain=d, execution=ex, maximumPageSize=3,
                                                  **({"nextPageToken": token} if token else {}))
        assert len(page["events"]) <= 3
        ids += [e["eventId"] for e in page["events"]]
        token = page.get("nextPageToken")
        if not token:
            break
    assert ids == list(range(1, 8))
    rev = swf.get_workflow_execution_history(domain=d, execution=ex, reverseOrder=True)["events"]
    assert [e["eventId"] for e in rev] == list(range(7, 0, -1))
    assert rev[0]["workflowExecutionSignaledEventAttributes"] == {"signalName": "s4"}
