"""The SMTP listeners this protocol package offers the runtime.

- ``smtp`` (listeners.smtp_port, 2587): submission with STARTTLS, as SES's
  alternate port; TLS before AUTH and MAIL;
- ``smtps`` (listeners.smtps_port, 2465): submission over implicit TLS;
- ``smtp_inbound`` (listeners.smtp_inbound_port, 2525): inbound mail for SES
  receipt rules; STARTTLS offered, never required unless a rule says so.

Port 0 turns a listener off (unless --free-ports). aiosmtpd is imported on
the first connection only.
"""

from __future__ import annotations

from broker.runtime.config import Key
from broker.runtime.plugins import ListenerSpec


CONFIG_KEYS = (
    Key("listeners", "smtp_port", int, 2587,
        "SES SMTP submission port with STARTTLS (SES's alternate port 2587); 0: off."),
    Key("listeners", "smtps_port", int, 2465, "SES SMTP submission port with implicit TLS; 0: off."),
    Key("listeners", "smtp_inbound_port", int, 2525,
        "Inbound SMTP for SES receiving (receipt rules); 0: off."),
)


def _factory(mode: str):
    def factory(gateway, ssl_ctx):
        from protocols.smtp.server import connection_factory
        return connection_factory(gateway, ssl_ctx, mode)
    return factory


def listeners() -> list[ListenerSpec]:
    return [
        ListenerSpec("smtp", "listeners.smtp_port", "smtp", "never", _factory("starttls"),
                     enabled_when_port_zero=False),
        ListenerSpec("smtps", "listeners.smtps_port", "smtps", "always", _factory("implicit"),
                     enabled_when_port_zero=False),
        ListenerSpec("smtp_inbound", "listeners.smtp_inbound_port", "smtp", "never", _factory("inbound"),
                     enabled_when_port_zero=False),
    ]


def gateway_setup(gateway) -> None:
    """Nothing at start: the SES side is built on the first SMTP connection."""
