"""SES shard half: the namespaces of one partition, the mailbox, and sending.

Ops (``ses.<Name>``):
- ``Handle`` {a, r, v, op, params}: one API operation (v1 or v2) on a namespace;
- ``Send`` / ``SendBulk``: a message (or a bulk of them) prepared by the gateway
  half or the SMTP handler (services/ses/sending.py);
- ``InboundCheck`` / ``Receive``: inbound SMTP recipients and mail (receiving.py);
- ``Verify``: the simulated verification click;
- ``MailList`` / ``MailGet`` / ``MailDelete`` / ``MailWait`` / ``MailCancelWait``:
  the mailbox admin API (a wait covers every partition of this shard).
"""

from __future__ import annotations

import logging

from services.errors import NotImplementedOperation
from services.ses import mailbox as mbox
from services.ses import (
    mailview, ops_account, ops_configsets, ops_contacts, ops_identities, ops_receipt, ops_templates, receiving,
    sending, system_mail,
)
from services.ses.config import settings
from services.ses.errors import err
from services.ses.mime import ses_message_id
from services.ses.publish import Publisher
from services.ses.state import Namespaces

log = logging.getLogger("broker.ses")

OPS_V1 = {**ops_identities.V1, **ops_templates.V1, **ops_configsets.V1, **ops_account.V1, **ops_receipt.V1}
OPS_V2 = {**ops_identities.V2, **ops_templates.V2, **ops_configsets.V2, **ops_account.V2, **ops_contacts.V2}


