"""Adapters on this host's own disk, besides the spool."""
