"""make bench-data: how fast the zoo reads large files of your own, beside pandas.read_csv on the same file.

Three generated files: a 1,000,000-row `source<TAB>target` TSV (seq2seq), a 1,000,000-row text
classification CSV (many_to_one) and a 100,000-sentence CoNLL-U file (tagging). Each measurement
runs in a fresh Python process that has already imported what it needs, so its peak memory
(ru_maxrss minus the resident size before reading) is the reading's alone:
- zoo read: the file's reader (zoo.files) to Arrow columns or token codes;
- zoo load: `task.load(data=...)`, the whole Dataset a run trains on: read, split, tokenise,
  vocabulary from the training split, ids padded into arrays;
- pandas: `pandas.read_csv` of the same file (C engine; CoNLL-U as 10 tab-separated columns).
Timings on this VM drift, so the three run in turns (zoo read, zoo load, pandas; again), three
turns, and each figure is the median. Target (issue 12): at least half pandas' rows per second
and a peak at most 3x the file's size. Writes the table into docs/pages/benchmarks/data.md.
"""

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from bench.readme_tables import write_table

ROWS, SENTENCES, TURNS = 1_000_000, 100_000, 3

MEASURE = r"""
import json, os, resource, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import psutil
what, task, path = sys.argv[1:4]
if what == "pandas":
    import csv, pandas
    options = {".tsv": dict(sep="\t", header=None, quoting=csv.QUOTE_NONE),
               ".csv": dict(),
               ".conllu": dict(sep="\t", header=None, quoting=csv.QUOTE_NONE, comment="#",
                               names=range(10))}[os.path.splitext(path)[1]]
    run = lambda: pandas.read_csv(path, **options)
elif what == "read":
    from pathlib import Path
    from zoo.files.conll import read_conllu
    from zoo.files.tables import read_table
    from zoo.tasks.seq2seq import read_pairs
    reader = {".tsv": read_pairs, ".csv": read_table, ".conllu": read_conllu}[os.path.splitext(path)[1]]
    run = lambda: reader(Path(path))
else:
    import zoo
    zoo.get_task(task)
    import zoo.files.conll, zoo.files.tables  # noqa: F401  (imports are not the reading)
    run = lambda: zoo.get_task(task).load(data=path)
before = psutil.Process().memory_info().rss
started = time.perf_counter()
result = run()
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"seconds": seconds, "peak_bytes": max(0, peak - before)}))
"""


def _words(rng, count):
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    return ["".join(rng.choice(letters, size=rng.integers(2, 9))) for _ in range(count)]


def generate(folder):
    rng = np.random.default_rng(0)
    pairs = folder / "pairs.tsv"
    a, b = rng.integers(0, 10**6, size=(2, ROWS))
    with open(pairs, "w") as f:
        f.writelines(f"{x}+{y}\t{x + y}\n" for x, y in zip(a.tolist(), b.tolist()))
    words = np.array(_words(rng, 5000))
    reviews = folder / "reviews.csv"
    lengths = rng.integers(5, 25, size=ROWS)
    picks = words[rng.integers(0, len(words), size=int(lengths.sum()))]
    ends = np.cumsum(lengths)
    with open(reviews, "w") as f:
        f.write("text,label\n")
        f.writelines(f"{' '.join(picks[e - n : e])},{'pos' if n % 2 else 'neg'}\n"
                     for e, n in zip(ends.tolist(), lengths.tolist()))
    tags = np.array(["NOUN", "VERB", "ADJ", "ADP", "PUNCT", "DET", "PRON", "ADV"])
    treebank = folder / "treebank.conllu"
    with open(treebank, "w") as f:
        for s in range(SENTENCES):
            n = int(rng.integers(5, 25))
            forms, upos = words[rng.integers(0, len(words), n)], tags[rng.integers(0, len(tags), n)]
            f.write(f"# sent_id = {s + 1}\n")
            f.writelines(f"{i + 1}\t{w}\t{w}\t{t}\t_\t_\t{i}\tdep\t_\t_\n"
                         for i, (w, t) in enumerate(zip(forms, upos)))
            f.write("\n")
    return [("seq2seq", pairs, ROWS, "rows"), ("many_to_one", reviews, ROWS, "rows"),
            ("tagging", treebank, SENTENCES, "sentences")]


def measure(what, task, path):
    output = subprocess.run([sys.executable, "-c", MEASURE, what, task, str(path)], check=True,
                            capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main():
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for task, path, count, unit in generate(Path(folder)):
            size = path.stat().st_size
            runs = {"read": [], "load": [], "pandas": []}
            for _ in range(TURNS):
                for what in runs:
                    runs[what].append(measure(what, task, path))
            median = {what: {key: statistics.median(r[key] for r in results)
                             for key in ("seconds", "peak_bytes")} for what, results in runs.items()}
            rows.append((task, path.suffix, count, unit, size, median))
            print(task, path.suffix, size, json.dumps(median), flush=True)

    def rate(seconds, count):
        return f"{count / seconds:,.0f}"

    lines = ["| file | size MB | zoo read: per s (peak x file) | zoo load: per s (peak x file) | "
             "pandas.read_csv: per s (peak x file) | load / pandas speed |",
             "|---|---|---|---|---|---|"]
    for task, suffix, count, unit, size, m in rows:
        cells = [f"{rate(m[w]['seconds'], count)} ({m[w]['peak_bytes'] / size:.1f}x)"
                 for w in ("read", "load", "pandas")]
        lines.append(f"| {count:,} {unit}, `{suffix}` ({task}) | {size / 1e6:.0f} | {' | '.join(cells)} | "
                     f"{m['pandas']['seconds'] / m['load']['seconds']:.2f}x |")
    table = "\n".join(lines)
    print(table)
    write_table("bench-data", table)


if __name__ == "__main__":
    main()
