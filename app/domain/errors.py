"""Errors the domain raises; adapters translate them into HTTP codes or counters."""


class DomainError(ValueError):
    """Base of every rule violation the domain reports."""


class InvalidPeriod(DomainError):
    """A period string that is not a positive whole number of s/m/h/d within bounds."""


class UnknownSymbol(DomainError):
    """A symbol that is not in the configured market."""


class UnknownExchange(DomainError):
    """An exchange that no configured source produces."""


class InvalidTick(DomainError):
    """A trade that cannot become a tick; ``reason`` is a short counter label."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
