import dataclasses
import typing

import pytest

from app.config import reference
from app.config.keys import declared
from app.config.schema import Config

REGENERATE = "run `make config-table` (or `.venv/bin/python -m app.config.reference --write`) and commit README.md"


def test_the_readme_table_is_the_schemas() -> None:
    readme = reference.README.read_text()
    assert reference.spliced(readme) == readme, f"README.md's configuration table differs from the schema: {REGENERATE}"


def dotted_keys(config: object, path: str = "") -> set[str]:
    """Every key of a config, found from its values (a list of entries: ``[]`` and the keys of its first; an
    optional section left out: its own key, and those of the section as its defaults would be)."""
    keys = set()
    hints = typing.get_type_hints(type(config))
    for name, value in vars(config).items():
        dotted = f"{path}{name}"
        if dataclasses.is_dataclass(value):
            keys |= dotted_keys(value, f"{dotted}.")
            continue
        keys.add(dotted)
        if isinstance(value, list) and value and dataclasses.is_dataclass(value[0]):
            keys |= dotted_keys(value[0], f"{dotted}[].")
        optional = [arg for arg in typing.get_args(hints[name]) if dataclasses.is_dataclass(arg)]
        if value is None and optional:
            keys |= dotted_keys(optional[0](), f"{dotted}.")
    return keys


def test_every_key_has_one_row() -> None:
    rows = [line.split(" | ")[0].removeprefix("| ").strip("`") for line in reference.table().splitlines()[2:]]
    assert sorted(rows) == sorted(dotted_keys(Config()))
    assert "sources.live.websocket[].kind" in rows
    assert "sources.live.tcp[].port" in rows


@pytest.mark.parametrize(
    ("key", "row"),
    [
        ("http.workers", "| one per CPU | 1-256 | gunicorn workers;"),
        ("http.port", "| `8080` | 1-65535 | the port the API listens on (env `MARKETFLOW_HTTP_PORT`) |"),
        ("sources.max_price", "| `1000000000000.0` | > 0, ≤ 1e+15 |"),
        ("redis.retry_after", "| `2.0` | ≥ 0 |"),
        ("sources.live.tcp[].name", "| (required) |  |"),
        ("sources.live.websocket[].url", "| the exchange's documented endpoint |"),
        ("proxy.mode", "| `disabled` | `static`, `rotating`, `disabled` |"),
        ("proxy.enabled", "| `false` |"),
        ("http.admin_token", "| none |"),
        ("symbols", "| `BTCUSDT`, `DOGEUSDT`, `TONUSDT`, `SOLUSDT`, `ETHUSDT` |"),
    ],
)
def test_a_row_shows_the_default_and_the_range(key: str, row: str) -> None:
    (line,) = [line for line in reference.table().splitlines() if line.startswith(f"| `{key}` |")]
    assert row in line


def test_only_numbers_have_bounds() -> None:
    def bounded(cls: type) -> list[tuple[str, object]]:
        hints = typing.get_type_hints(cls)
        found = []
        for field in dataclasses.fields(cls):
            hint = hints[field.name]
            entry = typing.get_args(hint)[0] if typing.get_origin(hint) is list else hint
            if dataclasses.is_dataclass(entry):
                found += bounded(entry)
            if not dataclasses.is_dataclass(hint) and declared(field).range():
                found.append((field.name, hint))
        return found

    assert {hint for _, hint in bounded(Config)} == {int, float}


def test_the_table_is_written_between_the_markers() -> None:
    readme = f"intro\n{reference.BEGIN}\nstale\n{reference.END}\nafter\n"
    assert reference.spliced(readme) == f"intro\n{reference.BEGIN}\n{reference.table()}\n{reference.END}\nafter\n"
    with pytest.raises(ValueError, match="markers are missing"):
        reference.spliced("no table here")
