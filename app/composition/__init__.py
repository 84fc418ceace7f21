"""The composition root: the one place that picks adapters and wires services.

- ``build.py``: ``build_container(config, *, cache=..., spool=..., ...)`` builds the
  whole process from its configuration, taking a substitute for any port
  (an in-memory store, cache or spool, a fixed set of sources) so tests can
  drive the same graph; every listener and callback between services is connected
  there, and nowhere else.
- ``adapters.py``: each real adapter built from its configuration section.
- ``sources.py``: the feeds of each mode.
- ``pipeline.py``: the pipeline's parts and the queues between them.
- ``container.py``: the wired process, started and stopped as a whole.
- ``flask_app.py``: ``create_app(container)``, the HTTP face of a built container.

Building is free of side effects (no connection, no greenlet); ``start`` and
``stop`` are called by the server process only.
"""

from app.composition.build import build_container
from app.composition.container import Container
from app.composition.flask_app import create_app

__all__ = ["Container", "build_container", "create_app"]
