"""The notebook API: zoo.train on a DataFrame, zoo.load(...).predict answering what the server answers for
the same export (arrays: the Python API page's examples, tests/test_docs.py; model.keras in a fresh
process: tests/test_training.py)."""

import io

import numpy as np
import pandas as pd
import pytest

import zoo
from serving.launch import running_server
from tests.data_files import REVIEWS
from tests.tfserving_client import Client
from zoo.errors import ZooError

STRINGS = ["Great movie 3!", "awful, dull film", "A fine FILM."]


@pytest.fixture(scope="module")
def reviews_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("api")
    frame = pd.read_csv(io.StringIO("text,label\n" + REVIEWS))
    run = zoo.train("many_to_one", data=frame, epochs=1, units=4, run_dir=root / "runs" / "reviews",
                    verbose=0)
    return root, frame, run


def test_a_dataframe_trains_a_run_that_names_its_content_addressed_file(reviews_run):
    root, frame, run = reviews_run
    assert set(run.metrics["test"]) >= {"accuracy", "loss"}
    data = run.config["data"]
    assert data.startswith(str(root / "runs" / "data" / "dataframe-")) and data.endswith(".csv")
    assert run.config["dataset"] == "dataframe"
    # The same frame again is the same file (a run of the same settings resumes); a finished run is kept.
    files = sorted((root / "runs" / "data").iterdir())
    with pytest.raises(ZooError, match="holds a finished run"):
        zoo.train("many_to_one", data=frame, epochs=1, units=4, run_dir=run.run_dir, verbose=0)
    assert sorted((root / "runs" / "data").iterdir()) == files and len(files) == 1
    with pytest.raises(ZooError, match="two arrays, got 3"):
        zoo.train("many_to_one", data=(frame, frame, frame), run_dir=root / "bad")


def test_load_predicts_on_raw_strings_what_the_server_answers_for_the_same_export(reviews_run, tmp_path):
    root, _, run = reviews_run
    version = run.export(root / "exports", "reviews")
    by_export = zoo.load(version).predict(STRINGS)
    assert by_export["label_name"].tolist() and set(by_export["label_name"].tolist()) <= {"pos", "neg"}
    assert by_export["label"].shape == (3, 2)
    with running_server(root / "exports", "onnx", tmp_path / "serve.log") as (base_url, _):
        status, body = Client(base_url).predict("reviews", {"instances": STRINGS})
    assert status == 200, body
    served = body["predictions"]
    assert [row["label_name"] for row in served] == by_export["label_name"].tolist()
    np.testing.assert_allclose([row["label"] for row in served], by_export["label"], atol=1e-6)
    # The run directory itself: exported once into run_dir/exported/, then loaded from there.
    by_run = zoo.load(run.run_dir).predict(STRINGS)
    np.testing.assert_allclose(by_run["label"], by_export["label"], atol=1e-6)
    assert [p.name for p in (run.run_dir / "exported" / "many_to_one").iterdir()] == ["1"]
    assert zoo.load(run.run_dir).version_dir == run.run_dir / "exported" / "many_to_one" / "1"
    with pytest.raises(ZooError, match="holds token ids and must be integers"):
        zoo.load(version).predict([1.5, 2.5])
    # A model folder: its highest published version; folders the layout does not number are not versions.
    for stray in ("²", "v2"):
        (version.parent / stray).mkdir()
        (version.parent / stray / "metadata.json").write_text("{}")
    assert zoo.load(version.parent).version_dir == version
    with pytest.raises(ZooError, match="is for task 'many_to_one', not 'tagging'"):
        zoo.train("tagging", preset="gun_point_bigru")
