"""The codec's own view of a service-2.json model: what ``botocore.model`` offers the
codec, over the same raw dict, by the same rules, without importing it.

``botocore.model`` imports botocore.utils, compat, auth and exceptions, and
through them urllib3, dateutil and botocore's HTTP machinery (about 186
modules) that no server request uses. Only what the codec (and CloudTrail's
redactors) read is here: a member reference's own traits (locationName,
location, flattened, xmlNamespace, ...) are merged over its target shape as
botocore merges them, and ``serialization`` / ``metadata`` keep the same keys.
Shapes are resolved lazily; a shape referenced without traits is built once.
"""
from __future__ import annotations

from functools import cached_property

# botocore.model.Shape.SERIALIZED_ATTRS / METADATA_ATTRS, in its order
SERIALIZED_ATTRS = ("locationName", "queryName", "flattened", "location", "payload", "streaming",
                    "timestampFormat", "xmlNamespace", "resultWrapper", "xmlAttribute", "eventstream",
                    "event", "eventheader", "eventpayload", "jsonvalue", "hostLabel")
METADATA_ATTRS = ("required", "min", "max", "pattern", "sensitive", "enum", "idempotencyToken", "error",
                  "exception", "endpointdiscoveryid", "retryable", "document", "union", "contextParam",
                  "clientContextParams", "requiresLength")


class Shape:
    def __init__(self, name: str, model: dict, resolver: "ShapeResolver"):
        self.name = name
        self.type_name = model["type"]
        self._model = model
        self._resolver = resolver

    @cached_property
    def serialization(self) -> dict:
        m = self._model
        out = {a: m[a] for a in SERIALIZED_ATTRS if a in m}
        if "locationName" in out:
            out["name"] = out.pop("locationName")
        return out

    @cached_property
    def metadata(self) -> dict:
        m = self._model
        return {a: m[a] for a in METADATA_ATTRS if a in m}

    @cached_property
    def required_members(self) -> list:
        return self.metadata.get("required", [])

    @property
    def event_stream_name(self):
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__}({self.name})>"


class StructureShape(Shape):
    @cached_property
    def members(self) -> dict:
        ref = self._resolver.resolve_shape_ref
        return {name: ref(r) for name, r in self._model.get("members", {}).items()}

    @cached_property
    def event_stream_name(self):
        for name, member in self.members.items():
            if member.serialization.get("eventstream"):
                return name
        return None

    @cached_property
    def error_code(self):
        if not self.metadata.get("exception", False):
            return None
        return self.metadata.get("error", {}).get("code") or self.name

    @cached_property
    def is_document_type(self):
        return self.metadata.get("document", False)

    @cached_property
    def is_tagged_union(self):
        return self.metadata.get("union", False)


class ListShape(Shape):
    @cached_property
    def member(self) -> Shape:
        return self._resolver.resolve_shape_ref(self._model["member"])


class MapShape(Shape):
    @cached_property
    def key(self) -> Shape:
        return self._resolver.resolve_shape_ref(self._model["key"])

    @cached_property
    def value(self) -> Shape:
        return self._resolver.resolve_shape_ref(self._model["value"])


class StringShape(Shape):
    @cached_property
    def enum(self) -> list:
        return self.metadata.get("enum", [])


class NoShapeFoundError(KeyError):
    pass


class OperationNotFoundError(KeyError):
    pass


_CLASSES = {"structure": StructureShape, "list": ListShape, "map": MapShape, "string": StringShape}


class ShapeResolver:
    def __init__(self, shapes: dict):
        self._shapes = shapes
        self._plain: dict[str, Shape] = {}   # shapes referenced without member traits

    def get_shape_by_name(self, name: str, member_traits: dict | None = None) -> Shape:
        if not member_traits:
            s = self._plain.get(name)
            if s is None:
                s = self._plain[name] = self._build(name, None)
            return s
        return self._build(name, member_traits)

    def _build(self, name: str, member_traits: dict | None) -> Shape:
        try:
            model = self._shapes[name]
        except KeyError:
            raise NoShapeFoundError(name) from None
        cls = _CLASSES.get(model["type"], Shape)
        if member_traits:   # the reference's traits win over the shape's own, as in botocore
            model = {**model, **member_traits}
        return cls(name, model, self)

    def resolve_shape_ref(self, ref: dict) -> Shape:
        if len(ref) == 1 and "shape" in ref:
            return self.get_shape_by_name(ref["shape"])
        traits = dict(ref)
        return self.get_shape_by_name(traits.pop("shape"), traits)


class OperationModel:
    def __init__(self, model: dict, service_model: "ServiceModel", name: str):
        self._model = model
        self.service_model = service_model
        self.name = name
        self.wire_name = model.get("name")
        self.metadata = service_model.metadata
        self.http = model.get("http", {})
        self.endpoint = model.get("endpoint")

    def _ref(self, key: str):
        ref = self._model.get(key)
        return None if ref is None else self.service_model.resolve_shape_ref(ref)

    @cached_property
    def input_shape(self):
        return self._ref("input")

    @cached_property
    def output_shape(self):
        return self._ref("output")

    @cached_property
    def error_shapes(self) -> list:
        return [self.service_model.resolve_shape_ref(r) for r in self._model.get("errors", [])]

    def __repr__(self) -> str:
        return f"OperationModel(name={self.name})"


class ServiceModel:
    def __init__(self, description: dict, service_name: str | None = None):
        self._description = description
        self.metadata = description.get("metadata", {})
        self._resolver = ShapeResolver(description.get("shapes", {}))
        self._service_name = service_name
        self._operations: dict[str, OperationModel] = {}

    def shape_for(self, name: str, member_traits: dict | None = None) -> Shape:
        return self._resolver.get_shape_by_name(name, member_traits)

    def resolve_shape_ref(self, ref: dict) -> Shape:
        return self._resolver.resolve_shape_ref(ref)

    def operation_model(self, name: str) -> OperationModel:
        om = self._operations.get(name)
        if om is None:
            try:
                model = self._description["operations"][name]
            except KeyError:
                raise OperationNotFoundError(name) from None
            om = self._operations[name] = OperationModel(model, self, name)
        return om

    @cached_property
    def operation_names(self) -> list:
        return list(self._description.get("operations", []))

    @cached_property
    def error_shapes(self) -> list:
        # only the exception shapes are built (botocore builds every shape to ask each)
        return [self.shape_for(n) for n, s in self._description.get("shapes", {}).items() if s.get("exception")]

    @property
    def service_name(self) -> str:
        return self._service_name if self._service_name is not None else self.endpoint_prefix

    @property
    def service_id(self) -> str:
        return self.metadata["serviceId"]

    @property
    def endpoint_prefix(self) -> str:
        return self.metadata["endpointPrefix"]

    @property
    def signing_name(self) -> str:
        name = self.metadata.get("signingName")
        return self.endpoint_prefix if name is None else name

    @property
    def protocol(self) -> str:
        return self.metadata["protocol"]

    @property
    def protocols(self) -> list:
        return self.metadata["protocols"]

    @property
    def is_query_compatible(self) -> bool:
        return "awsQueryCompatible" in self.metadata

    def __repr__(self) -> str:
        return f"ServiceModel({self.service_name})"
