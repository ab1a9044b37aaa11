"""KMS service: AWS KMS semantics as a backend that runs inside a core shard."""

from .backend import IMPLEMENTED_OPERATIONS, UNSUPPORTED_OPERATIONS, KmsBackend

__all__ = ["KmsBackend", "IMPLEMENTED_OPERATIONS", "UNSUPPORTED_OPERATIONS"]
