"""aiosmtpd's SMTP machine bound to a gateway: connection tracking for drain,
implicit TLS (smtps) counted as TLS, and SES's wording where the machine
speaks for itself (AUTH required, message size)."""

from __future__ import annotations

import logging
import socket

from aiosmtpd.smtp import SMTP

from protocols.smtp.handler import InboundHandler, SubmissionHandler

HOSTNAME = "email-smtp.amazonaws.com"
INBOUND_HOSTNAME = "inbound-smtp.amazonaws.com"
IDLE_TIMEOUT = 300.0
IDENT = "ESMTP SimpleEmailService-broker"

# aiosmtpd logs every command (addresses included) at INFO, and a deprecation
# warning on every AUTH; our own events are logged by the handler.
logging.getLogger("mail.log").setLevel(logging.ERROR)


class SmtpConnection(SMTP):
    """One SMTP connection in a gateway process."""

    def __init__(self, handler, gateway, *, tls_context, implicit_tls: bool, auth_required: bool,
                 require_starttls: bool, data_size_limit: int, hostname: str, authenticator=None):
        super().__init__(handler, data_size_limit=data_size_limit, hostname=hostname, ident=IDENT,
                         tls_context=tls_context, require_starttls=require_starttls, timeout=IDLE_TIMEOUT,
                         auth_required=auth_required, auth_require_tls=not implicit_tls,
                         authenticator=authenticator, command_call_limit=None, loop=gateway.loop)
        self.gateway = gateway
        self.implicit_tls = implicit_tls
        self._draining = False

    @property
    def tls_active(self) -> bool:
        return self.implicit_tls or self._tls_protocol is not None

    def connection_made(self, transport) -> None:
        first = self.transport is None
        super().connection_made(transport)
        if first:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                try:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                except (OSError, AttributeError):
                    pass
            self.gateway.connections.add(self)

    def connection_lost(self, error) -> None:
        self.gateway.connections.discard(self)
        super().connection_lost(error)

    async def check_auth_needed(self, caller_method: str) -> bool:
        if self._auth_required and not self.session.authenticated:
            await self.push("530 Authentication required")
            return True
        return False

    # -- gateway drain ----------------------------------------------------------------
    def after_transaction(self) -> None:
        if self._draining and self.transport is not None:
            self.loop.call_soon(self._close)

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def drain(self) -> None:
        """Finish the transaction in progress (if any), then close (SIGTERM)."""
        self._draining = True
        if self.envelope is None or not self.envelope.mail_from:
            self._close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


def connection_factory(gateway, ssl_ctx, mode: str):
    """asyncio protocol factory for one SMTP listener (mode: starttls | implicit | inbound)."""
    ses = getattr(gateway, "ses_smtp", None)
    if ses is None:
        from services.ses.smtp import SesSmtp
        ses = gateway.ses_smtp = SesSmtp(gateway)
    from services.ses.smtp import MAX_MESSAGE_BYTES
    if mode == "inbound":
        handler = InboundHandler(ses, INBOUND_HOSTNAME)

        def make_inbound():
            return SmtpConnection(handler, gateway, tls_context=ssl_ctx, implicit_tls=False, auth_required=False,
                                  require_starttls=False, data_size_limit=MAX_MESSAGE_BYTES,
                                  hostname=INBOUND_HOSTNAME)
        return make_inbound
    handler = SubmissionHandler(ses, HOSTNAME)
    implicit = mode == "implicit"

    def make():
        return SmtpConnection(handler, gateway, tls_context=None if implicit else ssl_ctx, implicit_tls=implicit,
                              auth_required=ses.auth_required, require_starttls=not implicit and ssl_ctx is not None,
                              data_size_limit=MAX_MESSAGE_BYTES, hostname=HOSTNAME,
                              authenticator=handler.authenticator)
    return make
