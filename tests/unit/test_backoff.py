import random

from app.application.backoff import Backoff


def test_full_jitter_draws_from_zero_to_the_ceiling() -> None:
    random.seed(12)
    backoff = Backoff(initial=1.0, maximum=8.0)
    firsts = []
    for _ in range(2000):
        firsts.append(backoff.next_delay())
        backoff.connection_ended(lasted=60.0)  # stayed up: the next delay starts again from the first ceiling
    assert 0.0 <= min(firsts) < 0.01
    assert 0.99 < max(firsts) <= 1.0
    assert sum(d < 0.5 for d in firsts) > 900  # half the draws lie below half the ceiling
    delays = [backoff.next_delay() for _ in range(6)]
    assert all(0.0 <= d <= c for d, c in zip(delays, [1, 2, 4, 8, 8, 8], strict=True))
