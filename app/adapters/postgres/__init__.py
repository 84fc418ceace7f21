"""PostgreSQL: exact per-minute aggregates in ``market_data``."""
