"""Helpers shared by the shape compilers: per-shape compile cache, type groups."""
from __future__ import annotations


_INT_TYPES = ("integer", "long", "short", "byte")
_FLOAT_TYPES = ("float", "double")
# member locations bound to the HTTP envelope, not the body
NON_BODY_LOCATIONS = frozenset(("header", "headers", "uri", "querystring", "statusCode"))


def _key(shape) -> tuple:
    ser = shape.serialization
    return (shape.name, ser.get("name"), ser.get("flattened"), ser.get("timestampFormat"),
            ser.get("jsonvalue"), ser.get("location"))


def _cached(fn):
    def wrapper(shape, cache, *args):
        k = (_key(shape),) + args
        if k in cache:
            return cache[k]
        hit = fn(shape, cache, *args)
        cache[k] = hit
        return hit
    wrapper.__name__ = fn.__name__
    return wrapper


def _sorted_items(d: dict) -> list:
    try:
        return [d[k] for k in sorted(d, key=int)]
    except ValueError:
        return list(d.values())
