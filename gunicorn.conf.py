"""gunicorn configuration: ``gunicorn -c gunicorn.conf.py wsgi:app``. See app/adapters/server."""

from app.adapters.server.gunicorn_settings import *  # noqa: F403
