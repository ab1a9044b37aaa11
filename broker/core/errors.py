"""The one error type that crosses process boundaries as a structured reply.

Services subclass it (services.errors.ServiceError); the runtime only relies
on these attributes to send an IPC error reply.
"""

from __future__ import annotations


class OpError(Exception):
    code: str = "InternalFailure"
    status: int = 400
    sender_fault: bool = True

    def __init__(self, message: str = "", *, code: str | None = None,
                 status: int | None = None, sender_fault: bool | None = None, **fields):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if sender_fault is not None:
            self.sender_fault = sender_fault
        self.fields = fields

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r}, {self.status})"
