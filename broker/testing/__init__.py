"""Testing with the broker: the pytest plugin (`broker.testing.plugin`, entry
point ``pytest11``) and what its fixtures hand to tests."""

from broker.testing.client import Account, Broker, WaitError, WaitTimeout, fresh_account_id

__all__ = ["Account", "Broker", "WaitError", "WaitTimeout", "fresh_account_id"]
