"""Typed reports to JSON and back, leniently: a heartbeat from another version of the service never breaks a reader.

A report is a tree of frozen dataclasses whose fields are counts (``int``,
never negative), measures (``float``), text, flags, ``X | None``, tuples of
those, string-keyed dicts of those, or nested reports. Reading back takes
what has the field's type and gives every other field its default, so a
field another version lacks, or sends in another shape, reads as "not
reported" instead of failing the whole answer. Two field options (in the
field's metadata): ``json`` names the key when it differs from the field
(``from`` is a keyword), and ``flatten`` puts a nested report's keys beside
its parent's (present when any of them is).
"""

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

R = TypeVar("R")
_MISSING = object()


def to_json(report: object) -> Any:
    """The JSON value of a report (dicts, lists and scalars)."""
    if dataclasses.is_dataclass(report) and not isinstance(report, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(report):
            value = getattr(report, f.name)
            if f.metadata.get("flatten"):
                if value is not None:
                    out.update(to_json(value))
                continue
            out[f.metadata.get("json", f.name)] = to_json(value)
        return out
    if isinstance(report, tuple | list):
        return [to_json(item) for item in report]
    if isinstance(report, Mapping):
        return {key: to_json(value) for key, value in report.items()}
    return report


def from_json(cls: type[R], data: object) -> R:
    """A ``cls`` from ``data``; what is missing or of the wrong type takes the field's default."""
    values = data if isinstance(data, Mapping) else {}
    hints = _hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        hint = hints[f.name]
        if f.metadata.get("flatten"):
            (inner,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
            keys = {g.metadata.get("json", g.name) for g in dataclasses.fields(inner)}
            if keys & set(values):
                kwargs[f.name] = from_json(inner, values)
            continue
        value = _read(hint, values.get(f.metadata.get("json", f.name), _MISSING))
        if value is not _MISSING:
            kwargs[f.name] = value
    return cls(**kwargs)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """A report class's resolved field types: resolving them costs more than reading a report."""
    return typing.get_type_hints(cls)


def _read(hint: Any, value: object) -> object:
    """``value`` as ``hint``, or ``_MISSING`` when it is not one."""
    if value is _MISSING:
        return _MISSING
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return from_json(hint, value) if isinstance(value, Mapping) else _MISSING
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is not type(None) and (read := _read(arg, value)) is not _MISSING:
                return read
        return _MISSING
    if origin is tuple:
        if not isinstance(value, list):
            return _MISSING
        items = [_read(args[0], item) for item in value]
        return tuple(item for item in items if item is not _MISSING)
    if origin is dict:
        if not isinstance(value, Mapping):
            return _MISSING
        entries = {key: _read(args[1], item) for key, item in value.items() if isinstance(key, str)}
        return {key: item for key, item in entries.items() if item is not _MISSING}
    if hint is bool:
        return value if isinstance(value, bool) else _MISSING
    if isinstance(value, bool):
        return _MISSING
    if hint is int:
        return value if isinstance(value, int) and value >= 0 else _MISSING
    if hint is float:
        return float(value) if isinstance(value, int | float) else _MISSING
    return value if isinstance(value, hint) else _MISSING