class SesShard:
    def __init__(self, part):
        self.part = part
        self.store = part.store
        run = part.shard.run if hasattr(part, "shard") else None
        self.cfg = settings(run.config if run is not None else {})
        self.data_dir = run.data_dir if run is not None else "."
        self.http_url = (run.endpoints.get("http") if run is not None else None) or "http://localhost:4566"
        self.namespaces = Namespaces(part.store)
        self.mailbox = mbox.Mailbox(part, self.cfg["mailbox_max"])
        self.publisher = Publisher(part)

    def close(self) -> None:
        self.mailbox.close()

    def now_ms(self) -> int:
        return self.part.now_ms()

    def _ns(self, args):
        return self.namespaces.get(args["a"], args["r"])

    # -- API --------------------------------------------------------------------------
    def op_Handle(self, args):
        table = OPS_V2 if args.get("v") == 2 else OPS_V1
        fn = table.get(args["op"])
        if fn is None:
            raise NotImplementedOperation(f"SES {'v2 ' if args.get('v') == 2 else ''}{args['op']} is not "
                                          f"implemented.")
        return fn(self, self._ns(args), args.get("params") or {})

    def op_Send(self, args):
        return sending.send(self, self._ns(args), args)

    def op_SendBulk(self, args):
        return sending.send_bulk(self, self._ns(args), args)

    def op_SendBounce(self, args):
        ns = self._ns(args)
        p = args["params"]
        original = self.mailbox.records.get(p["OriginalMessageId"])
        to = original["source"] if original else None
        if not to:
            raise err("MessageRejected", f"Original message {p['OriginalMessageId']} not found.")
        raw = system_mail.bounce_message(p["BounceSender"], to, p.get("Explanation"),
                                         p.get("BouncedRecipientInfoList") or [], p["OriginalMessageId"])
        return {"MessageId": self.store_system_mail(ns, mime_from=p["BounceSender"], to=to, raw=raw,
                                                    kind="bounce")}

    def op_StoreMail(self, args):
        """A plain-text mail another service sends (services/ses/notify.py)."""
        from services.ses import mime
        ns = self._ns(args)
        raw, _ = mime.build_message([("From", args["from"]), ("To", args["to"])], args["subject"], args["text"],
                                    None, date=True)
        return {"MessageId": self.store_system_mail(ns, mime_from=None, to=args["to"], raw=raw, kind="sns")}

    # -- inbound ----------------------------------------------------------------------
    def op_InboundCheck(self, args):
        return {"reply": receiving.check_recipient(self._ns(args), args["rcpt"], bool(args.get("tls")),
                                                   args.get("ip"))}

    def op_Receive(self, args):
        return receiving.receive(self, self._ns(args), args)

    async def invoke_lambda(self, function_arn: str, event: dict) -> str | None:
        from services.ses.publish import invoke_sync
        return await invoke_sync(self.part.shard, function_arn, event, "arn:aws:ses:::receipt-rule")

    # -- verification -------------------------------------------------------------------
    def op_Verify(self, args):
        ns = self._ns(args)
        rec = ops_identities.find(ns, args["identity"])
        if rec is None or (args.get("secret") is not None and args["secret"] != rec["secret"]):
            return {"verified": False}
        if rec["status"] != "Success":
            rec["status"] = "Success"
            ns.put("ses.identity", rec["name"].lower(), rec)
        return {"verified": True, "identity": rec["name"]}

    def send_verification_mail(self, ns, rec: dict, template: dict | None = None, force: bool = False):
        if rec["status"] == "Success" and not force:
            return None
        from urllib.parse import quote
        link = (f"{self.http_url}/_ses/verify?account={ns.account}&region={ns.region}"
                f"&identity={quote(rec['name'])}&token={rec['secret']}")
        raw, sender, _subject = system_mail.verification(ns.region, rec["name"], link, template)
        return self.store_system_mail(ns, mime_from=sender, to=rec["name"], raw=raw, kind="verification")

    def store_system_mail(self, ns, *, mime_from: str | None, to: str, raw: bytes, kind: str) -> str:
        """A mail SES writes itself (verification, bounce, complaint, auto-reply) into the mailbox."""
        from services.ses import mime
        now = self.now_ms()
        mid = ses_message_id(now)
        hmap = mime.header_map(mime.read_headers(raw))
        mid_header = mime.message_id_header(mid, ns.region)
        raw = mime.set_headers(raw, ("message-id",), [("Message-ID", mid_header)])
        frm = [mime.decode_value(v) for v in hmap.get("from", [])]
        self.mailbox.add({"id": mid, "ns": ns.key, "account": ns.account, "region": ns.region, "ts": now,
                          "direction": kind, "op": kind, "source": mime_from or (frm[0] if frm else ""),
                          "from": frm, "to": [to], "cc": [], "bcc": [], "destination": [to],
                          "subject": mime.decode_value(hmap["subject"][0]) if "subject" in hmap else None,
                          "mid_header": mid_header}, raw)
        return mid

    def relay(self, a, delivered: list[str], raw: bytes) -> None:
        url = self.cfg["relay_url"]
        allow = self.cfg["relay_allowlist"]
        if not url or not allow or not delivered:
            return
        rcpts = [r for r in delivered if r.lower() in allow or "@" + r.lower().rpartition("@")[2] in allow]
        if rcpts:
            from services.ses.addresses import addr_spec
            self.publisher.relay(url, addr_spec(a["source"]), rcpts, raw)

    # -- mailbox admin --------------------------------------------------------------------
    def op_MailList(self, args):
        q = args.get("q") or {}
        out = [mailview.summary(r) for r in self.mailbox.find(q)]
        if args.get("localstack"):
            out = [mailview.localstack(r, self.mailbox.raw(r["id"])) for r in self.mailbox.find(q)]
        return out

    def op_MailGet(self, args):
        rec = self.mailbox.records.get(args["id"])
        if rec is None:
            return None
        raw = self.mailbox.raw(args["id"])
        if args.get("raw"):
            return {"raw": raw}
        return mailview.parsed(rec, raw or b"")

    def op_MailDelete(self, args):
        if args.get("id"):
            return 1 if self.mailbox.delete(args["id"]) else 0
        ids = [r["id"] for r in self.mailbox.find(args.get("q") or {})]
        for i in ids:
            self.mailbox.delete(i)
        return len(ids)

    def op_MailWait(self, args):
        """Wait (up to args["timeout"] s) for the first mail matching args["q"] in any partition of this shard."""
        async def run():
            rec = await mbox.wait(args.get("q") or {}, float(args.get("timeout", 0)), args["wait_id"])
            return mailview.summary(rec) if rec else None
        return run()

    def op_MailCancelWait(self, args):
        return mbox.cancel(args["wait_id"])
