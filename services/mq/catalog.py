"""What Amazon MQ offers: engine versions, instance options, naming rules,
and the errors its API answers with (code, errorAttribute, message)."""

from __future__ import annotations

import re

from services.errors import ServiceError

ENGINE_VERSIONS = {
    "RABBITMQ": ["3.13", "3.12.13", "3.11.28", "3.10.25", "3.9.27", "3.8.34"],
    "ACTIVEMQ": ["5.18", "5.17.6", "5.16.7", "5.15.16"],
}
INSTANCE_TYPES = {
    "RABBITMQ": ["mq.t3.micro", "mq.m5.large", "mq.m5.xlarge", "mq.m5.2xlarge", "mq.m5.4xlarge",
                 "mq.m7g.medium", "mq.m7g.large", "mq.m7g.xlarge", "mq.m7g.2xlarge"],
    "ACTIVEMQ": ["mq.t2.micro", "mq.t3.micro", "mq.m4.large", "mq.m5.large", "mq.m5.xlarge", "mq.m5.2xlarge",
                 "mq.m5.4xlarge"],
}
STORAGE_TYPES = {"RABBITMQ": ["EBS"], "ACTIVEMQ": ["EBS", "EFS"]}
DEPLOYMENT_MODES = {"RABBITMQ": ["SINGLE_INSTANCE", "CLUSTER_MULTI_AZ"],
                    "ACTIVEMQ": ["SINGLE_INSTANCE", "ACTIVE_STANDBY_MULTI_AZ"]}
AZ_SUFFIXES = ("a", "b", "c", "d", "e", "f")

BROKER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,50}$")
CONFIG_NAME = re.compile(r"^[A-Za-z0-9._~-]{1,150}$")
USER_ACTIVEMQ = re.compile(r"^[A-Za-z0-9._~-]{2,100}$")
USER_RABBITMQ = re.compile(r"^[A-Za-z0-9._-]{2,100}$")


def bad_request(attribute: str, message: str) -> ServiceError:
    return ServiceError(message, code="BadRequestException", status=400, ErrorAttribute=attribute)


def not_found(attribute: str, message: str) -> ServiceError:
    return ServiceError(message, code="NotFoundException", status=404, ErrorAttribute=attribute)


def conflict(attribute: str, message: str) -> ServiceError:
    return ServiceError(message, code="ConflictException", status=409, ErrorAttribute=attribute)


def broker_not_found(broker_id: str) -> ServiceError:
    return not_found("broker-id", f"Can't find requested broker [{broker_id}]. Make sure your broker exists.")


def config_not_found(config_id: str) -> ServiceError:
    return not_found("configuration-id",
                     f"Can't find requested configuration [{config_id}]. Make sure your configuration exists.")


def user_not_found(username: str) -> ServiceError:
    return not_found("username", f"Can't find requested user [{username}]. Make sure your user exists.")


def check_engine(engine: str) -> str:
    if engine not in ENGINE_VERSIONS:
        raise bad_request("engineType", f"Broker engine type [{engine}] does not exist. Valid values are: "
                          "[ACTIVEMQ, RABBITMQ]")
    return engine


def check_version(engine: str, version: str | None) -> str:
    versions = ENGINE_VERSIONS[engine]
    if version is None:
        return versions[0]
    if version not in versions:
        raise bad_request("engineVersion", f"Broker engine version [{version}] is not supported for broker engine "
                          f"type [{engine}]. Valid values are: [{', '.join(versions)}]")
    return version


def check_username(engine: str, name: str) -> None:
    rule = USER_RABBITMQ if engine == "RABBITMQ" else USER_ACTIVEMQ
    if not rule.match(name or ""):
        allowed = "alphanumeric characters, dashes, periods, underscores" + ("" if engine == "RABBITMQ"
                                                                            else " and tildes")
        raise bad_request("username", f"Username [{name}] is invalid. Valid usernames can contain only {allowed} "
                          "(- . _" + ("" if engine == "RABBITMQ" else " ~") + ") and must be 2-100 characters long.")
    if engine == "RABBITMQ" and name == "guest":
        raise bad_request("username", "Username [guest] is not allowed for RabbitMQ brokers.")


def check_password(password: str | None) -> None:
    p = password or ""
    if len(p) < 12 or len(set(p)) < 4 or any(c in p for c in ",:="):
        raise bad_request("password", "Password must be at least 12 characters long, must contain at least 4 "
                          "unique characters, and must not contain commas, colons, or equal signs (,:=).")
