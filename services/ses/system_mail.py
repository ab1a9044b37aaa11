"""Mails SES writes itself: verification requests, bounce notices (DSN),
complaint feedback, out-of-office replies. They land in the mailbox so a
test can read the verification link or the bounce the sender would get."""

from __future__ import annotations

from services.ses import mime

REGION_NAMES = {
    "us-east-1": "US East (N. Virginia)", "us-east-2": "US East (Ohio)", "us-west-1": "US West (N. California)",
    "us-west-2": "US West (Oregon)", "eu-west-1": "Europe (Ireland)", "eu-west-2": "Europe (London)",
    "eu-west-3": "Europe (Paris)", "eu-central-1": "Europe (Frankfurt)", "eu-north-1": "Europe (Stockholm)",
    "eu-south-1": "Europe (Milan)", "ap-south-1": "Asia Pacific (Mumbai)",
    "ap-northeast-1": "Asia Pacific (Tokyo)", "ap-northeast-2": "Asia Pacific (Seoul)",
    "ap-northeast-3": "Asia Pacific (Osaka)", "ap-southeast-1": "Asia Pacific (Singapore)",
    "ap-southeast-2": "Asia Pacific (Sydney)", "ca-central-1": "Canada (Central)",
    "sa-east-1": "South America (Sao Paulo)", "me-south-1": "Middle East (Bahrain)",
    "af-south-1": "Africa (Cape Town)",
}
VERIFY_FROM = "no-reply-aws@amazon.com"
MAILER_DAEMON = "MAILER-DAEMON@amazonses.com"
COMPLAINTS_FROM = "complaints@email-abuse.amazonses.com"


def verification(region: str, address: str, link: str, template: dict | None = None) -> tuple[bytes, str, str]:
    """(raw, sender, subject) of the verification request for `address`."""
    if template is not None:
        sender = template.get("FromEmailAddress", VERIFY_FROM)
        subject = template.get("TemplateSubject", "")
        html = (template.get("TemplateContent") or "") + f'\n<p><a href="{link}">{link}</a></p>\n'
        raw, _ = mime.build_message([("From", sender), ("To", address)], subject, None, html, date=True)
        return raw, sender, subject
    name = REGION_NAMES.get(region, region)
    subject = f"Amazon Web Services \u2013 Email Address Verification Request in region {name}"
    text = (f"Dear Amazon Web Services Customer,\n\n"
            f"We have received a request to authorize this email address for use with Amazon SES and Amazon "
            f"Pinpoint in region {name}. If you requested this verification, please go to the following URL "
            f"to confirm that you are authorized to use this email address:\n\n{link}\n\n"
            f"Your request will not be processed unless you confirm the address using this URL. This link "
            f"expires 24 hours after your original verification request.\n\n"
            f"If you did NOT request to verify this email address, do not click on the link.\n\n"
            f"Sincerely,\n\nThe Amazon Web Services Team\n")
    raw, _ = mime.build_message([("From", f"Amazon Web Services <{VERIFY_FROM}>"), ("To", address)], subject,
                                text, None, date=True)
    return raw, VERIFY_FROM, subject


def bounce_notice(to: str, original_subject: str | None, bounced: list[dict], message_id: str) -> bytes:
    lines = [f"{b['emailAddress']}\n    {b.get('diagnosticCode', '')}" for b in bounced]
    text = ("An error occurred while trying to deliver the mail to the following recipients:\n"
            + "\n".join(lines) + f"\n\nOriginal message id: {message_id}\n")
    raw, _ = mime.build_message([("From", MAILER_DAEMON), ("To", to)],
                                f"Delivery Status Notification (Failure)"
                                + (f": {original_subject}" if original_subject else ""), text, None, date=True)
    return raw


def complaint_notice(to: str, complainants: list[str], message_id: str) -> bytes:
    text = ("This is an email abuse report for an email message received from the mailbox simulator.\n"
            + "\n".join(complainants) + f"\n\nOriginal message id: {message_id}\n")
    raw, _ = mime.build_message([("From", COMPLAINTS_FROM), ("To", to)], "Complaint about message", text, None,
                                date=True)
    return raw


def out_of_office(frm: str, to: str, original_subject: str | None) -> bytes:
    raw, _ = mime.build_message([("From", frm), ("To", to), ("Auto-Submitted", "auto-replied")],
                                "Out of the Office" + (f": {original_subject}" if original_subject else ""),
                                "I am out of the office and will reply when I am back.\n", None, date=True)
    return raw


def bounce_message(sender: str, to: str, explanation: str | None, recipients: list[dict],
                   original_id: str) -> bytes:
    """SendBounce's message to the original sender."""
    lines = [f"{r.get('Recipient')}: {r.get('BounceType') or 'DoesNotExist'}" for r in recipients]
    text = ((explanation + "\n\n" if explanation else "") + "\n".join(lines)
            + f"\n\nOriginal message id: {original_id}\n")
    raw, _ = mime.build_message([("From", sender), ("To", to)], "Delivery Status Notification (Failure)", text,
                                None, date=True)
    return raw
