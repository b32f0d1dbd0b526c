"""A labelled sequence per entity from a long table (bankruptcy, churn, faults): rows sorted by time
within each entity, lengths of their own, one label each, bad rows named by file and line."""

import json

import numpy as np
import pandas as pd
import pytest

import zoo
from zoo.errors import DataFileError, ZooError
from zoo.files.entities import read_entities
from zoo.training import TrainConfig, train


def _companies(path, count=60, seed=0):
    """Yearly accounts of `count` companies over 3-8 years, rows shuffled; those whose debt ratio
    climbs go bankrupt."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(count):
        bankrupt = c % 2
        years = int(rng.integers(3, 9))
        debt = 0.3 + np.cumsum(rng.normal(0.08 if bankrupt else -0.02, 0.03, years))
        for k in range(years):
            rows.append({"company": f"co{c}", "year": 2010 + k, "debt_ratio": round(debt[k], 4),
                         "revenue": round(float(rng.normal(10, 2)), 3),
                         "bankrupt": "yes" if bankrupt else "no"})
    frame = pd.DataFrame(rows).sample(frac=1.0, random_state=seed)
    frame.to_csv(path, index=False) if path.suffix == ".csv" else frame.to_parquet(path, index=False)
    return frame


def test_rows_become_one_sequence_per_entity_in_time_order(tmp_path):
    frame = _companies(tmp_path / "accounts.csv")
    sequences, labels, features = read_entities(tmp_path / "accounts.csv", "company", "year", "bankrupt")
    assert features == ["debt_ratio", "revenue"] and len(sequences) == 60
    first = frame["company"].iloc[0]  # entities in order of first appearance in the file
    expected = frame[frame.company == first].sort_values("year")
    np.testing.assert_allclose(sequences[0], expected[["debt_ratio", "revenue"]].to_numpy(), rtol=1e-6)
    assert labels[0] == expected["bankrupt"].iloc[0]
    assert {len(s) for s in sequences} == set(frame.groupby("company").size())


@pytest.mark.parametrize(("edit", "line", "message"), [
    (lambda f: f.assign(bankrupt=["yes", "no"] + list(f.bankrupt[2:])), 3, "has label 'no' here and 'yes'"),
    (lambda f: f.assign(revenue=["x"] + list(f.revenue[1:])), 2, "feature 'revenue' is 'x', not a number"),
    (lambda f: f.assign(revenue=[""] + list(f.revenue[1:])), 2, "feature 'revenue' is empty"),
    (lambda f: f.assign(year=[2010, 2010] + list(f.year[2:])), 3, "has time '2010' twice"),
])
def test_bad_rows_are_named_by_file_and_line(tmp_path, edit, line, message):
    frame = pd.DataFrame({"company": ["a", "a", "a"], "year": [2010, 2011, 2012], "revenue": ["1", "2", "3"],
                          "bankrupt": ["yes", "yes", "yes"]})
    edit(frame).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataFileError, match=message) as error:
        read_entities(tmp_path / "bad.csv", "company", "year", "bankrupt")
    assert error.value.line == line


@pytest.mark.slow
def test_a_parquet_table_of_entities_trains_and_needs_its_id_named(tmp_path):
    _companies(tmp_path / "accounts.parquet")
    config = TrainConfig(task="many_to_one", data=str(tmp_path / "accounts.parquet"), epochs=20, units=8,
                         options={"id": "company", "time": "year", "label": "bankrupt"})
    run_dir = train(config, run_dir=tmp_path / "run", verbose=0)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["data"]["train"] + metrics["data"]["validation"] + metrics["data"]["test"] == 60
    assert metrics["test"]["accuracy"] >= 0.75  # a climbing debt ratio is easy to read
    assert json.loads((run_dir / "data.json").read_text())["labels"] == ["no", "yes"]
    with pytest.raises(ZooError, match="name the column that says whose row it is"):
        zoo.get_task("many_to_one").load(data=tmp_path / "accounts.parquet")
