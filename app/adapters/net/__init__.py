"""Outbound connections: the one place feeds open sockets (direct or, later, proxied)."""
