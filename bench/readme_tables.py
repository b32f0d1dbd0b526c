"""Writes a benchmark's Markdown table into its page of the documentation (docs/pages) between its markers."""

import json
import re
import statistics
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs" / "pages"
RESULTS_MD = DOCS / "results.md"  # make bench-results writes it whole
# The page, under docs/pages, that holds each bench's table between <!-- NAME:start --> and <!-- NAME:end -->.
PAGES = {
    "bench-cli": "benchmarks/cli.md",
    "bench-data": "benchmarks/data.md",
    "bench-train": "benchmarks/train.md",
    "bench-train-bucketing": "benchmarks/train.md",
    "bench-train-workers": "benchmarks/train.md",
    "bench-forecast-scale": "benchmarks/train.md",
    "bench-tune": "benchmarks/tune.md",
    "bench-export": "benchmarks/export.md",
    "bench-export-decoding": "benchmarks/export.md",
    "bench-export-streaming": "benchmarks/export.md",
    "bench-export-quantized": "benchmarks/export.md",
    "bench-serve": "benchmarks/serve.md",
    "bench-serve-large": "benchmarks/serve.md",
    "bench-serve-batching": "benchmarks/serve.md",
    "bench-serve-mixed": "benchmarks/serve.md",
    "bench-forecast": "benchmarks/forecast.md",
    "bench-forecast-covariates": "benchmarks/forecast.md",
    "bench-classify": "benchmarks/classify.md",
    "bench-tagging": "benchmarks/tagging.md",
    "bench-seq2seq": "benchmarks/seq2seq.md",
    "bench-presets": "results.md",
    "bench-generated": "results.md",
}


def page(bench_name):
    """The page that holds `bench_name`'s table."""
    return DOCS / PAGES[bench_name]


def write_table(bench_name, table, path=None):
    """Replaces what stands between <!-- NAME:start --> and <!-- NAME:end --> in `path` (default: the
    bench's page) with `table`."""
    path = page(bench_name) if path is None else path
    start, end = f"<!-- {bench_name}:start -->", f"<!-- {bench_name}:end -->"
    text = path.read_text()
    if start not in text or end not in text:
        raise ValueError(f"{path.name} has no {start} ... {end} markers for this table.")
    pattern = f"{re.escape(start)}.*?{re.escape(end)}"
    path.write_text(re.sub(pattern, lambda _: f"{start}\n{table}\n{end}", text, flags=re.DOTALL))


def publish(bench_name, text, figures, results_file):
    """A bench's figures into `results_file` (JSON) and its table `text` into its page."""
    results_file.write_text(json.dumps(figures, indent=2) + "\n")
    write_table(bench_name, text)


def spread(values, digits=3):
    """Mean, and the standard deviation over seeds where there are several."""
    mean = statistics.mean(values)
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {statistics.stdev(values):.{digits}f}"
