"""make bench-forecast: the forecasting task's defaults on real series, beside statsforecast's baselines.

Each bundled set (M1 yearly: 181 series; airline passengers, monthly; sunspots, yearly; solar
generation, half-hourly) is trained with the task's defaults, nothing chosen per set, over three
seeds, with `rnn-zoo train`'s own code. Every run fits the baselines on the same cut-off (the last
horizon of every series is the test window) and scores both alike (zoo.scores). The targets of
issue 24 are checked and every miss is given with its margin.

Covariates: the same, with and without what the model may read beside the series, on two sets:
uschange (real: quarterly US consumption with income, production, savings and unemployment known
over the horizon, as FPP3's ex-post forecasts) and a generated table of daily shop sales (promotions
announced in advance, a weekly pattern read from the calendar, each shop's size), trained from its
file as a user would. statsforecast's AutoARIMA and neuralforecast's LSTM read the same covariates.

Writes its tables into docs/pages/benchmarks/forecast.md between their markers and the raw figures into
bench/forecast_results.json. QUICK=1: one seed, two sets and one covariate set, 3 epochs, no DeepAR.
(Training speed and memory at scale are make bench-train's: bench.forecast_scale.)
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import json  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench.readme_tables import write_table  # noqa: E402
from zoo.training import TrainConfig, train  # noqa: E402

QUICK = os.environ.get("QUICK") == "1"
SETS = ("m1_yearly", "airline") if QUICK else ("m1_yearly", "airline", "sunspots", "solar")
SEEDS = (42,) if QUICK else (42, 1, 2)
RESULTS = Path(__file__).with_name("forecast_results.json")
SCORES = ("mase", "smape", "scaled_ql", "coverage_80", "coverage_95")


COVARIATE_SETS = ("uschange", "shops")


def uschange(path):
    """The bundled uschange set as a long table; returns its options for rnn-zoo."""
    from zoo.registry import get_task

    panel = get_task("forecasting").load("uschange").series.panel
    frame = pd.DataFrame({"unique_id": "uschange", "ds": panel.dates(0), "y": panel.series(0),
                          **dict(zip(panel.futr, panel.exog.T))})
    frame.to_csv(path, index=False)
    return {"futr": ",".join(panel.futr)}


def shops(path, count=40, seed=0):
    """Daily sales of `count` shops over 300-400 days: a weekly pattern of each shop's own depth, a
    drift, promotion days (announced, so future-known: promo) that lift sales by more in larger shops
    (size, static), and noise. Written as a long table; returns its options for rnn-zoo."""
    rng = np.random.default_rng(seed)
    frames = []
    for s in range(count):
        n, size = int(rng.integers(300, 400)), float(rng.uniform(1, 5))
        dates = pd.date_range(pd.Timestamp("2022-01-03") + pd.Timedelta(days=int(rng.integers(0, 60))),
                              periods=n, freq="D")
        week = 1 + rng.uniform(0.1, 0.6) * np.array([-0.3, -0.2, -0.1, 0.0, 0.2, 0.6, -0.2])[dates.dayofweek]
        promo = (rng.random(n) < 0.12).astype(int)
        level = rng.uniform(20, 200) * (1 + rng.normal(0, 0.002, n).cumsum())
        sales = level * week * (1 + 0.15 * size * promo) * rng.normal(1, 0.05, n)
        frames.append(pd.DataFrame({"unique_id": f"shop{s}", "ds": dates, "y": sales.round(2), "promo": promo,
                                    "size": round(size, 2)}))
    pd.concat(frames).to_csv(path, index=False)
    return {"futr": "promo", "stat": "size", "calendar": True}


def covariate_figures(name, root):
    """A covariate set's figures: the model with and without its covariates (seeds), its baselines
    (AutoARIMA reading the future-known ones) and neuralforecast's LSTM with the same covariates."""
    path = Path(root) / f"{name}.csv"
    options = (shops if name == "shops" else uschange)(path)
    out = {}
    for variant, chosen in (("without", {}), ("with", options)):
        runs = [run(None, seed, root, path, chosen, tag=f"-{variant}") for seed in SEEDS]
        out[variant] = _run_figures(runs)
    lstm = [neuralforecast_model(None, seed, data=path, options=options) for seed in SEEDS]
    if lstm[0] is not None:
        out["with"]["neuralforecast_lstm"] = _over_seeds(lstm, [r["seconds"] for r in lstm])
    out["options"] = options
    return out


