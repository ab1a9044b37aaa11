"""pytest plugin (entry point ``pytest11``: loaded wherever the package is installed).

Fixtures:

- ``broker`` (session): a server on free ports (``--workers 1 --shards 1``: one worker process),
  started on first use, or the one at ``--broker-url``. It has
  ``endpoints``, ``url``, ``client(service)``, ``resource(service)``,
  ``env`` (for subprocesses), ``pika_connection()``, ``mqtt_client()``,
  ``smtp()``, ``capture_url(name)``, ``wait_for(...)``, ``reset()``.
- ``broker_account`` (function): a fresh 12-digit account on it; its
  ``client(service)`` sees only that account's resources, so tests need no
  reset between them and run in parallel under pytest-xdist.

Options: ``--broker-url URL`` (use a running server), ``--broker-keep``
(keep the data directory when the run fails), ``--broker-args "..."``
(more `broker serve` flags). Nothing starts unless a test uses a fixture,
and a suite's own ``broker`` fixture overrides this one.
"""

from __future__ import annotations

import shlex
import shutil

import pytest

_KEPT_KEY = pytest.StashKey[list]()
_DEV_MODE_CHECKED = pytest.StashKey[bool]()


def pytest_addoption(parser):
    group = parser.getgroup("broker", "broker: a local AWS application-integration server")
    group.addoption("--broker-url", default=None, metavar="URL",
                    help="use the broker already running at URL instead of starting one")
    group.addoption("--broker-keep", action="store_true", default=False,
                    help="keep the broker's data directory (stores, broker.log) when the run fails")
    group.addoption("--broker-args", default=None, metavar="FLAGS",
                    help='more `broker serve` flags for the started server, e.g. "--durability memory"')
    parser.addini("broker_args", "more `broker serve` flags for the started server", default="")


def _extra_args(config) -> list[str]:
    return shlex.split(config.getoption("broker_args") or config.getini("broker_args") or "")


def _worker_id(config) -> str | None:
    return getattr(config, "workerinput", {}).get("workerid")


def _shared_root(config):
    from pathlib import Path
    base = config._tmp_path_factory.getbasetemp()
    return Path(base).parent / "broker" if _worker_id(config) else Path(base) / "broker"


def _keep(session, config) -> bool:
    return bool(config.getoption("broker_keep") and session.testsfailed)


def _kept(config, path: str) -> None:
    config.stash.setdefault(_KEPT_KEY, []).append(path)


@pytest.fixture(scope="session")
def broker(request):
    """The broker server of this test session (see the module docstring)."""
    from broker.commands.env import load_config
    from broker.testing.client import Broker
    config = request.config
    url = config.getoption("broker_url")
    if url:
        from broker.commands.env import remote_endpoints
        yield Broker(remote_endpoints(url), None, {})
        return
    from broker.testing.server import Shared, StartError, start
    try:
        if _worker_id(config):
            rec = Shared(_shared_root(config)).attach_or_start(_extra_args(config))
            yield Broker(rec["endpoints"], rec["data_dir"], load_config(None, rec["data_dir"]))
            return      # the xdist controller stops it when every worker is done
        data_dir = config._tmp_path_factory.mktemp("broker", numbered=True)
        server, endpoints = start(data_dir, _extra_args(config))
    except StartError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield Broker(endpoints, str(data_dir), load_config(None, str(data_dir)))
    finally:
        server.stop()
        if _keep(request.session, config):
            _kept(config, str(data_dir))
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def broker_account(broker, request):
    """A fresh account for this test (dev mode: its 12-digit id is the access key)."""
    account = broker.account()
    config = request.config
    if not config.stash.get(_DEV_MODE_CHECKED, False):
        seen = account.client("sts").get_caller_identity()["Account"]
        if seen != account.id:
            pytest.fail(f"broker_account needs a dev-mode server (no aws.credentials): the server mapped access "
                        f"key {account.id} to account {seen}", pytrace=False)
        config.stash[_DEV_MODE_CHECKED] = True
    return account


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    if _worker_id(config) or not config.pluginmanager.has_plugin("dsession"):
        return
    from broker.testing.server import Shared
    kept = Shared(_shared_root(config)).stop(_keep(session, config))
    if kept:
        _kept(config, kept)


def pytest_terminal_summary(terminalreporter, config):
    for path in config.stash.get(_KEPT_KEY, []):
        terminalreporter.write_line(f"broker: data directory kept for inspection: {path} (log: {path}/broker.log)")
