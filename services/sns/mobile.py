"""Shard-side state for mobile push and SMS: platform applications and their
endpoints (each endpoint lives with its application), and per-account SMS
settings, opt-outs and sandbox numbers. Deliveries to endpoints and phone
numbers are recorded (services/sns/records.py)."""

from __future__ import annotations

import secrets

from broker.core.ids import uuid4
from services.sns.errors import application_not_found, endpoint_not_found, err, invalid

KIND_APP = "sns.app"
KIND_ENDPOINT = "sns.ep"
KIND_ACCOUNT = "sns.acct"
HIDDEN_APP_ATTRS = frozenset({"PlatformCredential", "PlatformPrincipal"})
DEFAULT_SMS_ATTRS = {"MonthlySpendLimit": "1"}


def _ep_key(app_key: str, eid: str) -> str:
    return f"{app_key}\x00{eid}"


class MobileMixin:
    """Ops of SnsShard for platform applications, endpoints and SMS."""

    def init_mobile(self) -> None:
        self.endpoint_tokens: dict[tuple[str, str], str] = {}    # (app key, device token) -> endpoint id
        for key, rec in self.store.scan(KIND_ENDPOINT):
            app, eid = key.split("\x00", 1)
            self.endpoint_tokens[(app, rec["attrs"]["Token"])] = eid

    # -- applications ------------------------------------------------------------------
    def _app(self, key: str) -> dict:
        app = self.store.get(KIND_APP, key)
        if app is None:
            raise application_not_found()
        return app

    @staticmethod
    def _app_arn(app: dict) -> str:
        return f"arn:aws:sns:{app['r']}:{app['acct']}:app/{app['platform']}/{app['name']}"

    @staticmethod
    def _visible(attrs: dict) -> dict:
        return {"Enabled": "true", **{k: v for k, v in attrs.items() if k not in HIDDEN_APP_ATTRS}}

    def op_CreatePlatformApplication(self, a):
        app = self.store.get(KIND_APP, a["k"]) or {"name": a["name"], "platform": a["platform"],
                                                   "acct": a["account"], "r": a["region"], "attrs": {}}
        app["platform"] = a["platform"]
        app["attrs"] = {**app["attrs"], **a["attrs"]}
        self.store.put(KIND_APP, a["k"], app)
        return self._app_arn(app)

    def op_GetPlatformApplicationAttributes(self, a):
        return self._visible(self._app(a["k"])["attrs"])

    def op_SetPlatformApplicationAttributes(self, a):
        app = self._app(a["k"])
        app["attrs"] = {**app["attrs"], **a["attrs"]}
        self.store.put(KIND_APP, a["k"], app)
        return {}

    def op_DeletePlatformApplication(self, a):
        if self.store.get(KIND_APP, a["k"]) is None:
            return {}
        for key, rec in list(self.store.scan(KIND_ENDPOINT, a["k"] + "\x00")):
            self.endpoint_tokens.pop((a["k"], rec["attrs"]["Token"]), None)
            self.store.delete(KIND_ENDPOINT, key)
        self.store.delete(KIND_APP, a["k"])
        return {}

    def op_ListPlatformApplications(self, a):
        """Broadcast: this partition's applications in a namespace."""
        return [{"PlatformApplicationArn": self._app_arn(app), "Attributes": self._visible(app["attrs"])}
                for _k, app in self.store.scan(KIND_APP)
                if app["acct"] == a["account"] and app["r"] == a["region"]]

    # -- endpoints -----------------------------------------------------------------------
    def _endpoint_arn(self, app: dict, eid: str) -> str:
        return f"arn:aws:sns:{app['r']}:{app['acct']}:endpoint/{app['platform']}/{app['name']}/{eid}"

    def _endpoint(self, a) -> tuple[dict, dict]:
        app = self.store.get(KIND_APP, a["k"])
        ep = self.store.get(KIND_ENDPOINT, _ep_key(a["k"], a["eid"])) if app is not None else None
        if ep is None:
            raise endpoint_not_found()
        return app, ep

    def op_CreatePlatformEndpoint(self, a):
        app = self._app(a["k"])
        attrs = {"Enabled": "true", **a["attrs"], "Token": a["token"]}
        eid = self.endpoint_tokens.get((a["k"], a["token"]))
        if eid is not None:
            ep = self.store.get(KIND_ENDPOINT, _ep_key(a["k"], eid))
            if ep["attrs"] != attrs:
                raise invalid(f"Token Reason: Endpoint {self._endpoint_arn(app, eid)} already exists with the "
                              f"same Token, but different attributes.")
            return self._endpoint_arn(app, eid)
        eid = uuid4()
        self.store.put(KIND_ENDPOINT, _ep_key(a["k"], eid), {"id": eid, "attrs": attrs})
        self.endpoint_tokens[(a["k"], a["token"])] = eid
        return self._endpoint_arn(app, eid)

    def op_GetEndpointAttributes(self, a):
        return dict(self._endpoint(a)[1]["attrs"])

    def op_SetEndpointAttributes(self, a):
        _app, ep = self._endpoint(a)
        old = ep["attrs"]["Token"]
        ep["attrs"] = {**ep["attrs"], **a["attrs"]}
        if ep["attrs"]["Token"] != old:
            self.endpoint_tokens.pop((a["k"], old), None)
            self.endpoint_tokens[(a["k"], ep["attrs"]["Token"])] = a["eid"]
        self.store.put(KIND_ENDPOINT, _ep_key(a["k"], a["eid"]), ep)
        return {}

    def op_DeleteEndpoint(self, a):
        key = _ep_key(a["k"], a["eid"])
        ep = self.store.get(KIND_ENDPOINT, key)
        if ep is not None:
            self.endpoint_tokens.pop((a["k"], ep["attrs"]["Token"]), None)
            self.store.delete(KIND_ENDPOINT, key)
        return {}

    def op_ListEndpointsByPlatformApplication(self, a):
        app = self._app(a["k"])
        return [{"EndpointArn": self._endpoint_arn(app, ep["id"]), "Attributes": dict(ep["attrs"])}
                for _k, ep in self.store.scan(KIND_ENDPOINT, a["k"] + "\x00")]

    def op_PushToEndpoint(self, a):
        """Deliver (record) one push notification to an endpoint of this partition."""
        app = self.store.get(KIND_APP, a["k"])
        ep = self.store.get(KIND_ENDPOINT, _ep_key(a["k"], a["eid"])) if app is not None else None
        if ep is None:
            raise invalid("TargetArn Reason: No endpoint found for the target arn specified")
        if ep["attrs"].get("Enabled") != "true":
            raise err("EndpointDisabled", "Endpoint is disabled")
        self.records.add("push", app["acct"], app["r"], a["doc"])
        return {}

    # -- SMS ---------------------------------------------------------------------------------
    def _account(self, key: str) -> dict:
        return self.store.get(KIND_ACCOUNT, key) or {"attrs": {}, "optout": [], "sandbox": {}}

    def _save_account(self, key: str, acct: dict) -> None:
        self.store.put(KIND_ACCOUNT, key, acct)

    def op_GetSMSAttributes(self, a):
        attrs = {**DEFAULT_SMS_ATTRS, **self._account(a["k"])["attrs"]}
        names = a.get("names")
        return {k: v for k, v in attrs.items() if not names or k in names}

    def op_SetSMSAttributes(self, a):
        acct = self._account(a["k"])
        acct["attrs"] = {**acct["attrs"], **a["attrs"]}
        self._save_account(a["k"], acct)
        return {}

    def op_CheckIfPhoneNumberIsOptedOut(self, a):
        return a["number"] in self._account(a["k"])["optout"]

    def op_ListPhoneNumbersOptedOut(self, a):
        return list(self._account(a["k"])["optout"])

    def op_SetOptOut(self, a):
        """OptInPhoneNumber (out=False), or the admin opt-out endpoint (out=True)."""
        acct = self._account(a["k"])
        numbers = [n for n in acct["optout"] if n != a["number"]]
        if a.get("out"):
            numbers.append(a["number"])
        acct["optout"] = numbers
        self._save_account(a["k"], acct)
        return {}

    def op_SendSms(self, a):
        """Publish to a phone number: recorded unless the number opted out."""
        if a["doc"]["PhoneNumber"] not in self._account(a["k"])["optout"]:
            self.records.add("sms", a["account"], a["region"], a["doc"])
        return {}

    def op_CreateSMSSandboxPhoneNumber(self, a):
        acct = self._account(a["k"])
        otp = f"{secrets.randbelow(10 ** 6):06d}"
        acct["sandbox"][a["number"]] = {"status": "Pending", "otp": otp, "lang": a.get("lang") or "en-US"}
        self._save_account(a["k"], acct)
        # the one-time password is "sent" by SMS: readable through the admin API
        self.records.add("sms", a["account"], a["region"], {
            "PhoneNumber": a["number"], "TopicArn": None, "SubscriptionArn": None, "MessageId": uuid4(),
            "Message": f"Your Amazon SNS verification code is {otp}", "MessageAttributes": {},
            "MessageStructure": None, "Subject": None})
        return {}

    def op_VerifySMSSandboxPhoneNumber(self, a):
        acct = self._account(a["k"])
        entry = acct["sandbox"].get(a["number"])
        if entry is None:
            raise err("ResourceNotFound", "Phone number does not exist in the sandbox", 404)
        if entry["otp"] != a["otp"]:
            raise err("VerificationException", "Invalid one-time password.")
        entry["status"] = "Verified"
        self._save_account(a["k"], acct)
        return {}

    def op_DeleteSMSSandboxPhoneNumber(self, a):
        acct = self._account(a["k"])
        if acct["sandbox"].pop(a["number"], None) is None:
            raise err("ResourceNotFound", "Phone number does not exist in the sandbox", 404)
        self._save_account(a["k"], acct)
        return {}

    def op_ListSMSSandboxPhoneNumbers(self, a):
        return [{"PhoneNumber": n, "Status": e["status"]} for n, e in self._account(a["k"])["sandbox"].items()]
