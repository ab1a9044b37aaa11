"""The one error the pattern language raises."""

from __future__ import annotations


class InvalidPattern(ValueError):
    """A pattern the compiler refuses. ``reason`` is the text that follows
    "Event pattern is not valid. Reason: " in AWS's message, parser location
    included where Event Ruler quotes one; ``located`` is False for checks
    that run outside the parser (CIDR, rule complexity)."""

    def __init__(self, reason: str, located: bool = True):
        super().__init__(reason)
        self.reason = reason
        self.located = located
