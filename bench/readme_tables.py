"""Writes a benchmark's Markdown table into README.md (or RESULTS.md) between its markers."""

import json
import re
import statistics
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
RESULTS_MD = README.with_name("RESULTS.md")


def write_table(bench_name, table, path=README):
    """Replaces what stands between <!-- NAME:start --> and <!-- NAME:end --> with `table`."""
    start, end = f"<!-- {bench_name}:start -->", f"<!-- {bench_name}:end -->"
    text = path.read_text()
    if start not in text or end not in text:
        raise ValueError(f"{path.name} has no {start} ... {end} markers for this table.")
    pattern = f"{re.escape(start)}.*?{re.escape(end)}"
    path.write_text(re.sub(pattern, lambda _: f"{start}\n{table}\n{end}", text, flags=re.DOTALL))


def publish(bench_name, text, figures, results_file):
    """A bench's figures into `results_file` (JSON) and its table `text` into README.md and RESULTS.md."""
    results_file.write_text(json.dumps(figures, indent=2) + "\n")
    for path in (README, RESULTS_MD):
        write_table(bench_name, text, path)


def spread(values, digits=3):
    """Mean, and the standard deviation over seeds where there are several."""
    mean = statistics.mean(values)
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {statistics.stdev(values):.{digits}f}"
