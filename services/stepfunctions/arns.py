"""Step Functions ARNs, names and the entity keys that place them in partitions.

Everything of a state machine (its versions, aliases, executions and map
runs) lives in the partition of the state machine's key, so one hop reaches
an execution from any of its ARNs; an activity lives in its own partition.
"""

from __future__ import annotations

import re

from services.stepfunctions.errors import invalid_arn

# AWS: 1-80 characters, no whitespace, brackets, wildcards, special or control characters
_NAME_BAD = re.compile(r"[\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]")
_ALIAS_NAME = re.compile(r"^(?=.*[a-zA-Z_\-\.])[a-zA-Z0-9_\-\.]+$")


def valid_name(name) -> bool:
    return isinstance(name, str) and 1 <= len(name) <= 80 and not _NAME_BAD.search(name)


def valid_alias_name(name) -> bool:
    return isinstance(name, str) and 1 <= len(name) <= 80 and _ALIAS_NAME.match(name) is not None


def sm_key(account: str, region: str, name: str) -> str:
    return f"sfn/{account}/{region}/{name}"


def activity_key(account: str, region: str, name: str) -> str:
    return f"sfn-act/{account}/{region}/{name}"


def state_machine_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:states:{region}:{account}:stateMachine:{name}"


def execution_arn(region: str, account: str, sm_name: str, name: str) -> str:
    return f"arn:aws:states:{region}:{account}:execution:{sm_name}:{name}"


def express_arn(region: str, account: str, sm_name: str, name: str, run_id: str) -> str:
    return f"arn:aws:states:{region}:{account}:express:{sm_name}:{name}:{run_id}"


def activity_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:states:{region}:{account}:activity:{name}"


class Arn:
    __slots__ = ("text", "partition", "region", "account", "kind", "parts")

    def __init__(self, text, partition, region, account, kind, parts):
        self.text, self.partition, self.region, self.account = text, partition, region, account
        self.kind, self.parts = kind, parts

    @property
    def sm_name(self) -> str:
        return self.parts[0].split("/", 1)[0]

    @property
    def key(self) -> str:
        if self.kind == "activity":
            return activity_key(self.account, self.region, self.parts[0])
        return sm_key(self.account, self.region, self.sm_name)

    @property
    def base_sm_arn(self) -> str:
        return state_machine_arn(self.region, self.account, self.sm_name)


def parse(text) -> Arn:
    """Any Step Functions ARN; InvalidArn with AWS's message when malformed."""
    if not isinstance(text, str) or not text.startswith("arn:"):
        raise invalid_arn(f"Invalid ARN prefix: {text}")
    parts = text.split(":")
    if len(parts) < 7 or parts[2] != "states" or not parts[5]:
        raise invalid_arn(f"Invalid ARN prefix: {text}" if len(parts) < 3 or parts[2] != "states"
                          else f"Invalid Arn resource: {text}")
    return Arn(text, parts[1], parts[3], parts[4], parts[5], parts[6:])


def parse_kind(text, *kinds: str, context_error: bool = True) -> Arn:
    """Parse and require one of `kinds` ('stateMachine', 'execution', 'express', 'activity', 'mapRun')."""
    a = parse(text)
    if a.kind not in kinds:
        raise invalid_arn(f"Resource type not valid in this context: {a.kind}")
    if not a.parts or not all(a.parts):
        raise invalid_arn(f"Invalid Arn resource: {text}")
    return a
