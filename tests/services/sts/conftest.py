"""The IAM package's secured server fixtures (credentials for two accounts)."""

from tests.services.iam.conftest import clients, secured  # noqa: F401 (fixtures)
