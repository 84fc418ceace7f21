"""Redis: the latest prices and the rolling window of raw ticks."""
