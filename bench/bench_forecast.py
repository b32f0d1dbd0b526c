"""make bench-forecast: the forecasting task's defaults on real series, beside statsforecast's baselines.

Each bundled set (M1 yearly: 181 series; airline passengers, monthly; sunspots, yearly; solar
generation, half-hourly) is trained with the task's defaults, nothing chosen per set, over three
seeds, with `rnn-zoo train`'s own code. Every run fits the baselines on the same cut-off (the last
horizon of every series is the test window) and scores both alike (zoo.scores). The targets of
issue 24 are checked and every miss is given with its margin. Writes README.md's table between its
markers and the raw figures into bench/forecast_results.json. QUICK=1: one seed, two sets, 3 epochs.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import json  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

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


def main():
    figures = {}
    with tempfile.TemporaryDirectory(prefix="bench-forecast-") as root:
        for dataset in SETS:
            runs = [run(dataset, seed, root) for seed in SEEDS]
            model = {score: _mean_sd([r["test"][score] for r in runs]) for score in SCORES}
            figures[dataset] = {"model": model, "seconds": statistics.mean(r["train_seconds"] for r in runs),
                                "baselines": runs[0]["baselines"], "data": runs[0]["data"]}
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
        for name, b in f["baselines"].items():
            rows.append(f"| | {name} | {b['mase']:.3f} | {b['smape']:.2f} | {b['scaled_ql']:.4f} | "
                        f"{b['coverage_80']:.3f} | {b['coverage_95']:.3f} | {b['seconds']:.1f} |")
        checks = verdicts(m["mase"][0], {80: m["coverage_80"][0], 95: m["coverage_95"][0]}, f["baselines"])
        notes.append(f"- {dataset}: " + "; ".join(checks))
    table = "\n".join(rows) + "\n\n" + "\n".join(notes)
    print(table)
    if not QUICK:
        RESULTS.write_text(json.dumps(figures, indent=2, sort_keys=True))
        write_table("bench-forecast", table)


if __name__ == "__main__":
    main()
