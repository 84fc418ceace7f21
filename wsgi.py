"""The WSGI entry point: ``gunicorn -c gunicorn.conf.py wsgi:app`` and ``flask --app wsgi``."""

import sys

from app.composition import create_app
from app.config.loader import ConfigError

try:
    app = create_app()
except ConfigError as exc:
    sys.exit(f"marketflow: invalid configuration: {exc}")
