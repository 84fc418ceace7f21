"""The README's configuration table, rendered from the schema's declarations.

The table sits in README.md between two marker comments. ``make config-table``
(``python -m app.config.reference --write``) rewrites it there; without
``--write`` it is printed. A unit test fails while README.md and the schema
disagree, so the reference can't drift from what the loader accepts.
"""

import argparse
import dataclasses
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from app.config.keys import Key, declared
from app.config.loader import ENV_OVERRIDES
from app.config.schema import Config

README = Path(__file__).resolve().parents[2] / "README.md"
BEGIN = "<!-- config-table: generated from app/config/schema.py by `make config-table`; edit the schema, not here -->"
END = "<!-- end of config-table -->"
ENV_VARIABLE = {dotted: variable for variable, dotted in ENV_OVERRIDES.items()}


def table() -> str:
    """One row per key, in the schema's order; a list of entries is a row, then one row per key of an entry."""
    rows = [_row(dotted, field, hint) for dotted, field, hint in _keys(Config, "")]
    return "\n".join(["| Key | Default | Range | Meaning |", "| --- | --- | --- | --- |", *rows])


def spliced(readme: str) -> str:
    """``readme`` with the current table between its markers."""
    if BEGIN not in readme or END not in readme:
        raise ValueError(f"the configuration table's markers are missing: {BEGIN} ... {END}")
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table()}\n{END}{tail}"


def _keys(cls: type, path: str) -> Iterator[tuple[str, dataclasses.Field[Any], Any]]:
    """Each key's dotted name (``[]`` for any entry of a list), field and type; sections are walked, not listed."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        hint, dotted = hints[field.name], f"{path}{field.name}"
        if dataclasses.is_dataclass(hint):
            yield from _keys(hint, f"{dotted}.")
            continue
        if typing.get_origin(hint) in (typing.Union, types.UnionType):  # an optional section: a row, then its keys
            yield dotted, field, hint
            yield from _keys(next(arg for arg in typing.get_args(hint) if dataclasses.is_dataclass(arg)), f"{dotted}.")
            continue
        yield dotted, field, hint
        if typing.get_origin(hint) is list and dataclasses.is_dataclass(entry := typing.get_args(hint)[0]):
            yield from _keys(entry, f"{dotted}[].")


def _row(dotted: str, field: dataclasses.Field[Any], hint: Any) -> str:
    key = declared(field)
    env = f" (env `{ENV_VARIABLE[dotted]}`)" if dotted in ENV_VARIABLE else ""
    return f"| `{dotted}` | {_default(field, key)} | {_range(hint, key)} | {key.doc}{env} |"


def _default(field: dataclasses.Field[Any], key: Key) -> str:
    if key.shown:
        return key.shown
    if field.default is not dataclasses.MISSING:
        return _shown(field.default)
    if field.default_factory is not dataclasses.MISSING:
        return _shown(field.default_factory())
    return "(required)"


def _shown(value: object) -> str:
    """A default as YAML would spell it: ``[]``, ``false``; an empty string is no value at all."""
    if isinstance(value, list):
        return ", ".join(map(_shown, value)) if value else "`[]`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`" if value != "" else "none"


def _range(hint: Any, key: Key) -> str:
    """The choices of a ``Literal`` key, or the declared bounds."""
    if typing.get_origin(hint) is Literal:
        return ", ".join(f"`{choice}`" for choice in typing.get_args(hint))
    return key.range()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the table in README.md instead of printing it")
    if parser.parse_args(argv).write:
        README.write_text(spliced(README.read_text()))
    else:
        print(table())


if __name__ == "__main__":
    main()
