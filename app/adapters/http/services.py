"""How a request reaches the wired services: through the app's extensions."""

from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from app.composition import Container

EXTENSION_KEY = "marketflow"


def services() -> "Container":
    return current_app.extensions[EXTENSION_KEY]
