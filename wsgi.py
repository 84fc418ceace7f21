"""The WSGI entry point: ``gunicorn -c gunicorn.conf.py wsgi:app`` and ``flask --app wsgi``."""

import sys

from app.composition import build_container, create_app
from app.config.loader import ConfigError, load_config

try:
    app = create_app(build_container(load_config()))
except ConfigError as exc:
    sys.exit(f"marketflow: invalid configuration: {exc}")
