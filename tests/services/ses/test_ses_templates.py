"""SES templates: CRUD, SES's Handlebars (if/else, each, dotted paths, escaping),
TestRenderTemplate, and templated sends as they land in the mailbox."""

from __future__ import annotations

import json
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.services.ses._helpers import error_of


@pytest.fixture
def tname(ses):
    made = []

    def make(prefix="t"):
        n = f"{prefix}-{uuid.uuid4().hex[:10]}"
        made.append(n)
        return n
    yield make
    for n in made:
        ses.delete_template(TemplateName=n)


def test_template_lifecycle(ses, tname):
    name = tname()
    ses.create_template(Template={"TemplateName": name, "SubjectPart": "Hi {{name}}", "TextPart": "Dear {{name}}",
                                  "HtmlPart": "<p>{{name}}</p>"})
    with pytest.raises(ClientError) as e:
        ses.create_template(Template={"TemplateName": name, "SubjectPart": "x"})
    assert error_of(e) == ("AlreadyExists", f"Template {name} already exists.")
    got = ses.get_template(TemplateName=name)["Template"]
    assert got == {"TemplateName": name, "SubjectPart": "Hi {{name}}", "TextPart": "Dear {{name}}",
                   "HtmlPart": "<p>{{name}}</p>"}
    listed = [t for t in ses.list_templates(MaxItems=100)["TemplatesMetadata"] if t["Name"] == name]
    assert len(listed) == 1 and listed[0]["CreatedTimestamp"]
    ses.update_template(Template={"TemplateName": name, "SubjectPart": "Bye {{name}}"})
    assert ses.get_template(TemplateName=name)["Template"] == {"TemplateName": name, "SubjectPart": "Bye {{name}}"}
    ses.delete_template(TemplateName=name)
    ses.delete_template(TemplateName=name)                       # deleting twice is fine, as at AWS
    with pytest.raises(ClientError) as e:
        ses.get_template(TemplateName=name)
    assert error_of(e) == ("TemplateDoesNotExist", f"Template {name} does not exist.")
    with pytest.raises(ClientError) as e:
        ses.update_template(Template={"TemplateName": name, "SubjectPart": "x"})
    assert error_of(e)[0] == "TemplateDoesNotExist"


def test_render_handlebars(ses, tname):
    name = tname()
    ses.create_template(Template={
        "TemplateName": name, "SubjectPart": "Order {{order.id}} for {{name}}",
        "TextPart": "{{#each items}}{{@index}}:{{name}} is {{#if best}}the best{{else}}a {{type}}{{/if}}; {{/each}}"
                    "{{#unless vip}}regular{{/unless}}",
        "HtmlPart": "<p>{{name}}</p><p>{{{raw}}}</p>"})
    data = {"name": "A&B <x>", "order": {"id": 42}, "raw": "<b>bold</b>", "vip": False,
            "items": [{"type": "dog", "name": "bobby", "best": True}, {"type": "cat", "name": "pedro", "best": False}]}
    out = ses.test_render_template(TemplateName=name, TemplateData=json.dumps(data))["RenderedTemplate"]
    assert "Subject: Order 42 for A&amp;B &lt;x&gt;" in out
    assert "0:bobby is the best; 1:pedro is a cat; regular" in out
    assert "<p>A&amp;B &lt;x&gt;</p><p><b>bold</b></p>" in out
    assert "MIME-Version: 1.0" in out and "multipart/alternative" in out


def test_render_errors(ses, tname):
    name = tname()
    ses.create_template(Template={"TemplateName": name, "SubjectPart": "Hi {{name}}",
                                  "TextPart": "{{#if extra}}{{extra}}{{/if}} Your animal is {{favoriteanimal}}."})
    with pytest.raises(ClientError) as e:
        ses.test_render_template(TemplateName=name, TemplateData=json.dumps({"name": "John"}))
    assert error_of(e) == ("MissingRenderingAttribute",
                           "Attribute 'favoriteanimal' is not present in the rendering data.")
    with pytest.raises(ClientError) as e:
        ses.test_render_template(TemplateName=name, TemplateData="{not json")
    assert error_of(e)[0] == "InvalidRenderingParameter"
    with pytest.raises(ClientError) as e:
        ses.test_render_template(TemplateName=f"{name}-missing", TemplateData="{}")
    assert error_of(e) == ("TemplateDoesNotExist", f"Template {name}-missing does not exist.")
    # attributes inside blocks may be absent
    out = ses.test_render_template(TemplateName=name, TemplateData=json.dumps({"name": "J", "favoriteanimal": "cat"}))
    assert "Your animal is cat." in out["RenderedTemplate"]


def test_invalid_template_is_refused(ses, tname):
    with pytest.raises(ClientError) as e:
        ses.create_template(Template={"TemplateName": tname(), "SubjectPart": "{{#if x}}never closed"})
    assert error_of(e)[0] == "InvalidTemplate"


def test_templated_send_lands_rendered(ses, sender, tname, mailbox, domain):
    name = tname()
    ses.create_template(Template={"TemplateName": name, "SubjectPart": "Welcome {{user.first}}",
                                  "TextPart": "Hello {{user.first}}, code {{code}}."})
    mid = ses.send_templated_email(Source=sender, Destination={"ToAddresses": [f"rcpt@{domain}"]},
                                   Template=name,
                                   TemplateData=json.dumps({"user": {"first": "Ann"}, "code": "X1"}))["MessageId"]
    (m,) = mailbox.list(id=mid)
    assert m["subject"] == "Welcome Ann" and m["template"] == name and m["operation"] == "SendTemplatedEmail"
    assert "Hello Ann, code X1." in mailbox.get(mid)["text"]
    # a missing attribute is a rendering failure after the send: accepted, never delivered
    bad = ses.send_templated_email(Source=sender, Destination={"ToAddresses": [f"rcpt@{domain}"]}, Template=name,
                                   TemplateData=json.dumps({"user": {"first": "Ann"}}))["MessageId"]
    assert bad and mailbox.list(id=bad) == []
    with pytest.raises(ClientError) as e:
        ses.send_templated_email(Source=sender, Destination={"ToAddresses": [f"rcpt@{domain}"]},
                                 Template=f"{name}-nope", TemplateData="{}")
    assert error_of(e) == ("TemplateDoesNotExist", f"Template {name}-nope does not exist.")


def test_bulk_templated(ses, sender, tname, mailbox, domain):
    name = tname()
    ses.create_template(Template={"TemplateName": name, "SubjectPart": "Hi {{name}}", "TextPart": "{{greeting}}"})
    out = ses.send_bulk_templated_email(
        Source=sender, Template=name, DefaultTemplateData=json.dumps({"name": "all", "greeting": "hello"}),
        Destinations=[{"Destination": {"ToAddresses": [f"one@{domain}"]},
                       "ReplacementTemplateData": json.dumps({"name": "one"})},
                      {"Destination": {"ToAddresses": [f"two@{domain}"]}}])["Status"]
    assert [s["Status"] for s in out] == ["Success", "Success"]
    subjects = {mailbox.list(id=s["MessageId"])[0]["subject"] for s in out}
    assert subjects == {"Hi one", "Hi all"}
    with pytest.raises(ClientError) as e:
        ses.send_bulk_templated_email(Source=sender, Template=name, DefaultTemplateData="{}",
                                      Destinations=[{"Destination": {"ToAddresses": [f"x{i}@{domain}"]}}
                                                    for i in range(51)])
    assert error_of(e) == ("MessageRejected", "Too many destinations.")
