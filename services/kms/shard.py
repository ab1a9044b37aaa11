"""KMS shard half: one KmsBackend per partition, over the partition's store."""

from __future__ import annotations

from services.kms.backend import KmsBackend


class KmsShard:
    def __init__(self, part):
        self.part = part
        self.backend = KmsBackend(part.store, part.master)

    def op_Handle(self, args):
        return self.backend.handle(args["a"], args["r"], args["op"], args["params"],
                                   principal_arn=args.get("principal"))

    def op_ResolveUsableKey(self, args):
        return self.backend.resolve_usable_key(args["a"], args["r"], args["key"])

    def close(self):
        pass
