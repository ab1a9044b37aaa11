"""SNS gateway operations for mobile push (platform applications and
endpoints) and SMS (account settings, opt-outs, sandbox numbers, publishing
to a phone number). What they are given is stored; what they would send is
recorded and listable through the admin API."""

from __future__ import annotations

import re

from broker.core.ids import uuid4
from services.sns import publishing
from services.sns.arns import account_key, app_key, parse_application, parse_endpoint
from services.sns.envelope import record_attributes, text_for
from services.sns.errors import invalid, invalid_raw
from services.sns.paging import page

PLATFORMS = ("ADM", "APNS", "APNS_SANDBOX", "APNS_VOIP", "APNS_VOIP_SANDBOX", "BAIDU", "GCM", "MACOS",
             "MACOS_SANDBOX", "MPNS", "WNS")
ENDPOINT_ATTRS = ("CustomUserData", "Enabled", "Token")
SMS_ATTRS = ("MonthlySpendLimit", "DeliveryStatusIAMRole", "DeliveryStatusSuccessSamplingRate", "DefaultSenderID",
             "DefaultSMSType", "UsageReportS3Bucket")
_APP_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_E164 = re.compile(r"^\+?\d{1,15}$")
_SENDER_ID = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9]{1,11}$")


def _check_phone(number: str, reason: str) -> None:
    if not _E164.match(number or ""):
        raise invalid(f"PhoneNumber Reason: {reason}")


def _check_endpoint_attrs(attrs: dict) -> dict:
    for name, value in attrs.items():
        if name not in ENDPOINT_ATTRS:
            raise invalid(f"Attributes Reason: Invalid attribute name: {name}")
        if name == "CustomUserData" and len((value or "").encode()) > 2048:
            raise invalid("Attributes Reason: Invalid value for attribute: CustomUserData: must be at most 2048 "
                          "bytes long in UTF-8 encoding")
        if name == "Enabled" and (value or "").lower() not in ("true", "false"):
            raise invalid("Attributes Reason: Invalid value for attribute: Enabled: must be true or false")
    return {k: (v.lower() if k == "Enabled" else v) for k, v in attrs.items()}


