"""Self-hosted broker for AWS application-integration wire protocols."""

__version__ = "0.1.0"
