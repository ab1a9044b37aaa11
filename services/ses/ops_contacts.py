"""SES v2 list management: contact lists with topics, contacts with topic
preferences, and who a list-managed send may reach.

A contact list is one record; each contact is a record of its own
(``ses.contact``, ``<list>\\0<address>``) so a large list costs one small write
per change. AWS allows one contact list per account and region.
"""

from __future__ import annotations

from services.ses.errors import bad_request, err, not_found, v2_already_exists
from services.ses.paging import page
from services.ses.state import CONTACT, CONTACT_LIST

MAX_LISTS = 1
MAX_TOPICS = 20


def _list(ns, name: str) -> dict:
    rec = ns.get(CONTACT_LIST, name)
    if rec is None:
        raise not_found(f"List with name {name} does not exist.")
    return rec


def _topics(p) -> list[dict]:
    topics = [dict(t) for t in p.get("Topics") or []]
    if len(topics) > MAX_TOPICS:
        raise bad_request(f"A contact list can have at most {MAX_TOPICS} topics.")
    names = [t["TopicName"] for t in topics]
    if len(set(names)) != len(names):
        raise bad_request("Topic names must be unique within a contact list.")
    return topics


def create_contact_list(ctx, ns, p):
    name = p["ContactListName"]
    if ns.get(CONTACT_LIST, name) is not None:
        raise v2_already_exists(f"List with name {name} already exists.")
    if len(ns.tables[CONTACT_LIST]) >= MAX_LISTS:
        raise err("LimitExceededException", "Maximum number of contact lists per account exceeded.")
    now = ctx.now_ms()
    ns.put(CONTACT_LIST, name, {"name": name, "topics": _topics(p), "description": p.get("Description"),
                                "tags": [dict(t) for t in p.get("Tags") or []], "created": now, "updated": now})
    return {}


def get_contact_list(ctx, ns, p):
    rec = _list(ns, p["ContactListName"])
    out = {"ContactListName": rec["name"], "Topics": list(rec["topics"]), "CreatedTimestamp": rec["created"] / 1000.0,
           "LastUpdatedTimestamp": rec["updated"] / 1000.0, "Tags": list(rec["tags"])}
    if rec.get("description") is not None:
        out["Description"] = rec["description"]
    return out


def update_contact_list(ctx, ns, p):
    rec = _list(ns, p["ContactListName"])
    if "Topics" in p:
        rec["topics"] = _topics(p)
    if "Description" in p:
        rec["description"] = p["Description"]
    rec["updated"] = ctx.now_ms()
    ns.put(CONTACT_LIST, rec["name"], rec)
    return {}


def delete_contact_list(ctx, ns, p):
    name = _list(ns, p["ContactListName"])["name"]
    for key in [k for k in ns.tables[CONTACT] if k.startswith(name + "\0")]:
        ns.delete(CONTACT, key)
    ns.delete(CONTACT_LIST, name)
    return {}


def list_contact_lists(ctx, ns, p):
    recs = dict(ns.items(CONTACT_LIST))
    names, token = page(sorted(recs), p.get("NextToken"), p.get("PageSize"), 10, 1000, v2=True)
    return {"ContactLists": [{"ContactListName": n, "LastUpdatedTimestamp": recs[n]["updated"] / 1000.0}
                             for n in names], **({"NextToken": token} if token else {})}


# -- contacts ---------------------------------------------------------------------------

def _key(lst: str, address: str) -> str:
    return f"{lst}\0{address.lower()}"


def _contact(ns, lst: str, address: str) -> dict:
    rec = ns.get(CONTACT, _key(lst, address))
    if rec is None:
        raise not_found(f"Contact {address} does not exist in list {lst}.")
    return rec


def _prefs(lst: dict, p) -> list[dict]:
    known = {t["TopicName"] for t in lst["topics"]}
    prefs = [dict(t) for t in p.get("TopicPreferences") or []]
    for t in prefs:
        if t["TopicName"] not in known:
            raise bad_request(f"Topic {t['TopicName']} does not exist in list {lst['name']}.")
    return prefs


def create_contact(ctx, ns, p):
    lst = _list(ns, p["ContactListName"])
    address = p["EmailAddress"]
    if ns.get(CONTACT, _key(lst["name"], address)) is not None:
        raise v2_already_exists(f"Contact {address} already exists in list {lst['name']}.")
    now = ctx.now_ms()
    ns.put(CONTACT, _key(lst["name"], address), {
        "address": address, "prefs": _prefs(lst, p), "unsubscribe_all": bool(p.get("UnsubscribeAll", False)),
        "attributes": p.get("AttributesData"), "created": now, "updated": now})
    return {}


