"""Wire formats of the API's values.

Instants are written by the domain's ``iso_ms``, which the application's
texts about time (trade gaps) use too, so that every answer spells a time alike.
"""

from app.domain.iso_instant import iso_ms

__all__ = ["iso_ms"]
