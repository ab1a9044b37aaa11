"""Helpers of the MWAA tests: HTTPS to an environment's web server, status polling, the skip marker."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request

import pytest

from tests.helpers.brokerproc import wait_for

AIRFLOW_TIMEOUT = 900.0      # CreateEnvironment to AVAILABLE on a loaded 2-core machine


def airflow_installed() -> bool:
    from services.mwaa.model import installed_airflow
    return installed_airflow() is not None


needs_airflow = pytest.mark.skipif(not airflow_installed(),
                                   reason="Apache Airflow is not installed: pip install -e '.[mwaa]'")


def https(server, host: str, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
          timeout: float = 120.0):
    """(status, headers, body) of one HTTPS request to an environment's web server (no redirects)."""
    ctx = ssl.create_default_context(cafile=server.ca_cert)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **kw):
            return None
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx), NoRedirect)
    req = urllib.request.Request(f"https://{host}{path}", data=body, method=method, headers=headers or {})
    try:
        with opener.open(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def wait_status(mwaa, name: str, want: str, timeout: float = AIRFLOW_TIMEOUT) -> dict:
    """Poll GetEnvironment until `want`; a failed state on the way fails at once, with its error."""
    seen = {}

    def check():
        env = seen["env"] = mwaa.get_environment(Name=name)["Environment"]
        return env["Status"] in (want, "CREATE_FAILED", "UPDATE_FAILED")
    wait_for(check, timeout=timeout, interval=1.0, what=f"{name} {want}")
    env = seen["env"]
    assert env["Status"] == want, f"{name}: {env['Status']} {env.get('LastUpdate')}"
    return env


def subnet_config() -> dict:
    return {"SubnetIds": ["subnet-0a1b2c3d", "subnet-4e5f6a7b"], "SecurityGroupIds": ["sg-0123abcd"]}