def update_contact(ctx, ns, p):
    lst = _list(ns, p["ContactListName"])
    rec = _contact(ns, lst["name"], p["EmailAddress"])
    if "TopicPreferences" in p:
        rec["prefs"] = _prefs(lst, p)
    if "UnsubscribeAll" in p:
        rec["unsubscribe_all"] = bool(p["UnsubscribeAll"])
    if "AttributesData" in p:
        rec["attributes"] = p["AttributesData"]
    rec["updated"] = ctx.now_ms()
    ns.put(CONTACT, _key(lst["name"], rec["address"]), rec)
    return {}


def _defaults(lst: dict) -> list[dict]:
    return [{"TopicName": t["TopicName"], "SubscriptionStatus": t["DefaultSubscriptionStatus"]} for t in lst["topics"]]


def get_contact(ctx, ns, p):
    lst = _list(ns, p["ContactListName"])
    rec = _contact(ns, lst["name"], p["EmailAddress"])
    out = {"ContactListName": lst["name"], "EmailAddress": rec["address"], "TopicPreferences": list(rec["prefs"]),
           "TopicDefaultPreferences": _defaults(lst), "UnsubscribeAll": rec["unsubscribe_all"],
           "CreatedTimestamp": rec["created"] / 1000.0, "LastUpdatedTimestamp": rec["updated"] / 1000.0}
    if rec.get("attributes") is not None:
        out["AttributesData"] = rec["attributes"]
    return out


def delete_contact(ctx, ns, p):
    lst = _list(ns, p["ContactListName"])
    _contact(ns, lst["name"], p["EmailAddress"])
    ns.delete(CONTACT, _key(lst["name"], p["EmailAddress"]))
    return {}


def topic_status(lst: dict, contact: dict | None, topic: str | None, use_default: bool = True) -> str | None:
    """OPT_IN / OPT_OUT of `contact` for `topic` (the list's default when it has no preference)."""
    if contact is not None and contact["unsubscribe_all"]:
        return "OPT_OUT"
    if topic is None:
        return "OPT_IN"
    for t in (contact or {}).get("prefs", ()):
        if t["TopicName"] == topic:
            return t["SubscriptionStatus"]
    if not use_default:
        return None
    return next((t["DefaultSubscriptionStatus"] for t in lst["topics"] if t["TopicName"] == topic), None)


def list_contacts(ctx, ns, p):
    lst = _list(ns, p["ContactListName"])
    f = p.get("Filter") or {}
    want = f.get("FilteredStatus")
    tf = f.get("TopicFilter") or {}
    prefix = lst["name"] + "\0"
    recs = {}
    for key, rec in ns.items(CONTACT):
        if not key.startswith(prefix):
            continue
        if want and topic_status(lst, rec, tf.get("TopicName"), tf.get("UseDefaultIfPreferenceUnavailable", False)
                                 if tf.get("TopicName") else True) != want:
            continue
        recs[key] = rec
    keys, token = page(sorted(recs), p.get("NextToken"), p.get("PageSize"), 100, 1000, v2=True)
    return {"Contacts": [{"EmailAddress": recs[k]["address"], "TopicPreferences": list(recs[k]["prefs"]),
                          "TopicDefaultPreferences": _defaults(lst), "UnsubscribeAll": recs[k]["unsubscribe_all"],
                          "LastUpdatedTimestamp": recs[k]["updated"] / 1000.0} for k in keys],
            **({"NextToken": token} if token else {})}


def unsubscribed(ns, options: dict | None, recipients: list[str]) -> set[str]:
    """Recipients a list-managed send must skip (unsubscribed from the list or the topic)."""
    if not options:
        return set()
    lst = ns.get(CONTACT_LIST, options["ContactListName"])
    if lst is None:
        raise not_found(f"List with name {options['ContactListName']} does not exist.")
    out = set()
    for r in recipients:
        contact = ns.get(CONTACT, _key(lst["name"], r))
        if topic_status(lst, contact, options.get("TopicName")) == "OPT_OUT":
            out.add(r)
    return out


V2 = {
    "CreateContactList": create_contact_list, "GetContactList": get_contact_list,
    "UpdateContactList": update_contact_list, "DeleteContactList": delete_contact_list,
    "ListContactLists": list_contact_lists, "CreateContact": create_contact, "GetContact": get_contact,
    "UpdateContact": update_contact, "DeleteContact": delete_contact, "ListContacts": list_contacts,
}
