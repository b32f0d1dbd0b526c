"""Whether a run compiles its training steps with XLA (`jit_compile`), chosen by measurement.

`make bench-train` times a training step of each cell, hidden size, length, masked or not and one
or two directions, with and without XLA, and writes the speed-ups to xla_speedups.json beside this
file. A run left to choose (JIT_COMPILE unset) takes XLA where the nearest measured configuration
of its cell, masking and direction ran at least THRESHOLD times faster with it. XLA compiles once
for every input shape, so a run whose batches change shape (bucketing by length) does without it,
and so does a run on several workers (TensorFlow has no XLA collectives for the CPU).
"""

import json
import math
from pathlib import Path

SPEEDUPS = Path(__file__).with_name("xla_speedups.json")
# Faster by less than this is within what the machine's drift can show between two timings.
THRESHOLD = 1.1
DISTRIBUTED = "XLA cannot compile tf.distribute's all-reduce on the CPU"


def faster_with_xla(speedup):
    return speedup >= THRESHOLD


def measured():
    return json.loads(SPEEDUPS.read_text())["rows"] if SPEEDUPS.exists() else []


def choose(architecture, masked, steps, bucketing, distributed=False, rows=None):  # noqa: PLR0913
    """(use XLA, why) for a run of `architecture` over `steps` recurrent steps."""
    if distributed:
        return False, DISTRIBUTED
    if bucketing:
        return False, "batches bucketed by length change shape, and XLA compiles every shape anew"
    rows = measured() if rows is None else rows
    alike = [r for r in rows if r["cell"] == architecture.cell and r["masked"] == masked
             and r["bidirectional"] == architecture.bidirectional]
    if not alike:
        return False, "no measurement of this cell, masking and direction"
    units = max(architecture.layer_units)

    def distance(row):
        return abs(math.log(row["units"] / units)) + abs(math.log(row["steps"] / max(steps, 1)))

    nearest = min(alike, key=distance)
    faster = faster_with_xla(nearest["xla_speedup"])
    return faster, (f"XLA ran {nearest['xla_speedup']:.2f}x as fast for {architecture.cell} "
                    f"{nearest['units']} over {nearest['steps']} {'masked ' if masked else ''}steps "
                    f"(make bench-train)")
