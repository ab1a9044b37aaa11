"""SES errors with AWS's codes and messages.

Codes are the model's wire codes (v1) or shape names (v2); the codec maps
either to the form each protocol uses.
"""

from __future__ import annotations

from services.errors import ServiceError


def err(code: str, message: str, status: int = 400) -> ServiceError:
    return ServiceError(message, code=code, status=status)


def invalid_parameter(message: str) -> ServiceError:
    return err("InvalidParameterValue", message)


def message_rejected(message: str) -> ServiceError:
    return err("MessageRejected", message)


def not_verified(identities: list[str], region: str) -> ServiceError:
    return message_rejected("Email address is not verified. The following identities failed the check in "
                            f"region {region.upper()}: {', '.join(identities)}")


def config_set_missing(name: str) -> ServiceError:
    return err("ConfigurationSetDoesNotExist", f"Configuration set <{name}> does not exist.")


def template_missing(name: str) -> ServiceError:
    return err("TemplateDoesNotExist", f"Template {name} does not exist.")


def rule_set_missing(name: str) -> ServiceError:
    return err("RuleSetDoesNotExist", f"Rule set does not exist: {name}")


def rule_missing(name: str) -> ServiceError:
    return err("RuleDoesNotExist", f"Rule does not exist: {name}")


def already_exists(message: str) -> ServiceError:
    return err("AlreadyExists", message)


# -- v2 (rest-json) -------------------------------------------------------------

def not_found(message: str) -> ServiceError:
    return err("NotFoundException", message, 404)


def bad_request(message: str) -> ServiceError:
    return err("BadRequestException", message)


def v2_already_exists(message: str) -> ServiceError:
    return err("AlreadyExistsException", message)
