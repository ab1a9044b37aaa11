"""TestState: run one state on its own (see test_state)."""

from __future__ import annotations

from services.errors import NotImplementedOperation


async def test_state(ctx, p):
    raise NotImplementedOperation("Step Functions TestState is not implemented yet.")
