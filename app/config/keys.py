"""How a configuration key is declared: what it means, how its default reads, and its range.

Each field of the schema carries one ``Key`` in its metadata, so the loader's
range checks and the README's configuration table come from one declaration
instead of three places that drift apart.
"""

import dataclasses
from collections.abc import Callable
from typing import Any

METADATA = "key"


@dataclasses.dataclass(frozen=True)
class Key:
    """``doc`` is markdown for the README; ``shown`` is the default as it reads there, where the value can't say it
    (decided at runtime, or "" standing for the exchange's own). The bounds are inclusive (``at_least``,
    ``at_most``) or exclusive (``above``); ``noun`` names what an in-range value is, for a refusal quoting it."""

    doc: str
    shown: str = ""
    above: float | None = None
    at_least: float | None = None
    at_most: float | None = None
    noun: str = ""

    def allows(self, value: float) -> bool:
        """Written as comparisons that must hold, so NaN (which fails every comparison) is outside any bound."""
        return (
            (self.above is None or value > self.above)
            and (self.at_least is None or value >= self.at_least)
            and (self.at_most is None or value <= self.at_most)
        )

    def refusal(self, value: float) -> str:
        """Why ``value`` is out of range, naming the range (the loader puts the key in front)."""
        return f"{value} is not a valid {self.noun} ({self.range()})" if self.noun else f"must {self._rule()}"

    def _rule(self) -> str:
        low, high = self.at_least, self.at_most
        if low is not None and high is not None:
            return f"be from {_number(low)} to {_number(high)}"
        if low == 0:
            return "not be negative"
        parts = []
        if self.above is not None:
            parts.append("greater than zero" if self.above == 0 else f"greater than {_number(self.above)}")
        if low is not None:
            parts.append(f"at least {_number(low)}")
        if high is not None:
            parts.append(f"at most {_number(high)}")
        return "be " + " and ".join(parts)

    def range(self) -> str:
        """The range in short, as the README's table shows it ("" when the key has none)."""
        low, high = self.at_least, self.at_most
        if low is not None and high is not None:
            return f"{_number(low)}-{_number(high)}"
        parts = []
        if self.above is not None:
            parts.append(f"> {_number(self.above)}")
        if low is not None:
            parts.append(f"≥ {_number(low)}")
        if high is not None:
            parts.append(f"≤ {_number(high)}")
        return ", ".join(parts)


def _number(value: float) -> str:
    return f"{value:g}"


def key(
    default: Any = dataclasses.MISSING,
    *,
    doc: str,
    factory: Callable[[], Any] | None = None,
    shown: str = "",
    above: float | None = None,
    at_least: float | None = None,
    at_most: float | None = None,
    noun: str = "",
) -> Any:
    """A schema field with its ``Key``: ``default``, or ``factory`` for a mutable one, or neither for a required key.

    Typed ``Any`` like ``dataclasses.field``: the field's annotation is its type.
    """
    metadata = {METADATA: Key(doc, shown, above, at_least, at_most, noun)}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def port(default: Any = dataclasses.MISSING, *, doc: str) -> Any:
    """A TCP port key: 1-65535."""
    return key(default, doc=doc, at_least=1, at_most=65535, noun="TCP port")


def declared(field: dataclasses.Field[Any]) -> Key:
    """The ``Key`` of a schema field; every key has one (a section, a nested dataclass, needs none)."""
    return field.metadata[METADATA]
