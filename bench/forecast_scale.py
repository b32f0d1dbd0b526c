"""The forecaster at scale (make bench-train; `python -m bench.forecast_scale` alone): 10,000
generated random walks of 500 steps, trained for a few hundred batches of windows drawn on the fly.
Training windows per second, and the peak memory the process gains over its size with TensorFlow
loaded, less what the same run gains on 8 series (the model, its graph, the pipeline), against the
data's own size (issue 24's target: at most 3x). Writes its table into docs/pages/benchmarks/train.md and
bench/forecast_scale.json. QUICK=1: 1,000 series.
"""

import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

from bench.readme_tables import write_table
from zoo.training import TrainConfig

QUICK = os.environ.get("QUICK") == "1"
RESULTS = Path(__file__).with_name("forecast_scale.json")


class PeakMemory:
    """The process's highest resident size while the block runs, polled every 5 ms."""

    def __enter__(self):
        self.process, self.peak, self.running = psutil.Process(), 0, True
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()
        return self

    def _poll(self):
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.005)

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()


def _fit(panel, batches, seed=0):
    """Builds the task's default model for `panel` and trains it on `batches` batches of windows."""
    import keras

    from zoo.registry import get_task
    from zoo.tasks.forecasting import panel_dataset, windows
    from zoo.training import compile_model

    config = TrainConfig(task="forecasting", seed=seed).resolved()
    data = panel_dataset("generated", panel)
    task = get_task("forecasting")
    model = compile_model(task.build(data.spec, config.architecture), config, data.spec, 1, batches)
    train, _, _ = windows(data, config)
    keras.utils.set_random_seed(seed)
    started = time.perf_counter()
    model.fit(train.repeat().take(batches), epochs=1, shuffle=False, verbose=0)
    return batches * config.batch_size / (time.perf_counter() - started)


def scale(series=1_000 if QUICK else 10_000, steps=500, batches=300):
    """Windows per second and the memory gained, training on `series` random walks of `steps` values."""
    from zoo.panel import Panel

    rng = np.random.default_rng(0)
    tiny = Panel.from_series([100 + rng.normal(size=steps).cumsum() for _ in range(8)], "D")
    _fit(tiny, 20)  # TensorFlow warm
    before = psutil.Process().memory_info().rss
    with PeakMemory() as memory:  # what the same run costs without the data: model, graph, pipeline
        _fit(tiny, batches)
    overhead = memory.peak - before
    before = psutil.Process().memory_info().rss
    with PeakMemory() as memory:  # the data made in place, series by series, as a loader would hold it
        values = np.empty(series * steps, dtype="float32")
        for i in range(series):
            values[i * steps:(i + 1) * steps] = 100 + rng.normal(size=steps).cumsum()
        panel = Panel(tuple(map(str, range(series))), values, np.arange(series + 1) * steps,
                      (pd.Timestamp("2000-01-01"),) * series, "D")
        rate = _fit(panel, batches)
    data_bytes = panel.values.nbytes
    gained = memory.peak - before
    return {"series": series, "steps": steps, "data_mb": data_bytes / 2**20, "gained_mb": gained / 2**20,
            "overhead_mb": overhead / 2**20, "ratio": (gained - overhead) / data_bytes,
            "windows_per_second": rate}


def scale_row(s):
    """bench-train's scale table for the figures `scale` returns."""
    return ("| series x steps | data | peak memory gained | the same run on 8 series | "
            "(gained - that) / data | training windows/s |\n|---|---|---|---|---|---|\n"
            f"| {s['series']:,} x {s['steps']} | {s['data_mb']:.1f} MB | {s['gained_mb']:.1f} MB | "
            f"{s['overhead_mb']:.1f} MB | {s['ratio']:.2f}x "
            f"({'met' if s['ratio'] <= 3 else 'missed'}: target <= 3x) | "
            f"{s['windows_per_second']:,.0f} |")


def main():
    figures = scale()
    table = scale_row(figures)
    print(table)
    if not QUICK:
        RESULTS.write_text(json.dumps(figures, indent=1) + "\n")
        write_table("bench-forecast-scale", table)


if __name__ == "__main__":
    main()
