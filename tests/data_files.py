"""Small data files of every format the zoo reads, written by the tests: (task, file name, text, options)."""

import json

import numpy as np
import pandas as pd

REVIEWS = "".join(f'Great movie {i}!,pos\n"awful, dull film {i}",neg\nA fine FILM.,pos\n' for i in range(20))
CONLLU_SENTENCE = ("# text = Ali geldi .\n1\tAli\tAli\tPROPN\tNNP\t_\t2\tnsubj\t_\t_\n"
                   "2-3\tgeldi.\t_\t_\t_\t_\t_\t_\t_\t_\n2\tgeldi\tgel\tVERB\tVB\t_\t0\troot\t_\t_\n"
                   "2.1\tx\tx\tX\tX\t_\t_\t_\t_\t_\n3\t.\t.\tPUNCT\t.\t_\t2\tpunct\t_\t_\n\n")
CONLLU_OTHER = ("1\tKedi\tkedi\tNOUN\tNN\t_\t2\tnsubj\t_\t_\n2\tuyudu\tuyu\tVERB\tVB\t_\t0\troot\t_\t_\n\n")
CONLL2003 = ("-DOCSTART- -X- -X- O\n\n"
             + "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nPeter NNP B-NP B-PER\n\n" * 15)


def ts_file(cases=30, length=12):
    rng = np.random.default_rng(1)
    lines = ["# a tiny UCR-style file", "@problemName tiny", "@timeStamps false", "@missing false",
             "@univariate true", "@equalLength true", f"@seriesLength {length}", "@classLabel true a b",
             "@data"]
    for i in range(cases):
        label = "ab"[i % 2]
        values = rng.normal(size=length) + (2.0 if label == "b" else 0.0)
        lines.append(",".join(f"{v:.4f}" for v in values) + f":{label}")
    return "\n".join(lines) + "\n"


def ucr_tsv(cases=30, width=14):
    """The UCR 2018 archive's text: a label then the values, tab-separated, NaN after shorter series."""
    rng = np.random.default_rng(2)
    lines = []
    for i in range(cases):
        label, length = 1 + i % 2, width - i % 5
        values = [f"{v:.4f}" for v in rng.normal(size=length) + 2.0 * (label == 2)]
        lines.append("\t".join([str(label), *values, *["NaN"] * (width - length)]))
    return "\n".join(lines) + "\n"


def forecast_csv(rows=80):
    return "temperature,load\n" + "".join(f"{np.sin(i / 5):.4f},{10 + 3 * np.sin(i / 5 + 1):.4f}\n"
                                          for i in range(rows))


def vectors_csv(rows=60):
    return "width,height,label\n" + "".join(f"{i % 7},{(i * 3) % 5},{'big' if i % 2 else 'small'}\n"
                                            for i in range(rows))


def pairs_tsv(rows=60):
    return "".join(f"{a}+{b}\t{a + b}\tCC-BY\n" for a, b in zip(range(rows), range(3, rows + 3)))


def captions_jsonl(rows=40):
    words = ("one", "two", "three")
    return "".join(json.dumps({"vector": [float(i % 3), 1.0], "caption": f"A {words[i % 3]} Cat."}) + "\n"
                   for i in range(rows))


def frames_jsonl(rows=40):
    """Sequences of 2-4 frames of two numbers, each frame standing for a word of the caption."""
    words = ("one", "two", "three")
    lines = []
    for i in range(rows):
        picks = [(i + j) % 3 for j in range(2 + i % 3)]
        lines.append(json.dumps({"frames": [[float(p), 1.0 - p / 2] for p in picks],
                                 "caption": " ".join(words[p] for p in picks)}))
    return "\n".join(lines) + "\n"


# (task, file name, contents, options)
def long_csv():
    """Two monthly series in the long format, of their own starts and lengths, one with a gap."""
    value = "{:.2f}".format
    rows = [f"{name},{d.date()},{'' if (name, i) == ('north', 7) else value(100 + level * i + 9 * np.sin(i))}"
            for name, start, n, level in (("north", "2019-01-01", 40, 2.0), ("south", "2020-06-01", 30, -1.0))
            for i, d in enumerate(pd.date_range(start, periods=n, freq="MS"))]
    return "unique_id,ds,y\n" + "\n".join(rows) + "\n"


def long_covariates_csv():
    """Three weekly series with a future-known price, past-only visits and a static size."""
    rows = []
    for s, (name, n) in enumerate((("a", 60), ("b", 52), ("c", 45))):
        for i, d in enumerate(pd.date_range("2021-01-03", periods=n, freq="W")):
            price = 1.0 + 0.5 * ((i + s) % 4 == 0)
            y = 50 + 10 * s + 5 * np.sin(i / 3) - 8 * price
            rows.append(f"{name},{d.date()},{y:.2f},{price},{'' if i == 5 else f'{3 * y:.1f}'},{s + 1}")
    return "unique_id,ds,y,price,visits,size\n" + "\n".join(rows) + "\n"


FORMATS = {
    "ts": ("many_to_one", "train.ts", ts_file(), {}),
    "ucr_tsv": ("many_to_one", "Tiny_TRAIN.tsv", ucr_tsv(), {}),
    "text_csv": ("many_to_one", "reviews.csv", "text,label\n" + REVIEWS, {}),
    "text_tsv": ("many_to_one", "reviews.tsv", "review\tsentiment\n" + REVIEWS.replace(",pos", "\tpos")
                 .replace(",neg", "\tneg").replace('"', ""), {"text": "review", "label": "sentiment"}),
    "forecast_csv": ("many_to_one", "load.csv", forecast_csv(), {"target": "load", "window": 6}),
    "vectors_csv": ("one_to_one", "shapes.csv", vectors_csv(), {}),
    "long_csv": ("forecasting", "demand.csv", long_csv(), {"horizon": 3}),
    "long_covariates_csv": ("forecasting", "sales.csv", long_covariates_csv(),
                            {"horizon": 4, "futr": "price", "hist": "visits", "stat": "size",
                             "calendar": True}),
    "conllu": ("tagging", "tb.conllu", (CONLLU_SENTENCE + CONLLU_OTHER) * 12, {}),
    "conll2003": ("tagging", "ner.conll", CONLL2003, {}),
    "pairs_tsv": ("seq2seq", "sums.tsv", pairs_tsv(), {}),
    "captions_jsonl": ("one_to_many", "captions.jsonl", captions_jsonl(), {}),
    "frames_jsonl": ("seq2seq", "clips.jsonl", frames_jsonl(), {}),
}


def write(folder, key):
    task, name, contents, options = FORMATS[key]
    path = folder / name
    path.write_text(contents, encoding="utf-8")
    return task, path, options
