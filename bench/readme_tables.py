"""Writes a benchmark's Markdown table into README.md between its markers."""

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def write_table(bench_name, table):
    """Replaces what stands between <!-- NAME:start --> and <!-- NAME:end --> with `table`."""
    start, end = f"<!-- {bench_name}:start -->", f"<!-- {bench_name}:end -->"
    text = README.read_text()
    if start not in text or end not in text:
        raise ValueError(f"README.md has no {start} ... {end} markers for this table.")
    pattern = f"{re.escape(start)}.*?{re.escape(end)}"
    README.write_text(re.sub(pattern, lambda _: f"{start}\n{table}\n{end}", text, flags=re.DOTALL))
