"""How a computed figure (a sum of quantities, a VWAP, an average price) is shown to a trader.

Prices and quantities arrive as decimal strings and are held as binary
floats: a single one prints back as written, but a sum or a ratio of them
carries binary noise (0.1 + 0.2 + 0.3 is 0.6000000000000001). Exact decimal
arithmetic would have to reach into every place a figure is merged (the
collector, Redis' Lua merges of packed doubles, PostgreSQL's float8 rollups)
for digits nobody reads, so figures are rounded where they are shown instead,
to the significant digits a float sum of that many figures keeps: a float64
holds 15 to 17, and the rounding errors of ``n`` additions grow like
``sqrt(n)`` ulps, so 15 digits for fewer than 100 figures, one fewer per
further factor of 100, and 12 at least (a million figures and more). The
noise goes, and no digit the figure really has: a candle's volume of a few
trades in 8-decimal steps prints exactly, as does an average of three prices
near the 10^12 bound to the third decimal.
"""

import math

MOST_DIGITS = 15
LEAST_DIGITS = 12


def shown(value: float | None, count: int) -> float | None:
    """``value``, computed from ``count`` figures, rounded to the digits that sum keeps; None stays None."""
    if value is None:
        return None
    digits = max(LEAST_DIGITS, MOST_DIGITS - int(math.log10(max(count, 1)) // 2))
    return float(f"{value:.{digits}g}")
