"""All SMTP policy, as aiosmtpd hooks (STYLE.md §2): the machine (syntax,
command order, DATA framing, limits) is aiosmtpd's SMTP; this class decides.

`SubmissionHandler` serves the SES submission listeners: AUTH PLAIN/LOGIN
through the service's credential check (refused before TLS by the machine
with SES's "530 Must issue a STARTTLS command first"), the 50-recipient
limit, and DATA answered ``250 Ok <MessageId>`` only after the shard has
committed the mail. `InboundHandler` serves the receiving listener: each
recipient is checked against the active receipt rule set at RCPT.
"""

from __future__ import annotations

import logging

from aiosmtpd.smtp import AuthResult, LoginPassword

log = logging.getLogger("broker.smtp")

MAX_RECIPIENTS = 50


def _valid(address: str) -> bool:
    local, at, domain = address.rpartition("@")
    return bool(at and local and domain and "." in domain and " " not in address)


def _peer_ip(session) -> str | None:
    peer = session.peer
    return peer[0] if isinstance(peer, tuple) and peer else None


class _Base:
    def __init__(self, ses, hostname: str):
        self.ses = ses
        self.hostname = hostname

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        out = [f"250-{self.hostname}"]
        out += [r for r in responses[1:-1] if not r.startswith(("250-HELP", "250-SMTPUTF8"))]
        out.append("250 Ok")
        return out

    async def handle_HELO(self, server, session, envelope, hostname):
        session.host_name = hostname
        return f"250 {self.hostname}"

    async def handle_MAIL(self, server, session, envelope, address, options):
        if address and not _valid(address):
            return "501 Invalid MAIL FROM address provided"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 Ok"

    async def handle_RSET(self, server, session, envelope):
        return "250 Ok"

    async def handle_NOOP(self, server, session, envelope, arg):
        return "250 Ok"

    async def handle_exception(self, error):
        log.exception("event=smtp_handler_failed")
        return "451 Temporary service failure"

    async def _accept(self, server, accept) -> str:
        """Run `accept()` (the service stores the mail); SES's reply either way."""
        from services.ses.smtp import reply_for
        try:
            mid = await accept()
        except Exception as exc:
            if not getattr(exc, "code", None):
                raise
            return reply_for(exc)
        finally:
            server.after_transaction()
        return f"250 Ok {mid}"


class SubmissionHandler(_Base):
    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        out = await super().handle_EHLO(server, session, envelope, hostname, responses)
        if not any(r.startswith("250-AUTH") for r in out):
            # SES advertises AUTH before STARTTLS too; using it there gets "530 Must issue a STARTTLS command first"
            out.insert(len(out) - 1, "250-AUTH PLAIN LOGIN")
        return out

    async def handle_RCPT(self, server, session, envelope, address, options):
        if not _valid(address):
            return "501 Invalid RCPT TO address provided"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "554 Transaction failed: Recipient count exceeds 50."
        envelope.rcpt_tos.append(address)
        return "250 Ok"

    async def handle_DATA(self, server, session, envelope):
        return await self._accept(server, lambda: self.ses.submit(
            getattr(session, "auth_data", None), envelope.mail_from, list(envelope.rcpt_tos),
            envelope.original_content, server.tls_active, _peer_ip(session)))

    def authenticator(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        from services.ses.smtp import BAD_AUTH, OK_AUTH
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False, message=BAD_AUTH)
        ident = self.ses.authenticate(auth_data.login.decode("utf-8", "replace"),
                                      auth_data.password.decode("utf-8", "replace"))
        if ident is None:
            return AuthResult(success=False, handled=False, message=BAD_AUTH)
        return AuthResult(success=True, auth_data=ident, message=OK_AUTH)


class InboundHandler(_Base):
    async def handle_RCPT(self, server, session, envelope, address, options):
        if not _valid(address):
            return "501 Invalid RCPT TO address provided"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        refused = await self.ses.inbound_check(address, server.tls_active, _peer_ip(session))
        if refused:
            return refused
        envelope.rcpt_tos.append(address)
        return "250 Ok"

    async def handle_DATA(self, server, session, envelope):
        return await self._accept(server, lambda: self.ses.receive(
            envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content, server.tls_active,
            _peer_ip(session)))