class MobileApi:
    """Operations of SnsApi for platform applications, endpoints and SMS."""

    # -- platform applications ------------------------------------------------------------
    async def create_platform_application(self, ctx, p):
        name, platform, attrs = p["Name"], p["Platform"], dict(p["Attributes"])
        if not name:
            raise invalid(f"{name} Reason: cannot be empty")
        if len(name) > 256:
            raise invalid(f"{name} Reason: must be at most 256 characters long")
        if not _APP_NAME.match(name):
            raise invalid(f"{name} Reason: must contain only characters 'a'-'z', 'A'-'Z', '0'-'9', '_', '-', and '.'")
        if platform not in PLATFORMS:
            raise invalid(f"Platform Reason: {platform} is not supported")
        if "PlatformPrincipal" in attrs and "PlatformCredential" not in attrs:
            raise invalid("Attributes Reason: PlatformPrincipal attribute provided without PlatformCredential")
        if "PlatformCredential" in attrs and "PlatformPrincipal" not in attrs and platform.startswith("APNS"):
            raise invalid("Attributes Reason: PlatformCredential attribute provided without PlatformPrincipal")
        key = app_key(ctx.region, ctx.account_id, name)
        arn = await self._call(ctx, key, "sns.CreatePlatformApplication", {
            "name": name, "platform": platform, "account": ctx.account_id, "region": ctx.region, "attrs": attrs})
        return {"PlatformApplicationArn": arn}

    async def get_platform_application_attributes(self, ctx, p):
        key = parse_application(p["PlatformApplicationArn"])[4]
        return {"Attributes": await self._call(ctx, key, "sns.GetPlatformApplicationAttributes", {})}

    async def set_platform_application_attributes(self, ctx, p):
        key = parse_application(p["PlatformApplicationArn"])[4]
        await self._call(ctx, key, "sns.SetPlatformApplicationAttributes", {"attrs": dict(p["Attributes"])})
        return {}

    async def delete_platform_application(self, ctx, p):
        key = parse_application(p["PlatformApplicationArn"])[4]
        await self._call(ctx, key, "sns.DeletePlatformApplication", {})
        return {}

    async def list_platform_applications(self, ctx, p):
        results = await ctx.cluster.call_all("sns.ListPlatformApplications",
                                             {"account": ctx.account_id, "region": ctx.region})
        apps = sorted((a for _p, part in results for a in part), key=lambda a: a["PlatformApplicationArn"])
        return page(apps, p.get("NextToken"), "PlatformApplications")

    # -- endpoints -------------------------------------------------------------------------
    async def create_platform_endpoint(self, ctx, p):
        key = parse_application(p["PlatformApplicationArn"])[4]
        attrs = _check_endpoint_attrs(dict(p.get("Attributes") or {}))
        if p.get("CustomUserData") is not None:
            attrs["CustomUserData"] = p["CustomUserData"]
            _check_endpoint_attrs({"CustomUserData": p["CustomUserData"]})
        arn = await self._call(ctx, key, "sns.CreatePlatformEndpoint", {"token": p["Token"], "attrs": attrs})
        return {"EndpointArn": arn}

    async def get_endpoint_attributes(self, ctx, p):
        key, eid, _r, _a = parse_endpoint(p["EndpointArn"])
        return {"Attributes": await self._call(ctx, key, "sns.GetEndpointAttributes", {"eid": eid})}

    async def set_endpoint_attributes(self, ctx, p):
        key, eid, _r, _a = parse_endpoint(p["EndpointArn"])
        attrs = _check_endpoint_attrs(dict(p["Attributes"]))
        await self._call(ctx, key, "sns.SetEndpointAttributes", {"eid": eid, "attrs": attrs})
        return {}

    async def delete_endpoint(self, ctx, p):
        key, eid, _r, _a = parse_endpoint(p["EndpointArn"])
        await self._call(ctx, key, "sns.DeleteEndpoint", {"eid": eid})
        return {}

    async def list_endpoints_by_platform_application(self, ctx, p):
        key = parse_application(p["PlatformApplicationArn"])[4]
        endpoints = await self._call(ctx, key, "sns.ListEndpointsByPlatformApplication", {})
        return page(endpoints, p.get("NextToken"), "Endpoints")

    async def publish_push(self, ctx, p, arn: str):
        key, eid, _r, _a = parse_endpoint(arn, "TargetArn")
        platform = arn.split(":", 5)[5].split("/")[1]
        structure = p.get("MessageStructure")
        entry = publishing.entry(p, platform=platform)
        msg_id = uuid4()
        doc = {"TargetArn": arn, "TopicArn": None, "SubscriptionArn": None, "MessageId": msg_id,
               "Message": text_for({"m": entry["m"], "st": entry["st"]}, platform),
               "MessageAttributes": record_attributes(entry["a"]), "MessageStructure": structure,
               "Subject": entry["sj"]}
        await self._call(ctx, key, "sns.PushToEndpoint", {"eid": eid, "doc": doc})
        return {"MessageId": msg_id}

    # -- SMS -------------------------------------------------------------------------------------
    async def publish_sms(self, ctx, p):
        number = p["PhoneNumber"]
        _check_phone(number, f"{number} is not valid to publish to")
        entry = publishing.entry(p)
        msg_id = uuid4()
        doc = {"PhoneNumber": number, "TopicArn": None, "SubscriptionArn": None, "MessageId": msg_id,
               "Message": text_for({"m": entry["m"], "st": entry["st"]}, "sms"),
               "MessageAttributes": record_attributes(entry["a"]), "MessageStructure": p.get("MessageStructure"),
               "Subject": entry["sj"]}
        await self._call(ctx, account_key(ctx.region, ctx.account_id), "sns.SendSms",
                         {"doc": doc, "account": ctx.account_id, "region": ctx.region})
        return {"MessageId": msg_id}

    async def get_sms_attributes(self, ctx, p):
        attrs = await self._call(ctx, account_key(ctx.region, ctx.account_id), "sns.GetSMSAttributes",
                                 {"names": list(p.get("attributes") or [])})
        return {"attributes": attrs}

    async def set_sms_attributes(self, ctx, p):
        attrs = dict(p["attributes"])
        for name, value in attrs.items():
            if name not in SMS_ATTRS:
                raise invalid_raw(f"{name} is not a valid attribute")
            if name == "DefaultSenderID" and not _SENDER_ID.match(value or ""):
                raise invalid_raw("DefaultSendID is not a valid attribute")
            if name == "DefaultSMSType" and value not in ("Promotional", "Transactional"):
                raise invalid_raw("DefaultSMSType is invalid")
        await self._call(ctx, account_key(ctx.region, ctx.account_id), "sns.SetSMSAttributes", {"attrs": attrs})
        return {}

    async def check_if_phone_number_is_opted_out(self, ctx, p):
        _check_phone(p["phoneNumber"], "input incorrectly formatted")
        out = await self._call(ctx, account_key(ctx.region, ctx.account_id), "sns.CheckIfPhoneNumberIsOptedOut",
                               {"number": p["phoneNumber"]})
        return {"isOptedOut": out}

    async def list_phone_numbers_opted_out(self, ctx, p):
        numbers = await self._call(ctx, account_key(ctx.region, ctx.account_id), "sns.ListPhoneNumbersOptedOut", {})
        out = page(numbers, p.get("nextToken"), "phoneNumbers")
        if "NextToken" in out:
            out["nextToken"] = out.pop("NextToken")
        return out

    async def opt_in_phone_number(self, ctx, p):
        _check_phone(p["phoneNumber"], "input incorrectly formatted")
        await self._call(ctx, account_key(ctx.region, ctx.account_id), "sns.SetOptOut",
                         {"number": p["phoneNumber"], "out": False})
        return {}

    async def create_sms_sandbox_phone_number(self, ctx, p):
        _check_phone(p["PhoneNumber"], "input incorrectly formatted")
        await self._call(ctx, account_key(ctx.region, ctx.account_id), "sns.CreateSMSSandboxPhoneNumber", {
            "number": p["PhoneNumber"], "lang": p.get("LanguageCode"), "account": ctx.account_id,
            "region": ctx.region})
        return {}

    async def verify_sms_sandbox_phone_number(self, ctx, p):
        await self._call(ctx, account_key(ctx.region, ctx.account_id), "sns.VerifySMSSandboxPhoneNumber",
                         {"number": p["PhoneNumber"], "otp": p["OneTimePassword"]})
        return {}

    async def delete_sms_sandbox_phone_number(self, ctx, p):
        await self._call(ctx, account_key(ctx.region, ctx.account_id), "sns.DeleteSMSSandboxPhoneNumber",
                         {"number": p["PhoneNumber"]})
        return {}

    async def list_sms_sandbox_phone_numbers(self, ctx, p):
        numbers = await self._call(ctx, account_key(ctx.region, ctx.account_id), "sns.ListSMSSandboxPhoneNumbers",
                                   {})
        return page(numbers, p.get("NextToken"), "PhoneNumbers", p.get("MaxResults") or 100)

    async def get_sms_sandbox_account_status(self, ctx, p):
        return {"IsInSandbox": False}

    async def list_origination_numbers(self, ctx, p):
        return {"PhoneNumbers": []}
