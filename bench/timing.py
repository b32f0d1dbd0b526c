"""Timing in turns: what every benchmark here uses to compare calls on a machine whose speed drifts."""

import statistics
import time


def paired_timings(calls, seconds=3.0, block_ms=5.0, min_turns=15):
    """`calls` timed in turns (a, b, c, a, b, c, ...) for `seconds`, each turn a block of about
    `block_ms`, so that the machine's drift hits every call alike: the same graph timed a minute
    apart differed by up to 50% here, and neighbouring turns far less.

    Returns each call's median milliseconds, and for each later call the quartiles (25%, 50%, 75%)
    of the first call's time over its time in the same turn.
    """
    for call in calls:
        call()
    started = time.perf_counter()
    calls[0]()
    repeats = max(1, round(block_ms / 1000 / (time.perf_counter() - started)))
    turns = []
    deadline = time.perf_counter() + seconds
    while len(turns) < min_turns or time.perf_counter() < deadline:
        turn = []
        for call in calls:
            started = time.perf_counter()
            for _ in range(repeats):
                call()
            turn.append(1000 * (time.perf_counter() - started) / repeats)
        turns.append(turn)
    medians = [statistics.median(turn[i] for turn in turns) for i in range(len(calls))]
    ratios = [statistics.quantiles([turn[0] / turn[i] for turn in turns], n=4) for i in range(1, len(calls))]
    return medians, ratios


def ratio_text(quartiles):
    """The median ratio, and the middle half of the turns' ratios."""
    low, median, high = quartiles
    return f"{median:.2f}x ({low:.2f}-{high:.2f})"
