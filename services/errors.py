"""Errors every service raises; protocols serialize only these.

`code` is the AWS error code clients branch on (for json protocols the shape
name, e.g. ``QueueDoesNotExist``; the codec maps it to the wire form the
protocol uses, including ``x-amzn-query-error`` for awsQueryCompatible
services). `status` is the HTTP status AWS returns.
"""

from __future__ import annotations


class ServiceError(Exception):
    code: str = "InternalFailure"
    status: int = 400
    sender_fault: bool = True

    def __init__(self, message: str = "", *, code: str | None = None,
                 status: int | None = None, sender_fault: bool | None = None,
                 **fields):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if sender_fault is not None:
            self.sender_fault = sender_fault
        # Extra members of the error shape (e.g. KMS has none, SQS batch has
        # none; some services add fields). Serialized when the shape has them.
        self.fields = fields

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r}, {self.status})"


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
