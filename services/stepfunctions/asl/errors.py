"""Errors raised while a state runs: the predefined `States.*` names and how
Retry/Catch `ErrorEquals` lists match them (Amazon States Language spec,
"Errors" and "Retrying after an error")."""

from __future__ import annotations

ALL = "States.ALL"
TIMEOUT = "States.Timeout"
HEARTBEAT_TIMEOUT = "States.HeartbeatTimeout"
TASK_FAILED = "States.TaskFailed"
PERMISSIONS = "States.Permissions"
RESULT_PATH_MATCH_FAILURE = "States.ResultPathMatchFailure"
PARAMETER_PATH_FAILURE = "States.ParameterPathFailure"
BRANCH_FAILED = "States.BranchFailed"
NO_CHOICE_MATCHED = "States.NoChoiceMatched"
INTRINSIC_FAILURE = "States.IntrinsicFailure"
EXCEED_TOLERATED_FAILURE_THRESHOLD = "States.ExceedToleratedFailureThreshold"
ITEM_READER_FAILED = "States.ItemReaderFailed"
RESULT_WRITER_FAILED = "States.ResultWriterFailed"
RUNTIME = "States.Runtime"
DATA_LIMIT_EXCEEDED = "States.DataLimitExceeded"
QUERY_EVALUATION_ERROR = "States.QueryEvaluationError"

PREDEFINED = frozenset({
    ALL, TIMEOUT, HEARTBEAT_TIMEOUT, TASK_FAILED, PERMISSIONS, RESULT_PATH_MATCH_FAILURE, PARAMETER_PATH_FAILURE,
    BRANCH_FAILED, NO_CHOICE_MATCHED, INTRINSIC_FAILURE, EXCEED_TOLERATED_FAILURE_THRESHOLD, ITEM_READER_FAILED,
    RESULT_WRITER_FAILED, RUNTIME, DATA_LIMIT_EXCEEDED, QUERY_EVALUATION_ERROR,
})


class StatesError(Exception):
    """A failure inside an execution: what AWS reports as Error and Cause.

    `runtime` marks errors that ASL says no Retry/Catch can handle
    (States.Runtime), `task` those raised by a Task state's work (matched by
    States.TaskFailed)."""

    def __init__(self, error: str | None, cause: str | None = None, *, task: bool = False):
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause
        self.task = task
        self.event = None       # set by integrations that know their own failure event shape

    def output(self) -> dict:
        """The state output a Catch hands on: {"Error", "Cause"} (present keys only... unless null)."""
        return {"Error": self.error, "Cause": self.cause}


def runtime_error(message: str) -> StatesError:
    return StatesError(RUNTIME, message)


def in_state(state_name: str, entered_event_id: int, detail: str) -> str:
    """AWS's cause text for a runtime error inside a state."""
    return (f"An error occurred while executing the state '{state_name}' (entered at the event id "
            f"#{entered_event_id}). {detail}")


def matches(error_equals: list[str], err: StatesError) -> bool:
    """Does a Retrier/Catcher's ErrorEquals cover `err`?"""
    name = err.error
    if name == RUNTIME:
        return False
    for e in error_equals:
        if e == name:
            return True
        if e == ALL:
            return True
        if e == TASK_FAILED and err.task and name not in (TIMEOUT, HEARTBEAT_TIMEOUT):
            return True
        if e == HEARTBEAT_TIMEOUT and getattr(err, "heartbeat", False):
            return True
    return False