def run(dataset, seed, root, data=None, options=None, tag=""):
    config = TrainConfig(task="forecasting", seed=seed, options=options or {},
                         **({"data": str(data)} if data else {"dataset": dataset}),
                         **({"epochs": 3} if QUICK else {}))
    run_dir = train(config, run_dir=Path(root) / f"{dataset or Path(data).stem}{tag}-{seed}", verbose=0)
    return json.loads((run_dir / "metrics.json").read_text())


def _nf_frames(series, history):
    """neuralforecast's (df, futr_df, static_df, futr, stat) for a panel with covariates: the
    future-known columns and the calendar's sine and cosine, as the model reads them; statics."""
    from zoo.baselines import long_frame
    from zoo.calendar import phases

    future = series.panel.exog_tails(series.horizon) if history.futr else None
    frame, ahead = long_frame(history, future)
    futr = [c for c in frame.columns if c.startswith("futr:")]
    cycles = series.exogenous.cycles if series.exogenous else ()
    if cycles:
        ahead = ahead if ahead is not None else pd.concat([pd.DataFrame(
            {"unique_id": n, "ds": history.dates(i, extra=series.horizon)[-series.horizon:]})
            for i, n in enumerate(history.ids)], ignore_index=True)
        for table in (frame, ahead):
            phase = phases(pd.DatetimeIndex(table["ds"]), history.freq)
            for k, (name, period) in enumerate(cycles):
                table[f"{name}_sin"] = np.sin(2 * np.pi * phase[:, k] / period)
                table[f"{name}_cos"] = np.cos(2 * np.pi * phase[:, k] / period)
        futr += [f"{name}_{wave}" for name, _ in cycles for wave in ("sin", "cos")]
    static = None
    if history.stat:
        static = pd.DataFrame({"unique_id": list(history.ids),
                               **{name: history.static[:, k] for k, name in enumerate(history.stat)}})
    return frame, ahead, static, futr, list(history.stat)


def neuralforecast_model(dataset, seed, max_steps=500, data=None, options=None, kind="LSTM"):
    """neuralforecast's LSTM (MQLoss over the same levels, its robust scaler, `max_steps` steps) on the
    same series, cut-off and context size; its validation is the same horizon before the test window.
    kind="DeepAR": its DeepAR instead (autoregressive, a Student-t head, the quantiles of its sample
    paths): the other way to make a path, measured beside the multi-horizon one.
    None where neuralforecast (make bench-setup installs it) is not installed."""
    try:
        from neuralforecast import NeuralForecast
        from neuralforecast.losses.pytorch import DistributionLoss, MQLoss
        from neuralforecast.models import LSTM, DeepAR
    except ImportError:
        return None
    import logging

    from zoo.quantiles import column_names
    from zoo.registry import get_task
    from zoo.scores import mase_scales, score

    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    series = get_task("forecasting").load(dataset, data=data, **(options or {})).series
    history, actual = series.at(series.horizon)
    frame, ahead, static, futr, stat = _nf_frames(series, history)
    common = {"h": series.horizon, "input_size": series.input_size, "max_steps": max_steps,
              "random_seed": seed, "start_padding_enabled": True, "enable_progress_bar": False,
              "logger": False, "enable_model_summary": False, "accelerator": "cpu",
              "futr_exog_list": futr or None, "stat_exog_list": stat or None}
    levels = list(series.levels)
    model = LSTM(loss=MQLoss(level=levels), **common) if kind == "LSTM" else DeepAR(
        loss=DistributionLoss("StudentT", level=levels), valid_loss=MQLoss(level=levels),
        scaler_type="robust", **common)
    engine = NeuralForecast(models=[model], freq=history.freq)
    started = time.perf_counter()
    engine.fit(frame, static_df=static, val_size=series.horizon)
    out = engine.predict(futr_df=ahead).set_index("unique_id").loc[list(history.ids)]
    seconds = time.perf_counter() - started
    paths = np.stack([out[f"{kind}-median" if name == "forecast" else f"{kind}-{name}"].to_numpy()
                      .reshape(len(history), series.horizon) for name in column_names(series.levels)], -1)
    return {**score(actual, paths, mase_scales(history, series.season), series.levels), "seconds": seconds}


