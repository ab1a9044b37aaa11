"""RabbitMQ queue and exchange declarations mapped onto routing-core options.

``queue_config`` validates a queue.declare (flags and ``x-`` arguments) the way
RabbitMQ does and returns the core queue config; ``check_equivalent``
compares a re-declare with the existing queue and raises RabbitMQ's
``PRECONDITION_FAILED - inequivalent arg ...``. Errors carry RabbitMQ's reply
code and text (``DeclareError``); the AMQP front-end turns them into channel
closes.
"""

from __future__ import annotations

ARG_KEYS = ("x-message-ttl", "x-expires", "x-max-length", "x-max-length-bytes", "x-overflow",
            "x-dead-letter-exchange", "x-dead-letter-routing-key", "x-max-priority",
            "x-single-active-consumer", "x-queue-type", "x-delivery-limit", "x-queue-mode",
            "x-queue-version", "x-queue-master-locator", "x-queue-leader-locator")
OVERFLOW = ("drop-head", "reject-publish", "reject-publish-dlx")
QUEUE_TYPES = ("classic", "quorum")
NOT_FOUND, RESOURCE_LOCKED, PRECONDITION_FAILED, ACCESS_REFUSED = 404, 405, 406, 403


class DeclareError(Exception):
    def __init__(self, code: int, text: str):
        super().__init__(text)
        self.code = code
        self.text = text


def _where(kind: str, name: str, vhost: str) -> str:
    return f"{kind} '{name}' in vhost '{vhost}'"


def type_name(v) -> str:
    """RabbitMQ's name of a field-table value's type (for its error texts)."""
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "signedint" if -2**31 <= v < 2**31 else "long"
    if isinstance(v, float):
        return "double"
    if isinstance(v, (str, bytes)):
        return "longstr"
    if isinstance(v, dict):
        return "table"
    if isinstance(v, list):
        return "array"
    return "void" if v is None else "unknown"


def _shown(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, bytes):
        return v.decode(errors="replace")
    return str(v)


def _int_arg(args: dict, key: str, name: str, vhost: str, *, zero_ok: bool = True, hi: int | None = None):
    v = args.get(key)
    if v is None:
        return None
    bad = None
    if isinstance(v, bool) or not isinstance(v, int):
        bad = f"{{unacceptable_type,{type_name(v)}}}"
    elif v < 0:
        bad = f"{{value_negative,{v}}}"
    elif v == 0 and not zero_ok:
        bad = f"{{value_zero,{v}}}"
    elif hi is not None and v > hi:
        bad = f"{{value_too_large,{v},{hi}}}"
    if bad:
        raise DeclareError(PRECONDITION_FAILED,
                           f"PRECONDITION_FAILED - invalid arg '{key}' for {_where('queue', name, vhost)}: {bad}")
    return v


def _str_arg(args: dict, key: str, name: str, vhost: str, allowed=None):
    v = args.get(key)
    if v is None:
        return None
    if isinstance(v, bytes):
        v = v.decode(errors="replace")
    if not isinstance(v, str):
        raise DeclareError(PRECONDITION_FAILED, f"PRECONDITION_FAILED - invalid arg '{key}' for "
                           f"{_where('queue', name, vhost)}: {{unacceptable_type,{type_name(v)}}}")
    if allowed is not None and v not in allowed:
        raise DeclareError(PRECONDITION_FAILED, f"PRECONDITION_FAILED - invalid arg '{key}' for "
                           f"{_where('queue', name, vhost)}: {{invalid_value,<<\"{v}\">>}}")
    return v


