"""The step model (zoo.step) and the streaming export (export.streaming): one step and the states in,
the answer for the steps so far and the new states out, equal to the whole sequence's answer."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

import zoo
from export import ExportError, export_model
from export.streaming import Streaming
from tests.tiny import TINY, tiny_trained
from zoo.step import NotStreamable, step_model

pytestmark = pytest.mark.slow  # make test-fast leaves it out; make test runs it


def _streamed(stepped, x):
    """The step model's answers to x [batch, steps, ...] fed one step at a time from zero states."""
    states = [np.zeros((len(x), int(s.shape[-1])), "float32") for s in stepped.inputs[1:]]
    answers = []
    for t in range(x.shape[1]):
        answer, *states = (np.asarray(a) for a in stepped([x[:, t:t + 1], *states], training=False))
        answers.append(answer)
    return answers


@pytest.mark.parametrize(("task_name", "cell", "layers"), [
    ("many_to_one", "lstm", 2), ("many_to_one", "simple_rnn", 1), ("tagging", "gru", 2),
    ("tagging", "lstm", 1)])
def test_fed_step_by_step_the_step_model_answers_as_the_whole_sequence(task_name, cell, layers, rng):
    spec, make_inputs, _ = TINY[task_name]
    model = zoo.get_task(task_name).build_model(spec, units=4, cell=cell, layers=layers, bidirectional=False)
    stepped, names = step_model(model)
    x = make_inputs(rng, 3, 6)
    whole = np.asarray(model(x))
    per_layer = ("h", "c") if cell == "lstm" else ("h",)
    assert names == [f"rnn_{depth}_{state}" for depth in range(1, layers + 1) for state in per_layer]
    for t, answer in enumerate(_streamed(stepped, x)):
        # A per-step output at step t; one answer for the first t + 1 steps otherwise.
        expected = whole[:, t:t + 1] if whole.ndim == 3 else np.asarray(model(x[:, :t + 1]))
        np.testing.assert_allclose(answer, expected, rtol=1e-6, atol=1e-6)
    assert stepped.count_params() == model.count_params()  # the same layers, no weights of its own


@pytest.mark.parametrize(("task_name", "architecture", "culprit"), [
    ("many_to_one", {"bidirectional": True}, "bidirectional"),
    ("many_to_one", {"readout": "mean"}, "mean_over_steps"),
    ("many_to_one", {"fcn": True}, "fcn_conv_1"),
    ("many_to_one", {"chunk": 2}, "chunk_steps"),
    ("many_to_one", {"znorm": True}, "znorm"),
    ("forecasting", {}, "WindowScaler"),
])
def test_a_model_that_reads_other_steps_does_not_stream_and_says_which(task_name, architecture, culprit):
    spec, _, _ = TINY[task_name]
    model = zoo.get_task(task_name).build_model(spec, units=4, **architecture)
    with pytest.raises(NotStreamable, match=culprit):
        step_model(model)


def test_the_export_streams_in_every_runtime_and_refuses_a_step_that_differs(rng, tmp_path, monkeypatch):
    task, model, contract, source = tiny_trained("many_to_one", rng, cell="gru", layers=2)
    version = export_model(model, task, contract, source, tmp_path, "stream")
    streaming = json.loads((version / "metadata.json").read_text())["streaming"]
    assert streaming["state_inputs"] == ["rnn_1_h", "rnn_2_h"]
    assert streaming["state_outputs"] == ["rnn_1_h_next", "rnn_2_h_next"]
    assert streaming["input_shape"] == [None, 1, source.shape[-1]] and streaming["state_sizes"] == [4, 4]
    assert streaming["verification"]["steps_checked"] == [7, 4]  # two held-out rows at their real lengths
    assert (version / streaming["onnx"]).is_file()
    # The export guide's streaming example, run on this export (as exports/many_to_one/1) and fed a
    # held-out row's real steps, ends at the whole sequence's answer.
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "many_to_one").symlink_to(version.parent)
    monkeypatch.chdir(tmp_path)
    page = (Path(__file__).parent.parent / "docs" / "pages" / "guides" / "export.md").read_text()
    example = next(block for block in re.findall(r"^```python\n(.*?)^```", page, flags=re.M | re.S)
                   if "sensor_readings" in block)
    namespace = {"sensor_readings": lambda: iter(source[0, :7])}
    exec(compile(example, "docs/pages/guides/export.md", "exec"), namespace)  # noqa: S102
    np.testing.assert_allclose(namespace["answer"][0], model(source[:1, :7], training=False)[0], atol=1e-5)

    expected = Streaming.expected
    monkeypatch.setattr(Streaming, "expected", lambda self, *a: expected(self, *a) + 1e-4)
    with pytest.raises(ExportError, match="step signature.*differs from the whole sequence"):
        export_model(model, task, contract, source, tmp_path, "broken")
    assert not (tmp_path / "broken").exists()


def test_tasks_that_do_not_stream_say_why_in_their_export(rng, tmp_path):
    task, model, contract, source = tiny_trained("one_to_one", rng)
    version = export_model(model, task, contract, source, tmp_path, "vector")
    streaming = json.loads((version / "metadata.json").read_text())["streaming"]
    assert streaming == {"onnx": None, "unsupported": streaming["unsupported"]}
    assert "reads no sequence step by step" in streaming["unsupported"]
