"""marketflow: real-time crypto market data.

The package is hexagonal: ``domain`` holds pure rules, ``application`` the
services that orchestrate them through ``application.ports`` (by concern: storage, feeds, coordination), ``adapters``
the edges (HTTP, Redis, PostgreSQL, feeds, server), and ``composition`` wires
them together.
"""
