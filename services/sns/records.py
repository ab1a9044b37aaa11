"""Deliveries SNS cannot hand to a real system here, kept for inspection.

SMS messages, mobile push notifications and email (until the SES mailbox
lands) are written to the partition's store as they are "sent", and read
back through the admin API (services/sns/admin.py), in LocalStack's shapes.
The newest `MAX_PER_PARTITION` of each partition are kept.
"""

from __future__ import annotations

import os
from collections import deque

KIND = "sns.rec"
MAX_PER_PARTITION = 10_000


class Records:
    def __init__(self, part):
        self.part = part
        self.store = part.store
        self.keys: deque[str] = deque(k for k, _ in self.store.scan(KIND))
        self._seq = 0

    def add(self, what: str, account: str, region: str, doc: dict) -> None:
        """Record one delivery (`what`: sms, push or email)."""
        self._seq = (self._seq + 1) % 1_000_000
        key = f"{self.part.now_ms():013d}-{self._seq:06d}-{os.urandom(3).hex()}"
        self.store.put(KIND, key, {"w": what, "acct": account, "r": region, "d": doc})
        self.keys.append(key)
        while len(self.keys) > MAX_PER_PARTITION:
            self.store.delete(KIND, self.keys.popleft())
        self.part.flush_soon()

    def select(self, what: str, account: str | None, region: str | None, match: dict | None,
               delete: bool = False) -> list:
        """[[key, doc], ...] oldest first; with `delete`, the selected records go."""
        out = []
        for key in list(self.keys):
            rec = self.store.get(KIND, key)
            if rec is None or rec["w"] != what:
                continue
            if (account and rec["acct"] != account) or (region and rec["r"] != region):
                continue
            doc = rec["d"]
            if match and any(doc.get(k) != v for k, v in match.items()):
                continue
            out.append([key, doc])
            if delete:
                self.store.delete(KIND, key)
        if delete and out:
            gone = {k for k, _ in out}
            self.keys = deque(k for k in self.keys if k not in gone)
        return out
