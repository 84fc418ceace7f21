"""A real exchange over WebSocket: the feed (its symbols, listing and connections), one connection's life, and
one connection's subscriptions."""
