"""make bench-forecast: the forecasting task's defaults on real series, beside statsforecast's baselines.

Each bundled set (M1 yearly: 181 series; airline passengers, monthly; sunspots, yearly; solar
generation, half-hourly) is trained with the task's defaults, nothing chosen per set, over three
seeds, with `rnn-zoo train`'s own code. Every run fits the baselines on the same cut-off (the last
horizon of every series is the test window) and scores both alike (zoo.scores). The targets of
issue 24 are checked and every miss is given with its margin.

Scale: 10,000 generated series of 500 steps, trained for a few hundred batches of windows drawn on
the fly: windows per second, and the peak memory the process gains over its size with TensorFlow
loaded and a model already trained on a tiny panel, against the data's own size (target: at most 3x).

Writes README.md's tables between their markers and the raw figures into
bench/forecast_results.json. QUICK=1: one seed, two sets, 3 epochs, 1,000 series.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import json  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import psutil  # noqa: E402

from bench.readme_tables import write_table  # noqa: E402
from zoo.training import TrainConfig, train  # noqa: E402

QUICK = os.environ.get("QUICK") == "1"
SETS = ("m1_yearly", "airline") if QUICK else ("m1_yearly", "airline", "sunspots", "solar")
SEEDS = (42,) if QUICK else (42, 1, 2)
RESULTS = Path(__file__).with_name("forecast_results.json")
SCORES = ("mase", "smape", "scaled_ql", "coverage_80", "coverage_95")


def run(dataset, seed, root):
    config = TrainConfig(task="forecasting", dataset=dataset, seed=seed, **({"epochs": 3} if QUICK else {}))
    run_dir = train(config, run_dir=Path(root) / f"{dataset}-{seed}", verbose=0)
    return json.loads((run_dir / "metrics.json").read_text())


def neuralforecast_lstm(dataset, seed, max_steps=500):
    """neuralforecast's LSTM (MQLoss over the same levels, its robust scaler, `max_steps` steps) on the
    same series, cut-off and context size; its validation is the same horizon before the test window.
    None where neuralforecast (make bench-setup installs it) is not installed."""
    try:
        from neuralforecast import NeuralForecast
        from neuralforecast.losses.pytorch import MQLoss
        from neuralforecast.models import LSTM
    except ImportError:
        return None
    import logging

    from zoo.baselines import long_frame
    from zoo.quantiles import column_names
    from zoo.registry import get_task
    from zoo.scores import mase_scales, score

    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    series = get_task("forecasting").load(dataset).series
    history, actual = series.at(series.horizon)
    model = LSTM(h=series.horizon, input_size=series.input_size, loss=MQLoss(level=list(series.levels)),
                 max_steps=max_steps, random_seed=seed, start_padding_enabled=True, enable_progress_bar=False,
                 logger=False, enable_model_summary=False, accelerator="cpu")
    engine = NeuralForecast(models=[model], freq=history.freq)
    started = time.perf_counter()
    engine.fit(long_frame(history)[0], val_size=series.horizon)
    out = engine.predict().set_index("unique_id").loc[list(history.ids)]
    seconds = time.perf_counter() - started
    paths = np.stack([out["LSTM-median" if name == "forecast" else f"LSTM-{name}"].to_numpy()
                      .reshape(len(history), series.horizon) for name in column_names(series.levels)], -1)
    return {**score(actual, paths, mase_scales(history, series.season), series.levels), "seconds": seconds}


def _mean_sd(values):
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def verdicts(model_mase, coverage, baselines):
    """Issue 24's targets for one set: each met or missed, with its margin."""
    out = []
    for name in ("Naive", "SeasonalNaive"):
        margin = baselines[name]["mase"] - model_mase
        out.append(f"MASE below {name}: {'met' if margin > 0 else 'missed'} ({margin:+.3f})")
    best = min(("AutoETS", "AutoTheta"), key=lambda name: baselines[name]["mase"])
    margin = baselines[best]["mase"] - model_mase
    out.append(f"MASE at or below {best}: {'met' if margin >= 0 else 'missed'} ({margin:+.3f})")
    for level in (80, 95):
        gap = coverage[level] - level / 100
        out.append(f"coverage {level}: {'met' if abs(gap) <= 0.05 else 'missed'} ({gap * 100:+.1f} points)")
    return out


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
    """README's scale table for the figures `scale` returns."""
    return ("| series x steps | data | peak memory gained | the same run on 8 series | "
            "(gained - that) / data | training windows/s |\n|---|---|---|---|---|---|\n"
            f"| {s['series']:,} x {s['steps']} | {s['data_mb']:.1f} MB | {s['gained_mb']:.1f} MB | "
            f"{s['overhead_mb']:.1f} MB | {s['ratio']:.2f}x "
            f"({'met' if s['ratio'] <= 3 else 'missed'}: target <= 3x) | "
            f"{s['windows_per_second']:,.0f} |")


