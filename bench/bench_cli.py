"""make bench-cli: how long `rnn-zoo --help`, `tasks` and `presets` take to answer, and how long a
command that loads TensorFlow takes to start, each a fresh process as a user types it.

The commands run in turns (help, tasks, presets, import; again), TURNS turns, and each figure is the
median wall time. Listing reads the registry without TensorFlow (issue 27's target: well under a
second); `import` is `python -c "import tensorflow"`, what every training, tuning or export command
pays before its first step. Writes the table into docs/pages/benchmarks/cli.md.
"""

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.readme_tables import write_table

TURNS = 7
ZOO = str(Path(sys.executable).with_name("rnn-zoo"))
COMMANDS = {
    "rnn-zoo --help": [ZOO, "--help"],
    "rnn-zoo tasks": [ZOO, "tasks"],
    "rnn-zoo presets": [ZOO, "presets"],
    "python -c 'import tensorflow' (what train, tune and export start with)": [sys.executable, "-c",
                                                                              "import tensorflow"],
}


def seconds(command):
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return time.perf_counter() - started


def main():
    for command in COMMANDS.values():  # once each first: the file system's caches, as a user's second call
        seconds(command)
    times = {name: [] for name in COMMANDS}
    for _ in range(TURNS):
        for name, command in COMMANDS.items():
            times[name].append(seconds(command))
    rows = ["| command | median wall time | fastest | slowest |", "|---|---|---|---|"]
    rows += [f"| `{name}` | {statistics.median(t):.2f} s | {min(t):.2f} s | {max(t):.2f} s |"
             for name, t in times.items()]
    table = "\n".join(rows) + (f"\n\n{TURNS} turns, fresh processes, {os.cpu_count()} cores; measured with "
                               "`make bench-cli`.")
    print(table)
    write_table("bench-cli", table)


if __name__ == "__main__":
    main()
