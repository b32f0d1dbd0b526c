"""Whether a run compiles its training steps with XLA (`jit_compile`), chosen by measurement.

`make bench-train` times a training step of each cell, hidden size, length, masked or not and one
or two directions, with and without XLA, and writes the speed-ups to xla_speedups.json beside this
file, under the kind of device it ran on (`device_kind()`: the GPU's name, else the CPU's model and
core count). A run left to choose (JIT_COMPILE unset) takes XLA where the nearest configuration
measured on its own kind of device, of its cell, masking and direction, ran at least THRESHOLD times
faster with it, and where the time that saves over the run's training examples is more than XLA
takes to compile (the row's first step with XLA against its first without: a short run spends
longer compiling than it saves); with no measurement of its device it does without, and says so.
XLA compiles once for every input shape, so a run whose batches change shape (bucketing by length)
does without it, and so does a run on several workers (TensorFlow has no XLA collectives for the CPU).
"""

import json
import math
import os
import platform
from pathlib import Path

SPEEDUPS = Path(__file__).with_name("xla_speedups.json")
# Faster by less than this is within what the machine's drift can show between two timings.
THRESHOLD = 1.1
DISTRIBUTED = "XLA cannot compile tf.distribute's all-reduce on the CPU"


def faster_with_xla(speedup):
    return speedup >= THRESHOLD


def device_kind():
    """What a run's training steps run on, as the measurements are keyed: "GPU <name>" for the first
    GPU TensorFlow sees, else "CPU <model> (<n> cores)"."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return f"GPU {tf.config.experimental.get_device_details(gpus[0]).get('device_name', 'unknown')}"
    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")),
                         model)
    except OSError:
        pass
    return f"CPU {model} ({os.cpu_count()} cores)"


def measured(device):
    """The rows measured on `device` (a device_kind()); [] where it was never measured."""
    devices = json.loads(SPEEDUPS.read_text())["devices"] if SPEEDUPS.exists() else {}
    return devices.get(device, {}).get("rows", [])


def choose(architecture, masked, steps, bucketing, distributed=False, rows=None, device=None,  # noqa: PLR0913
           examples=None):
    """(use XLA, why) for a run of `architecture` over `steps` recurrent steps on `device` (this
    machine's device_kind() by default) that trains on `examples` examples in all (epochs x training
    examples; None: as many as it takes); `rows` stands for that device's measurements."""
    if distributed:
        return False, DISTRIBUTED
    if bucketing:
        return False, "batches bucketed by length change shape, and XLA compiles every shape anew"
    if rows is None:
        device = device or device_kind()
        rows = measured(device)
        if not rows:
            return False, f"no XLA measurement on this device ({device}); make bench-train measures it"
    alike = [r for r in rows if r["cell"] == architecture.cell and r["masked"] == masked
             and r["bidirectional"] == architecture.bidirectional]
    if not alike:
        return False, "no measurement of this cell, masking and direction"
    units = max(architecture.layer_units)

    def distance(row):
        return abs(math.log(row["units"] / units)) + abs(math.log(row["steps"] / max(steps, 1)))

    nearest = min(alike, key=distance)
    faster = faster_with_xla(nearest["xla_speedup"])
    said = (f"XLA ran {nearest['xla_speedup']:.2f}x as fast for {architecture.cell} {nearest['units']} over "
            f"{nearest['steps']} {'masked ' if masked else ''}steps")
    if faster and examples is not None and "xla_compile_s" in nearest:
        saved = (nearest["keras_ms"] - nearest["xla_ms"]) / 1000 * examples / nearest["batch"]
        if saved < nearest["xla_compile_s"]:
            return False, (f"{said}, but would save about {saved:.1f} s over this run's {examples:,} "
                           f"training examples, less than the {nearest['xla_compile_s']:.1f} s it takes to "
                           "compile (make bench-train)")
    return faster, f"{said} (make bench-train)"