def _over_seeds(scores, seconds):
    """{score: (mean, sd) over the seeds' `scores` dicts, "seconds": the mean of `seconds`}."""
    return {**{score: _mean_sd([s[score] for s in scores]) for score in SCORES},
            "seconds": statistics.mean(seconds)}


def _run_figures(runs):
    """A set's figures from its `rnn-zoo train` runs over the seeds: the model's scores, training
    seconds, and the baselines and data of the first (the baselines fit the same way every seed)."""
    summary = _over_seeds([r["test"] for r in runs], [r["train_seconds"] for r in runs])
    return {"model": summary, "seconds": summary.pop("seconds"), "baselines": runs[0]["baselines"],
            "data": runs[0]["data"]}


def _mean_sd(values):
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def verdicts(model_mase, coverage, baselines, points):
    """Issue 24's targets for one set: each met or missed, with its margin. Coverage is a share of the
    test window's `points`: its binomial standard deviation says how far chance alone moves it."""
    out = []
    for name in ("Naive", "SeasonalNaive"):
        margin = baselines[name]["mase"] - model_mase
        out.append(f"MASE below {name}: {'met' if margin > 0 else 'missed'} ({margin:+.3f})")
    best = min(("AutoETS", "AutoTheta"), key=lambda name: baselines[name]["mase"])
    margin = baselines[best]["mase"] - model_mase
    out.append(f"MASE at or below {best}: {'met' if margin >= 0 else 'missed'} ({margin:+.3f})")
    for level in (80, 95):
        gap, p = coverage[level] - level / 100, level / 100
        chance = 100 * (p * (1 - p) / points) ** 0.5
        out.append(f"coverage {level}: {'met' if abs(gap) <= 0.05 else 'missed'} ({gap * 100:+.1f} points; "
                   f"chance alone on {points} test values: ± {chance:.1f})")
    return out


HEADER = ("| set (series, horizon) | model | MASE | sMAPE | scaled QL | coverage 80 | coverage 95 "
          "| seconds |\n"
          "|---|---|---|---|---|---|---|---|")


def set_rows(label, f, model_name="**rnn-zoo**", names=None):
    """Table rows of one set's figures (the model over seeds, neuralforecast's LSTM, the baselines)
    and its verdicts; `names` renames baselines in the table."""
    m = f["model"]
    mase = f"{m['mase'][0]:.3f}" if label == "" else f"**{m['mase'][0]:.3f}**"  # the set's first row in bold
    rows = [f"| {label} | {model_name} ({len(SEEDS)} seeds) | {mase} ± {m['mase'][1]:.3f} | "
            f"{m['smape'][0]:.2f} | {m['scaled_ql'][0]:.4f} | {m['coverage_80'][0]:.3f} | "
            f"{m['coverage_95'][0]:.3f} | {f['seconds']:.0f} |"]
    for key, what, seeds in (("neuralforecast_lstm", "LSTM (500 steps", len(SEEDS)),
                             ("neuralforecast_deepar", "DeepAR (autoregressive, Student-t; 500 steps", 1)):
        if key in f:
            n = f[key]
            rows.append(f"| | neuralforecast {what}, {seeds} seed{'s' * (seeds > 1)}) | {n['mase'][0]:.3f} ± "
                        f"{n['mase'][1]:.3f} | {n['smape'][0]:.2f} | {n['scaled_ql'][0]:.4f} | "
                        f"{n['coverage_80'][0]:.3f} | {n['coverage_95'][0]:.3f} | {n['seconds']:.0f} |")
    for name, b in f["baselines"].items():
        rows.append(f"| | {(names or {}).get(name, name)} | {b['mase']:.3f} | {b['smape']:.2f} | "
                    f"{b['scaled_ql']:.4f} | "
                    f"{b['coverage_80']:.3f} | {b['coverage_95']:.3f} | {b['seconds']:.1f} |")
    points = f["data"]["series"] * f["data"]["horizon"] * f["data"].get("backtest", 1)
    coverage = {80: m["coverage_80"][0], 95: m["coverage_95"][0]}
    checks = verdicts(m["mase"][0], coverage, f["baselines"], points)
    if "neuralforecast_lstm" in f:
        margin = f["neuralforecast_lstm"]["mase"][0] - m["mase"][0]
        checks.append(f"MASE at or below neuralforecast's LSTM: {'met' if margin >= 0 else 'missed'} "
                      f"({margin:+.3f})")
    if "neuralforecast_deepar" in f:
        margin = f["neuralforecast_deepar"]["mase"][0] - m["mase"][0]
        checks.append(f"the multi-horizon path against DeepAR's autoregressive one: "
                      f"{'ahead' if margin >= 0 else 'behind'} ({margin:+.3f})")
    return rows, checks


