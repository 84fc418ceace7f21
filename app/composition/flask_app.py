"""``create_app(container)``: the HTTP face of a built container (the blueprints, their services, the CLI).

It takes a container already built, so the server (``wsgi.py``) and the
tests (Flask's test client, in-process) serve the very same graph.
"""

from flask import Flask

from app.adapters.http import register_http
from app.adapters.http.metrics import instrument_requests
from app.adapters.http.services import EXTENSION_KEY, HttpServices
from app.adapters.server.flask_commands import marketflow_commands
from app.adapters.server.runtime import RUNTIME_KEY
from app.composition.container import Container

# Control requests carry at most a few proxy URLs.
MAX_BODY_BYTES = 64 * 1024


def create_app(container: Container) -> Flask:
    """The Flask app over the container's services, wired but idle: nothing connects or runs yet."""
    app = Flask("marketflow", static_folder=None)  # the dashboard blueprint serves /static
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.extensions[RUNTIME_KEY] = container
    app.extensions[EXTENSION_KEY] = HttpServices(
        container.queries,
        container.candles,
        container.catalogue,
        container.modes,
        container.health,
        container.proxy,
        container.control,
        container.stream,
        container.market,
        container.access,
        container.metrics,
    )
    register_http(app)
    instrument_requests(app, container.metrics, container.process)
    app.cli.add_command(marketflow_commands)
    return app
