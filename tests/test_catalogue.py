"""`make zoo`: presets trained and exported into one repository, with model cards and an index that
match the folders, resumable, and served as a whole (each card's example request answered)."""

import json

import numpy as np
import pytest

from serving.launch import running_server
from tests.tfserving_client import Client
from zoo.cli import main

pytestmark = pytest.mark.slow  # make test-fast leaves it out; make test runs it

# A continuous-input classifier and a generating model: their cards and requests differ the most.
PRESETS = ("gun_point_bigru", "addition_lstm")
QUICK = ("--epochs", "1", "--limit", "24")


def _make_zoo(root):
    args = ["zoo", "--zoo-dir", str(root / "zoo_exports"), "--runs-dir", str(root / "runs"), *QUICK]
    for name in PRESETS:
        args += ["--preset", name]
    assert main(args) == 0
    return root / "zoo_exports"


@pytest.fixture(scope="module")
def zoo_dir(tmp_path_factory):
    return _make_zoo(tmp_path_factory.mktemp("catalogue"))


def test_the_index_lists_every_model_folder_and_nothing_else(zoo_dir):
    index = json.loads((zoo_dir / "catalog.json").read_text())
    folders = sorted(p.name for p in zoo_dir.iterdir() if p.is_dir())
    assert [entry["name"] for entry in index["models"]] == folders == sorted(PRESETS)
    table = (zoo_dir / "CATALOG.md").read_text()
    for entry in index["models"]:
        assert (zoo_dir / entry["card"]).is_file() and entry["version"] == 1
        assert entry["onnx_kb"] > 0 and entry["onnx_latency_ms"] > 0
        assert f"[{entry['name']}]({entry['card']})" in table


def test_each_card_names_every_input_and_output_of_its_metadata(zoo_dir):
    for name in PRESETS:
        metadata = json.loads((zoo_dir / name / "1" / "metadata.json").read_text())
        card = (zoo_dir / name / "MODEL_CARD.md").read_text()
        for tensor in metadata["inputs"] + metadata["outputs"] + metadata["id_inputs"]:
            assert f"`{tensor['name']}`" in card
        for label in metadata.get("labels") or []:
            assert label in card
        assert metadata["data"]["licence"] in card
        assert json.dumps(metadata["example_request"]) in card
        assert f"PRESET={name}" in card


def test_the_zoo_is_served_and_each_cards_example_request_is_answered(zoo_dir, tmp_path):
    with running_server(zoo_dir, "onnx", tmp_path / "server.log") as (base_url, process):
        client = Client(base_url)
        for name in PRESETS:
            metadata = json.loads((zoo_dir / name / "1" / "metadata.json").read_text())
            status, answer = client.predict(name, metadata["example_request"])
            assert status == 200, answer
            (prediction,) = answer["predictions"]
            outputs = metadata["outputs"]
            if isinstance(prediction, dict):  # generated ids come with their strings
                assert {tensor["name"] for tensor in outputs} <= set(prediction)
            else:  # TF Serving gives a lone output's value itself
                (output,) = outputs
                assert np.asarray(prediction).shape == tuple(output["shape"][1:])
    assert process.returncode is not None


def test_make_zoo_again_keeps_finished_models_and_restores_what_is_missing(zoo_dir):
    root = zoo_dir.parent
    trained = {name: (root / "runs" / name / "metrics.json").stat().st_mtime_ns for name in PRESETS}
    (zoo_dir / PRESETS[0] / "MODEL_CARD.md").unlink()
    (zoo_dir / "catalog.json").unlink()
    _make_zoo(root)
    assert {name: (root / "runs" / name / "metrics.json").stat().st_mtime_ns for name in PRESETS} == trained
    assert sorted(p.name for p in (zoo_dir / PRESETS[0]).iterdir()) == ["1", "MODEL_CARD.md"]
    assert len(json.loads((zoo_dir / "catalog.json").read_text())["models"]) == len(PRESETS)


def test_a_bench_figure_of_another_metric_is_named_beside_the_models_own():
    from export.catalogue import bench_figure

    assert bench_figure({"metric": "accuracy", "test": "0.961 ± 0.015"}, "accuracy") == "0.961 ± 0.015"
    assert bench_figure({"metric": "mse", "test": "0.0002"}, "root_mean_squared_error") == "mse 0.0002"
    assert bench_figure({}, "accuracy") is None
