"""Minimal sd_notify client (no dependency on python-systemd).

The supervisor tells systemd it is ready, what it is doing, that it is
stopping, and that it is alive (watchdog), by sending datagrams such as
``b"READY=1\\nSTATUS=serving"`` to the AF_UNIX socket named by
``$NOTIFY_SOCKET`` (a filesystem path, or ``@name`` for an abstract socket).
Without ``$NOTIFY_SOCKET`` every call is a no-op, so the same code runs on a
laptop and under systemd.

Sending never raises and never blocks: the socket is non-blocking, and a
failed send is logged once (at warning) and then only at debug level.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


def _socket_address(value: str | None) -> bytes | None:
    """The sendto() address for a NOTIFY_SOCKET value, or None if unusable."""
    if not value:
        return None
    if value.startswith("@"):
        return b"\0" + os.fsencode(value[1:])
    if value.startswith("/"):
        return os.fsencode(value)
    return None  # e.g. "vsock:..." (systemd >= 254): not supported here


def _field_value(value: object) -> str:
    if value is True:
        return "1"
    if value is False:
        return "0"
    # One field per line: a newline inside a value would start a bogus field.
    return str(value).replace("\r", " ").replace("\n", " ")


class Notifier:
    """Sends sd_notify messages to ``$NOTIFY_SOCKET``; a no-op when it is unset."""

    def __init__(self, env: Mapping[str, str] = os.environ):
        self._env = dict(env)
        raw = self._env.get("NOTIFY_SOCKET")
        self._address = _socket_address(raw)
        self.enabled: bool = self._address is not None
        self._sock: socket.socket | None = None
        self._warned = False
        if raw and not self.enabled:
            log.warning("event=sd_notify_unsupported_socket notify_socket=%r", raw)

    # ------------------------------------------------------------------ messages

    def notify(self, **fields: object) -> bool:
        """Send ``KEY=value`` lines, in the order given. True if the datagram was sent."""
        if not self.enabled or not fields:
            return False
        message = "\n".join(f"{k}={_field_value(v)}" for k, v in fields.items())
        return self._send(message.encode("utf-8"))

    def ready(self, status: str | None = None) -> bool:
        if status is None:
            return self.notify(READY=1)
        return self.notify(READY=1, STATUS=status)

    def status(self, text: str) -> bool:
        return self.notify(STATUS=text)

    def stopping(self) -> bool:
        return self.notify(STOPPING=1)

    def watchdog(self) -> bool:
        return self.notify(WATCHDOG=1)

    def extend_timeout(self, seconds: float) -> bool:
        """Ask for more time to start up or shut down (EXTEND_TIMEOUT_USEC)."""
        return self.notify(EXTEND_TIMEOUT_USEC=max(0, int(seconds * 1_000_000)))

    # ------------------------------------------------------------------ watchdog

    def watchdog_interval(self) -> float | None:
        """Seconds between WATCHDOG=1 pings (half the configured period), or None.

        None when ``$WATCHDOG_USEC`` is unset or invalid, or when
        ``$WATCHDOG_PID`` is set to another process's id (the watchdog is then
        meant for a different process, e.g. our parent).
        """
        raw = self._env.get("WATCHDOG_USEC")
        if not raw:
            return None
        try:
            usec = int(raw)
        except ValueError:
            return None
        if usec <= 0:
            return None
        pid = self._env.get("WATCHDOG_PID")
        if pid:
            try:
                if int(pid) != os.getpid():
                    return None
            except ValueError:
                return None
        return usec / 2 / 1_000_000

    # ------------------------------------------------------------------ plumbing

    def _send(self, data: bytes) -> bool:
        try:
            if self._sock is None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                sock.setblocking(False)
                self._sock = sock
            self._sock.sendto(data, self._address)
            return True
        except OSError as exc:
            if not self._warned:
                self._warned = True
                log.warning(
                    "event=sd_notify_failed notify_socket=%r error=%r note=further_failures_at_debug",
                    self._env.get("NOTIFY_SOCKET"), exc,
                )
            else:
                log.debug("event=sd_notify_failed error=%r", exc)
            return False

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def __enter__(self) -> "Notifier":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
