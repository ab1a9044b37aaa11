"""Shape compilers: turn botocore shapes into closures once.

Every ``compile_*`` function is dispatched on ``shape.type_name`` and cached
per (shape name, member-ref traits) in a dict owned by the caller (one per
service codec and wire format), so recursive shapes terminate and each shape
is compiled once.  The closures never touch botocore objects at request time.

The compilers live in one module per wire concern and are re-exported here:
``_validate`` (constraints), ``_json`` (JSON/CBOR bodies), ``_query`` (form
trees), ``_scalars`` (string-carried scalars), ``_xml`` (XML bodies);
``_common`` holds the shared compile cache.
"""
from __future__ import annotations

from ._common import _FLOAT_TYPES, _INT_TYPES, _cached, _key, _sorted_items
from ._json import _type_error, compile_json_decoder, compile_json_encoder
from ._query import build_query_tree, compile_query_decoder, query_member_key
from ._scalars import _bad_query, scalar_from_str, scalar_to_str
from ._validate import format_violations, compile_validator
from ._xml import _tag, compile_xml_decoder, compile_xml_encoder, xml_member_tag

__all__ = [
    "build_query_tree", "compile_json_decoder", "compile_json_encoder", "compile_query_decoder",
    "compile_validator", "compile_xml_decoder", "compile_xml_encoder", "format_violations",
    "query_member_key", "scalar_from_str", "scalar_to_str", "xml_member_tag",
    "_FLOAT_TYPES", "_INT_TYPES", "_bad_query", "_cached", "_key", "_sorted_items", "_tag",
    "_type_error",
]
