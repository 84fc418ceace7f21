"""Time as the service counts it: Unix milliseconds, and the units it measures them in.

Every bucket, stored row and candle starts on a multiple of its grain (a
tenth, second, minute, hour, day or candle interval) counted from the Unix
epoch, so each grain's grid lines up with every coarser grain it divides.
"""

MS_PER_TENTH = 100
MS_PER_SECOND = 1000
MS_PER_MINUTE = 60 * MS_PER_SECOND
MS_PER_HOUR = 60 * MS_PER_MINUTE
MS_PER_DAY = 24 * MS_PER_HOUR
