"""Pure parts of SES, without a server: address parsing (against the stdlib's),
MIME header reading and rewriting, template references, the simulator."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.utils import getaddresses, parseaddr

from hypothesis import given
from hypothesis import strategies as st

from services.ses import addresses, mime, templates

_local = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._+-", min_size=1, max_size=12).filter(
    lambda s: not s.startswith(".") and not s.endswith(".") and ".." not in s)
_domain = st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8), min_size=2,
                   max_size=3).map(".".join)
_name = st.text(alphabet="ABCDEFGHabcdefgh ,.'", max_size=12)


@given(_local, _domain, _name, st.sampled_from(["bare", "angle", "named", "quoted"]))
def test_addr_spec_agrees_with_the_stdlib(local, domain, name, form):
    addr = f"{local}@{domain}"
    value = {"bare": addr, "angle": f"<{addr}>", "named": f"{name.replace(',', '')} <{addr}>",
             "quoted": f'"{name}" <{addr}>'}[form]
    assert addresses.addr_spec(value) == parseaddr(value)[1] == addr


@given(st.lists(st.tuples(_local, _domain, _name), min_size=1, max_size=4))
def test_header_addresses_agree_with_the_stdlib(items):
    value = ", ".join(f'"{n}" <{lo}@{d}>' if n else f"{lo}@{d}" for lo, d, n in items)
    assert addresses.header_addresses([value]) == [a for _n, a in getaddresses([value])]


def test_identity_candidates_and_simulator():
    assert addresses.identity_candidates("Ann@Mail.Example.COM") == ["ann@mail.example.com", "mail.example.com",
                                                                     "example.com"]
    assert addresses.simulator_box("Bounce+x@simulator.amazonses.com") == "bounce"
    assert addresses.simulator_box("blackhole@simulator.amazonses.com") is None
    assert addresses.simulator_box("bounce@example.com") is None


RAW = (b"From: a@example.com\r\nTo: b@example.com,\r\n\tc@example.com\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n"
       b"X-SES-CONFIGURATION-SET: cs\r\nMessage-ID: <old@x>\r\n\r\nbody\r\n")


def test_read_headers_unfolds_like_ses():
    hdrs = mime.read_headers(RAW)
    assert hdrs[1] == ("To", "b@example.com, c@example.com")
    assert mime.decode_value(dict(hdrs)["Subject"]) == "Grüße"
    assert mime.read_headers(b"just a body") == []


def test_set_headers_removes_and_prepends():
    out = mime.set_headers(RAW, ("x-ses-configuration-set", "message-id"), [("Message-ID", "<new@y>")])
    msg = message_from_bytes(out, policy=policy.default)
    assert msg["Message-ID"] == "<new@y>" and msg["X-SES-CONFIGURATION-SET"] is None
    assert msg.get_content().strip() == "body" and out.startswith(b"Message-ID: <new@y>\r\nFrom:")
    assert mime.set_headers(b"no headers here", (), [("A", "b")]) == b"A: b\r\n\r\nno headers here"


def test_built_message_parses_back():
    raw, hdrs = mime.build_message([("From", "Zoë <z@example.com>"), ("To", "t@example.com")], "Ünïcode",
                                   "text é", "<p>html</p>",
                                   attachments=[{"RawContent": b"\x00\x01", "FileName": "a.bin"}])
    msg = message_from_bytes(raw, policy=policy.default)
    assert msg["Subject"] == "Ünïcode" and str(msg["From"]) == "Zoë <z@example.com>"
    parts = {p.get_content_type(): p for p in msg.walk() if not p.is_multipart()}
    assert parts["text/plain"].get_content().strip() == "text é"
    assert parts["application/octet-stream"].get_content() == b"\x00\x01"
    assert [n for n, _ in hdrs][:2] == ["From", "To"]


def test_template_references_and_missing_attributes():
    src = "{{a}} {{b.c}} {{#if d}}{{e}}{{/if}} {{#each xs}}{{y}}{{/each}} {{{raw}}} {{! note}} {{this}}"
    assert templates.top_level_references(src) == ["a", "b.c", "raw"]
    try:
        templates.render_part(src, {"a": 1, "b": {}, "raw": "x"})
    except templates.RenderError as exc:
        assert (exc.code, exc.message) == ("MissingRenderingAttribute",
                                           "Attribute 'b.c' is not present in the rendering data.")
    else:
        raise AssertionError("rendered with a missing attribute")
    assert templates.render_part("{{x}}", {"x": "<&>"}) == "&lt;&amp;&gt;"
