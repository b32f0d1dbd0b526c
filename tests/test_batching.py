"""Length bucketing (zoo.batching): batches of similar lengths, each padded to its own longest row,
with every example once per epoch, and nothing the model computes changed."""

import json

import numpy as np
import pytest

import zoo
from zoo import batching
from zoo.data import PAD_VALUE, pad
from zoo.training import TrainConfig, train


def _tokens(count, seed=0, longest=40):
    rng = np.random.default_rng(seed)
    rows = [rng.integers(1, 30, rng.integers(1, longest + 1)).tolist() for _ in range(count)]
    return pad(rows)[0]


def test_lengths_count_to_the_last_real_step_of_right_padded_rows():
    tokens = np.array([[5, 3, 0, 0], [7, 0, 0, 0], [1, 2, 3, 4], [0, 0, 0, 0]])
    assert batching.lengths(tokens).tolist() == [2, 1, 4, 0]
    series = np.full((2, 3, 2), PAD_VALUE, "float32")
    series[0, :2] = [[0.0, 1.0], [0.0, 0.0]]  # real zeros are not padding
    series[1, 0, 1] = 2.0  # a step with one real feature is real
    assert batching.lengths(series).tolist() == [2, 1]


def test_bucketed_batches_hold_similar_lengths_each_padded_to_its_own_longest():
    task = zoo.get_task("tagging")
    x = _tokens(600)
    y = np.where(x > 0, x % 5 + 1, 0)
    plain = list(batching.dataset(task, x, y, 32, seed=1, bucketing=False))
    bucketed = list(batching.dataset(task, x, y, 32, seed=1, bucketing=True))
    assert len(bucketed) == int(batching.dataset(task, x, y, 32, seed=1, bucketing=True).cardinality())

    def spread(batches):
        return np.mean([np.ptp(batching.lengths(xb.numpy())) for xb, _ in batches])

    assert spread(bucketed) < spread(plain) / 3  # reordered by length
    for xb, yb in bucketed:
        lengths = batching.lengths(xb.numpy())
        assert xb.shape[1] == lengths.max() == yb.shape[1]  # padded to its own longest row only
        assert np.array_equal(yb.numpy() > 0, xb.numpy() > 0)  # each tag still beside its token
    # Every example once per epoch, unchanged once its padding is stripped.
    seen = sorted(tuple(row[row > 0]) for xb, _ in bucketed for row in xb.numpy())
    assert seen == sorted(tuple(row[row > 0]) for row in x)
    share = batching.padding(task, x, bucketed)
    assert share["bucketed"] < share["unbucketed"] / 2


def test_a_second_epoch_is_reshuffled_and_a_seed_repeats_its_order():
    task = zoo.get_task("tagging")
    x = _tokens(300)
    y = np.where(x > 0, 1, 0)
    batches = batching.dataset(task, x, y, 16, seed=3, bucketing=True)
    first, second = ([xb.numpy().tobytes() for xb, _ in batches] for _ in range(2))
    assert first != second
    again = batching.dataset(task, x, y, 16, seed=3, bucketing=True)
    assert [xb.numpy().tobytes() for xb, _ in again] == first


def _answers(model, task, batches):
    """{an example's real input steps: the model's answer on its real steps}, over `batches`."""
    answers = {}
    for inputs, _ in batches:
        parts = list(inputs) if isinstance(inputs, tuple) else [inputs]
        predicted = model.predict_on_batch(inputs)
        for row in range(len(predicted)):
            trimmed = [np.asarray(p[row]) for p in parts]
            for i in task.sequence_inputs:
                trimmed[i] = trimmed[i][: batching.lengths(trimmed[i][None])[0]]
            answer = predicted[row]
            if task.target_per_step:
                answer = answer[: len(trimmed[task.sequence_inputs[-1]])]
            answers[b"|".join(t.tobytes() for t in trimmed)] = answer
    return answers


@pytest.mark.parametrize("task_name", ["many_to_one", "tagging", "seq2seq", "one_to_many"])
def test_the_model_gives_each_example_the_same_answer_in_a_bucketed_batch(task_name):
    """Masks make the padding invisible: only which examples share a batch changes."""
    task = zoo.get_task(task_name)
    config = TrainConfig(task=task_name, dataset="japanese_vowels" if task_name == "many_to_one" else None,
                         cell="gru", units=8, limit=96).resolved()
    data = task.load(config.dataset, limit=96, seed=0)
    assert batching.lengths_vary(task, data.x_train)
    model = task.build(data.spec, config.architecture_for(data))
    whole = batching.dataset(task, data.x_train, data.y_train, 96, seed=0, bucketing=False, shuffle=False)
    bucketed = batching.dataset(task, data.x_train, data.y_train, 16, seed=0, bucketing=True)
    expected, got = _answers(model, task, whole), _answers(model, task, bucketed)
    assert got.keys() == expected.keys()
    for key, answer in expected.items():
        np.testing.assert_allclose(got[key], answer, atol=1e-5)


@pytest.mark.slow
def test_bucketing_trains_to_the_same_accuracy_and_says_how_much_padding_it_saved(tmp_path):
    settings = {"task": "many_to_one", "dataset": "japanese_vowels", "cell": "gru", "units": 16, "epochs": 8,
                "batch_size": 16, "learning_rate": 1e-2, "schedule": "constant", "patience": 8, "limit": 120}
    runs = {on: train(TrainConfig(**settings, bucketing=on), run_dir=tmp_path / str(on), verbose=0)
            for on in (False, True)}
    metrics = {on: json.loads((run / "metrics.json").read_text()) for on, run in runs.items()}
    assert metrics[False]["bucketing"] is None
    saved = metrics[True]["bucketing"]
    assert saved["bucketed"] < saved["unbucketed"]
    # Both learn the nine speakers well above chance (1/9); bucketing costs no more than seed noise.
    accuracy = {on: m["test"]["accuracy"] for on, m in metrics.items()}
    assert min(accuracy.values()) > 0.5
    assert abs(accuracy[True] - accuracy[False]) < 0.15
