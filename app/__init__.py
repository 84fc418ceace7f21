"""marketflow: real-time crypto market data.

The package is hexagonal: ``domain`` holds pure rules, ``application`` the
services that orchestrate them through ``application.ports``, ``adapters``
the edges (HTTP, Redis, PostgreSQL, feeds, server), and ``composition`` wires
them together.
"""
