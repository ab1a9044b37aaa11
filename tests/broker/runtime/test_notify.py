"""sd_notify client: exact datagrams on a real AF_UNIX SOCK_DGRAM socket."""

from __future__ import annotations

import logging
import os
import socket
import uuid

import pytest

from broker.runtime.notify import Notifier


@pytest.fixture
def path_socket(tmp_path):
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    yield str(path), sock
    sock.close()


@pytest.fixture
def abstract_socket():
    name = f"broker-test-notify-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5)
    yield "@" + name, sock
    sock.close()


def _no_more(sock: socket.socket) -> None:
    sock.setblocking(False)
    with pytest.raises(BlockingIOError):
        sock.recv(4096)


@pytest.mark.parametrize("which", ["path_socket", "abstract_socket"])
def test_exact_datagrams(request, which):
    address, sock = request.getfixturevalue(which)
    with Notifier({"NOTIFY_SOCKET": address}) as n:
        assert n.enabled
        assert n.ready() is True
        assert sock.recv(4096) == b"READY=1"
        n.ready(status="serving on 4 ports")
        assert sock.recv(4096) == b"READY=1\nSTATUS=serving on 4 ports"
        n.status("draining 3 connections")
        assert sock.recv(4096) == b"STATUS=draining 3 connections"
        n.stopping()
        assert sock.recv(4096) == b"STOPPING=1"
        n.watchdog()
        assert sock.recv(4096) == b"WATCHDOG=1"
        n.notify(MAINPID=1234, STATUS="x")
        assert sock.recv(4096) == b"MAINPID=1234\nSTATUS=x"
        n.extend_timeout(2.5)
        assert sock.recv(4096) == b"EXTEND_TIMEOUT_USEC=2500000"
        # a newline in a value cannot inject another field
        n.status("line1\nREADY=1")
        assert sock.recv(4096) == b"STATUS=line1 READY=1"
        _no_more(sock)


def test_disabled_without_notify_socket():
    n = Notifier({})
    assert not n.enabled
    assert n.ready("x") is False
    assert n.status("x") is False
    assert n.stopping() is False
    assert n.watchdog() is False
    n.close()


def test_unsupported_socket_value_is_disabled():
    assert not Notifier({"NOTIFY_SOCKET": "vsock:2:1234"}).enabled
    assert not Notifier({"NOTIFY_SOCKET": ""}).enabled


def test_default_env_is_os_environ(monkeypatch, path_socket):
    address, sock = path_socket
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    with Notifier() as n:
        n.ready()
    assert sock.recv(4096) == b"READY=1"


def test_send_failure_never_raises_and_logs_once(tmp_path, caplog):
    n = Notifier({"NOTIFY_SOCKET": str(tmp_path / "nobody-listens.sock")})
    assert n.enabled
    with caplog.at_level(logging.DEBUG, logger="broker.runtime.notify"):
        assert n.ready() is False
        assert n.watchdog() is False
        assert n.stopping() is False
    n.close()
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "sd_notify_failed" in warnings[0].getMessage()


def test_watchdog_interval():
    pid = str(os.getpid())
    assert Notifier({"WATCHDOG_USEC": "30000000"}).watchdog_interval() == 15.0
    assert Notifier({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": pid}).watchdog_interval() == 0.5
    assert Notifier({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": str(os.getpid() + 1)}).watchdog_interval() is None
    assert Notifier({}).watchdog_interval() is None
    assert Notifier({"WATCHDOG_USEC": "0"}).watchdog_interval() is None
    assert Notifier({"WATCHDOG_USEC": "soon"}).watchdog_interval() is None
    assert Notifier({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "x"}).watchdog_interval() is None
