"""The server process: gunicorn settings and hooks, the console script, logging."""