def _label(name, f):
    return f"{name} ({f['data']['series']}, {f['data']['horizon']})"


def tables(figures, covariates):
    """bench-forecast's two tables, with their verdicts, of bench/forecast_results.json's
    figures: the bundled sets, and the covariate sets."""
    rows, notes = [HEADER], []
    for dataset, f in figures.items():
        more, checks = set_rows(_label(dataset, f), f)
        rows += more
        notes.append(f"- {dataset}: " + "; ".join(checks))
    table = "\n".join(rows) + "\n\n" + "\n".join(notes)
    rows, notes = [HEADER], []
    for name, f in covariates.items():
        with_, without = f["with"], f["without"]
        reads = " ".join(f"{k}={v}" for k, v in f["options"].items())
        more, checks = set_rows(_label(name, with_), with_, f"**rnn-zoo** `{reads}`",
                                {"AutoARIMA": "AutoARIMA with the future-known covariates"})
        rows += more[:1] + [set_rows("", without, "rnn-zoo reading the series alone")[0][0]] + more[1:]
        gain = without["model"]["mase"][0] - with_["model"]["mase"][0]
        arima = with_["baselines"]["AutoARIMA"]["mase"] - with_["model"]["mase"][0]
        checks.append("MASE at or below AutoARIMA with the same covariates: "
                      f"{'met' if arima >= 0 else 'missed'} ({arima:+.3f})")
        notes.append(f"- {name}: the covariates {'gain' if gain > 0 else 'cost'} {abs(gain):.3f} MASE; "
                     + "; ".join(checks))
    covariate_table = "\n".join(rows) + "\n\n" + "\n".join(notes)
    return table, covariate_table


def main():
    figures, covariates = {}, {}
    with tempfile.TemporaryDirectory(prefix="bench-forecast-") as root:
        for dataset in SETS:
            runs = [run(dataset, seed, root) for seed in SEEDS]
            figures[dataset] = _run_figures(runs)
            model = figures[dataset]["model"]
            lstm = [neuralforecast_model(dataset, seed) for seed in SEEDS]
            if lstm[0] is not None:
                figures[dataset]["neuralforecast_lstm"] = _over_seeds(lstm, [r["seconds"] for r in lstm])
            if lstm[0] is not None and not QUICK:  # one seed: its sample paths make it 8x as slow as the LSTM
                deepar = neuralforecast_model(dataset, SEEDS[0], kind="DeepAR")
                figures[dataset]["neuralforecast_deepar"] = _over_seeds([deepar], [deepar["seconds"]])
            print(dataset, {k: round(v[0], 3) for k, v in model.items()}, flush=True)
        for name in COVARIATE_SETS[:1] if QUICK else COVARIATE_SETS:
            covariates[name] = covariate_figures(name, root)
            print(name, {v: round(covariates[name][v]["model"]["mase"][0], 3) for v in ("without", "with")},
                  flush=True)
    table, covariate_table = tables(figures, covariates)
    print(table)
    print(covariate_table)
    if not QUICK:
        RESULTS.write_text(json.dumps({**figures, "covariates": covariates}, indent=2, sort_keys=True))
        write_table("bench-forecast", table)
        write_table("bench-forecast-covariates", covariate_table)


if __name__ == "__main__":
    main()
