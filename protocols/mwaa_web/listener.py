"""MWAA web server listeners (protocol ``mwaa-web``): one HTTPS runtime listener per
environment, opened by CreateEnvironment on every gateway; each request is handed to the
MWAA service (services/mwaa/web.py), which serves MWAA's paths and proxies Airflow."""

from __future__ import annotations

from protocols.http.delegated import delegated

PROTOCOLS = {"mwaa-web": delegated("services.mwaa.web:serve")}


def listeners() -> list:
    return []


def gateway_setup(gateway) -> None:
    pass
