"""Errors every service raises; protocols serialize only these.

`code` is the AWS error code clients branch on (for json protocols the shape
name, e.g. ``QueueDoesNotExist``; the codec maps it to the wire form the
protocol uses, including ``x-amzn-query-error`` for awsQueryCompatible
services). `status` is the HTTP status AWS returns.
"""

from __future__ import annotations

from broker.core.errors import OpError


class ServiceError(OpError):
    """An AWS error: `code`, `message`, HTTP `status`, `sender_fault`, and
    `fields` (extra members of the error shape)."""


class ValidationError(ServiceError):
    """Input failed the model's constraints (required, type, min/max, pattern, enum)."""
    code = "ValidationException"


class InternalError(ServiceError):
    code = "InternalFailure"
    status = 500
    sender_fault = False


class ServiceUnavailable(ServiceError):
    code = "ServiceUnavailable"
    status = 503
    sender_fault = False


class NotImplementedOperation(ServiceError):
    """The operation exists in the model but this broker does not implement it yet."""
    code = "NotImplemented"
    status = 501
    sender_fault = False