def queue_config(name: str, vhost: str, *, durable: bool, exclusive: bool, auto_delete: bool, args: dict | None,
                 owner: str | None, default_type: str = "classic") -> dict:
    """The core config of a queue.declare (raises DeclareError)."""
    args = {k: v for k, v in (args or {}).items()}
    qtype = _str_arg(args, "x-queue-type", name, vhost, QUEUE_TYPES)
    if qtype is None:     # a default type of quorum applies to durable, shared queues only (as RabbitMQ)
        qtype = default_type if durable and not exclusive and not auto_delete else "classic"
    if qtype == "quorum":
        for bad, cond in (("exclusive-owner", exclusive), ("non-durable", not durable), ("auto-delete", auto_delete)):
            if cond:
                raise DeclareError(PRECONDITION_FAILED, f"PRECONDITION_FAILED - invalid property '{bad}' for "
                                   f"{_where('queue', name, vhost)}")
    ttl = _int_arg(args, "x-message-ttl", name, vhost)
    expires = _int_arg(args, "x-expires", name, vhost, zero_ok=False)
    max_len = _int_arg(args, "x-max-length", name, vhost)
    max_bytes = _int_arg(args, "x-max-length-bytes", name, vhost)
    prio = _int_arg(args, "x-max-priority", name, vhost, hi=255)
    limit = _int_arg(args, "x-delivery-limit", name, vhost)
    overflow = _str_arg(args, "x-overflow", name, vhost, OVERFLOW) or "drop-head"
    dlx = _str_arg(args, "x-dead-letter-exchange", name, vhost)
    dlrk = _str_arg(args, "x-dead-letter-routing-key", name, vhost)
    if dlrk is not None and dlx is None:
        raise DeclareError(PRECONDITION_FAILED, "PRECONDITION_FAILED - invalid arg 'x-dead-letter-routing-key' for "
                           f"{_where('queue', name, vhost)}: {{no_dlx,<<\"{dlrk}\">>}}")
    sac = args.get("x-single-active-consumer")
    if sac is not None and not isinstance(sac, bool):
        raise DeclareError(PRECONDITION_FAILED, "PRECONDITION_FAILED - invalid arg 'x-single-active-consumer' for "
                           f"{_where('queue', name, vhost)}: {{unacceptable_type,{type_name(sac)}}}")
    config: dict = {"meta": {"durable": bool(durable), "exclusive": bool(exclusive),
                             "auto_delete": bool(auto_delete), "type": qtype,
                             "args": {k: v for k, v in args.items() if k in ARG_KEYS}}}
    if not durable:
        config["transient"] = True
    if exclusive:
        config["owner"] = owner
    if auto_delete:
        config["auto_delete"] = True
    if expires:
        config["expires_ms"] = expires
    if ttl is not None:
        config["retention_ms"] = ttl
    if max_len is not None:
        config["max_length"] = max_len
    if max_bytes is not None:
        config["max_bytes"] = max_bytes
    if max_len is not None or max_bytes is not None:
        config["overflow"] = "drop-head" if overflow == "drop-head" else "reject-publish"
        if overflow == "reject-publish-dlx":
            config["reject_dlx"] = True
    if dlx is not None:
        config["dlx"] = {"x": dlx, "rk": dlrk, "codec": "amqp"}
    if prio is not None and qtype == "classic":
        config["max_priority"] = prio
    if sac:
        config["single_active"] = True
    if qtype == "quorum" and limit is not None:
        config["max_receives"] = limit + 1
    return config


def check_equivalent(current: dict, wanted: dict, name: str, vhost: str) -> None:
    """RabbitMQ's rabbit_amqqueue:assert_equivalence for a re-declare."""
    cm, wm = current.get("meta") or {}, wanted.get("meta") or {}
    where = _where("queue", name, vhost)
    for flag in ("durable", "auto_delete"):
        if bool(cm.get(flag)) != bool(wm.get(flag)):
            raise DeclareError(PRECONDITION_FAILED, f"PRECONDITION_FAILED - inequivalent arg '{flag}' for {where}: "
                               f"received '{_shown(wm.get(flag, False))}' but current is "
                               f"'{_shown(cm.get(flag, False))}'")
    ca, wa = cm.get("args") or {}, wm.get("args") or {}
    for key in ARG_KEYS:
        if key in ("x-queue-type",) and key not in wa:
            continue
        a, b = wa.get(key), ca.get(key)
        if key == "x-queue-type":
            b = b if b is not None else cm.get("type", "classic")
        if _norm(a) != _norm(b):
            got = "none" if a is None else f"the value '{_shown(a)}' of type '{type_name(a)}'"
            cur = "none" if b is None else f"the value '{_shown(b)}' of type '{type_name(b)}'"
            raise DeclareError(PRECONDITION_FAILED, f"PRECONDITION_FAILED - inequivalent arg '{key}' for {where}: "
                               f"received {got} but current is {cur}")


def _norm(v):
    return v.decode() if isinstance(v, bytes) else v