def main():
    figures = {}
    with tempfile.TemporaryDirectory(prefix="bench-forecast-") as root:
        for dataset in SETS:
            runs = [run(dataset, seed, root) for seed in SEEDS]
            model = {score: _mean_sd([r["test"][score] for r in runs]) for score in SCORES}
            figures[dataset] = {"model": model, "seconds": statistics.mean(r["train_seconds"] for r in runs),
                                "baselines": runs[0]["baselines"], "data": runs[0]["data"]}
            lstm = [neuralforecast_lstm(dataset, seed) for seed in SEEDS]
            if lstm[0] is not None:
                figures[dataset]["neuralforecast_lstm"] = {
                    **{score: _mean_sd([r[score] for r in lstm]) for score in SCORES},
                    "seconds": statistics.mean(r["seconds"] for r in lstm)}
            print(dataset, {k: round(v[0], 3) for k, v in model.items()}, flush=True)
    rows = ["| set (series, horizon) | model | MASE | sMAPE | scaled QL | coverage 80 | coverage 95 "
            "| seconds |", "|---|---|---|---|---|---|---|---|"]
    notes = []
    for dataset, f in figures.items():
        d = f["data"]
        label = f"{dataset} ({d['series']}, {d['horizon']})"
        m = f["model"]
        rows.append(f"| {label} | **rnn-zoo** ({len(SEEDS)} seeds) | **{m['mase'][0]:.3f}** "
                    f"± {m['mase'][1]:.3f} | "
                    f"{m['smape'][0]:.2f} | {m['scaled_ql'][0]:.4f} | {m['coverage_80'][0]:.3f} | "
                    f"{m['coverage_95'][0]:.3f} | {f['seconds']:.0f} |")
        if "neuralforecast_lstm" in f:
            n = f["neuralforecast_lstm"]
            rows.append(f"| | neuralforecast LSTM (500 steps, {len(SEEDS)} seeds) | {n['mase'][0]:.3f} ± "
                        f"{n['mase'][1]:.3f} | {n['smape'][0]:.2f} | {n['scaled_ql'][0]:.4f} | "
                        f"{n['coverage_80'][0]:.3f} | {n['coverage_95'][0]:.3f} | {n['seconds']:.0f} |")
        for name, b in f["baselines"].items():
            rows.append(f"| | {name} | {b['mase']:.3f} | {b['smape']:.2f} | {b['scaled_ql']:.4f} | "
                        f"{b['coverage_80']:.3f} | {b['coverage_95']:.3f} | {b['seconds']:.1f} |")
        checks = verdicts(m["mase"][0], {80: m["coverage_80"][0], 95: m["coverage_95"][0]}, f["baselines"])
        if "neuralforecast_lstm" in f:
            margin = f["neuralforecast_lstm"]["mase"][0] - m["mase"][0]
            checks.append(f"MASE at or below neuralforecast's LSTM: {'met' if margin >= 0 else 'missed'} "
                          f"({margin:+.3f})")
        notes.append(f"- {dataset}: " + "; ".join(checks))
    table = "\n".join(rows) + "\n\n" + "\n".join(notes)
    print(table)
    s = scale()
    scale_table = scale_row(s)
    print(scale_table)
    if not QUICK:
        RESULTS.write_text(json.dumps({**figures, "scale": s}, indent=2, sort_keys=True))
        write_table("bench-forecast", table)
        write_table("bench-forecast-scale", scale_table)


if __name__ == "__main__":
    main()
