"""The edges: HTTP, Redis, PostgreSQL, feeds and the server process."""
