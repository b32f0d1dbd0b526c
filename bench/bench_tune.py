"""make bench-tune: trials per hour of one search run by one worker, then by two, on this machine.

The same random search (many_to_one on GunPoint, 8 trials of at most 10 epochs, seed 42) is run
twice in fresh folders, with WORKERS=1 (in this process) and WORKERS=2 (a chief and two worker
processes), each timed as a whole `make tune`: start-up, the 8 trials, the reports and the one
retraining of the winner. Writes the table into docs/pages/benchmarks/tune.md.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from bench.readme_tables import write_table  # noqa: E402
from tuning import TuneConfig, tune  # noqa: E402

TRIALS = 8


def timed_search(workers, tune_dir):
    config = TuneConfig(task="many_to_one", max_trials=TRIALS, epochs=10, tune_dir=tune_dir, workers=workers)
    started = time.perf_counter()
    tune(config, verbose=0)
    return time.perf_counter() - started


def main():
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for workers in (1, 2):
            seconds = timed_search(workers, str(Path(workdir) / f"w{workers}"))
            rows.append((workers, seconds, TRIALS * 3600 / seconds))
            print(rows[-1], flush=True)
    table = "\n".join([
        "| workers | trials | seconds | trials per hour |",
        "|---|---|---|---|",
        *(f"| {w} | {TRIALS} | {s:.0f} | {t:.0f} |" for w, s, t in rows),
    ])
    print(table)
    write_table("bench-tune", table)


if __name__ == "__main__":
    main()
