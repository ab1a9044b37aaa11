"""Shared by the tests of the testing tools."""

from __future__ import annotations

import urllib.error
import urllib.request


def refused(url: str) -> bool:
    """True when nothing listens at `url` any more (the server behind it has stopped)."""
    try:
        urllib.request.urlopen(url + "/_broker/health", timeout=3)
    except urllib.error.URLError as exc:
        return isinstance(exc.reason, ConnectionRefusedError)
    except OSError:
        return True
    return False
