"""rclpy messages as rosbridge v2 JSON and back, field by field from each class's ``SLOT_TYPES`` (no
``rosidl_runtime_py`` needed): nested messages as objects, ``uint8[]``/``char[]`` as one base64 string, NaN and inf
as null, ``octet`` as a number, times as ``{sec, nanosec}`` (a ROS 1 client's ``{secs, nsecs}`` is read too).
Types are named ``pkg/Type`` (ROS 1 style) or ``pkg/msg/Type`` / ``pkg/srv/Type`` and imported by name.

Reading is strict: an unknown field, a value of the wrong kind or out of its integer range raises
:class:`BridgeError` naming the field path (``header.stamp.nanosec``, ``name[0]``); a missing field keeps its default.
Needs the message packages (the ``ros`` extra) only when called.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import math
import re
from typing import Any

TYPE_NAME = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)/(?:(msg|srv)/)?([A-Za-z][A-Za-z0-9_]*)$")
FLOATS = frozenset({"float", "double", "long double", "float32", "float64"})
BINARY = frozenset({"uint8", "char"})
"""Element types whose arrays travel as one base64 string."""
INT_BITS = {"short": 16, "long": 32, "long long": 64, "octet": 8}


class BridgeError(ValueError):
    """A value or type that does not convert; the rosbridge server sends its text back in an error ``status``."""


def interface_class(type_name: Any, kind: str) -> Any:
    """The rclpy class of ``pkg/Type`` or ``pkg/<kind>/Type`` (kind ``msg`` or ``srv``)."""
    match = TYPE_NAME.match(type_name) if isinstance(type_name, str) else None
    if match is None:
        raise BridgeError(f"type {type_name!r} is not 'pkg/Type' or 'pkg/{kind}/Type'")
    package, given, name = match.groups()
    if given not in (None, kind):
        raise BridgeError(f"type {type_name!r} is a {given}, not a {kind}")
    try:
        cls = getattr(importlib.import_module(f"{package}.{kind}"), name)
    except (ImportError, AttributeError) as err:
        raise BridgeError(
            f"unknown {kind} type {type_name!r} ({err}); install its package (PyPI ros-{package.replace('_', '-')})"
        ) from err
    if not (hasattr(cls, "Request") if kind == "srv" else hasattr(cls, "get_fields_and_field_types")):
        raise BridgeError(f"{type_name!r} is not a ROS 2 {kind} type")
    return cls


def _idl() -> Any:
    from rosidl_parser import definition

    return definition


def _plain(values: Any) -> list[Any]:
    return values.tolist() if hasattr(values, "tolist") else list(values)


def _int_range(kind: str) -> tuple[int, int]:
    sized = re.fullmatch(r"u?int(\d+)", kind)
    bits = int(sized.group(1)) if sized else INT_BITS.get(kind.removeprefix("unsigned "), 64)
    return (0, 2**bits - 1) if kind.startswith("u") else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)


def message_to_dict(msg: Any) -> dict[str, Any]:
    """An rclpy message as rosbridge JSON values."""
    return {
        name: _to_json(getattr(msg, name), slot)
        for name, slot in zip(msg.get_fields_and_field_types(), msg.SLOT_TYPES, strict=True)
    }


def _to_json(value: Any, slot: Any) -> Any:
    idl = _idl()
    if isinstance(slot, idl.NamespacedType):
        return message_to_dict(value)
    if isinstance(slot, idl.AbstractNestedType):
        inner = slot.value_type
        if isinstance(inner, idl.BasicType):
            if inner.typename in BINARY:
                return base64.b64encode(bytes(_plain(value))).decode("ascii")
            if inner.typename in FLOATS:
                return [v if math.isfinite(v) else None for v in _plain(value)]
            if inner.typename == "octet":
                return [v[0] for v in value]
            return _plain(value)
        return [_to_json(v, inner) for v in value]
    if isinstance(slot, idl.BasicType):
        if slot.typename == "octet":
            return value[0]
        if slot.typename in FLOATS and not math.isfinite(value):
            return None
    return value


def dict_to_message(cls: Any, data: Any, where: str = "") -> Any:
    """An rclpy message of ``cls`` from rosbridge JSON values; a missing field keeps its default."""
    if not isinstance(data, dict):
        raise BridgeError(f"{where or cls.__name__}: expected a JSON object, got {type(data).__name__}")
    slots = dict(zip(cls.get_fields_and_field_types(), cls.SLOT_TYPES, strict=True))
    msg = cls()
    for name, value in data.items():
        path = f"{where}.{name}" if where else name
        if name not in slots:
            raise BridgeError(f"{cls.__name__} has no field {path!r} (fields: {', '.join(slots)})")
        try:
            setattr(msg, name, _from_json(value, slots[name], path))
        except BridgeError:
            raise
        except (AssertionError, TypeError, ValueError, OverflowError) as err:  # rclpy setters assert ranges
            raise BridgeError(f"field {path!r}: {err or 'value out of range'}") from err
    return msg


def _from_json(value: Any, slot: Any, path: str) -> Any:
    idl = _idl()
    if isinstance(slot, idl.NamespacedType):
        if slot.namespaces == ["builtin_interfaces", "msg"] and isinstance(value, dict):  # ROS 1 secs/nsecs
            value = {{"secs": "sec", "nsecs": "nanosec"}.get(k, k): v for k, v in value.items()}
        cls = getattr(importlib.import_module(".".join(slot.namespaces)), slot.name)
        return dict_to_message(cls, value, path)
    if isinstance(slot, idl.AbstractNestedType):
        inner = slot.value_type
        if isinstance(value, str) and isinstance(inner, idl.BasicType) and inner.typename in BINARY:
            try:
                raw = base64.b64decode(value, validate=True)
            except binascii.Error as err:
                raise BridgeError(f"field {path!r}: not base64 ({err})") from err
            return list(raw) if isinstance(slot, idl.Array) else raw
        if not isinstance(value, list):
            raise BridgeError(f"field {path!r}: expected a list, got {type(value).__name__}")
        return [_from_json(v, inner, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(slot, idl.BasicType):
        kind = slot.typename
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if kind in FLOATS and (value is None or number):
            return math.nan if value is None else float(value)
        if kind == "boolean" and isinstance(value, bool):
            return value
        if kind == "octet" and isinstance(value, int) and not isinstance(value, bool):
            return bytes([value])
        if kind in ("char", "wchar") and isinstance(value, str | int) and not isinstance(value, bool):
            return chr(value) if isinstance(value, int) else value
        if kind not in FLOATS and number and float(value).is_integer():
            low, high = _int_range(kind)
            if not low <= value <= high:
                raise BridgeError(f"field {path!r}: {value} is out of range for {kind} [{low}, {high}]")
            return int(value)
        raise BridgeError(f"field {path!r}: expected {kind}, got {type(value).__name__} {value!r}")
    if isinstance(value, str):
        return value
    raise BridgeError(f"field {path!r}: expected a string, got {type(value).__name__}")
