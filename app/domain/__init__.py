"""Pure market-data rules: no I/O, no gevent, no clocks."""
