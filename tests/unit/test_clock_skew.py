from app.domain.clock_skew import SAMPLES, ClockSkew, SkewSummary


def test_no_samples_no_figures_and_no_flag() -> None:
    assert ClockSkew(500).summary() == SkewSummary(p50_ms=None, p99_ms=None, last_ms=None, flagged=False)


def test_median_and_p99_are_samples_and_the_median_alone_flags() -> None:
    skew = ClockSkew(500)
    for received in (1300, 1100, 1200, 9000):  # one late outlier: skews 300, 100, 200, 8000
        skew.add(received, 1000)
    assert skew.summary() == SkewSummary(p50_ms=300.0, p99_ms=8000.0, last_ms=8000.0, flagged=False)
    for _ in range(5):
        skew.add(400, 1000)  # the exchange's clock 600 ms ahead of ours
    assert skew.summary() == SkewSummary(p50_ms=-600.0, p99_ms=8000.0, last_ms=-600.0, flagged=True)


def test_only_the_last_samples_count() -> None:
    skew = ClockSkew(500)
    for i in range(SAMPLES + 10):
        skew.add(i, 0)
    summary = skew.summary()
    assert (summary.p50_ms, summary.p99_ms, summary.last_ms) == (1010, 1990, SAMPLES + 9)
