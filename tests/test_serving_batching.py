"""Dynamic batching (serving.batching): waiting requests share one model call, rows of other lengths
padded and their per-step answers cut back; large requests go in fair slices; a full queue refuses;
a request that fails, fails alone; an export's answers are the same batched or not."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from prometheus_client import REGISTRY

from serving.batching import Batcher
from serving.errors import Overloaded
from serving.runtimes import ServedVersion
from serving.settings import Batching
from tests.tiny import tiny_trained
from zoo.errors import ZooError

PAD = -1.0


class Model:
    """A stand-in for a runtime: per row, the sum of its real steps and the running sum per step;
    the first call waits for `release` so that the next requests queue behind it."""

    def __init__(self, fail_on=None):
        self.calls, self.inputs, self.release, self.fail_on = [], [], threading.Event(), fail_on

    def __call__(self, arrays):
        x = arrays["x"]
        self.calls.append(x.shape)
        self.inputs.append(x)
        if len(self.calls) == 1:
            self.release.wait(10)
        if self.fail_on is not None and np.any(x == self.fail_on):
            raise ValueError("a value this model cannot take")
        real = np.where(x == PAD, 0.0, x)
        return {"total": real.sum(axis=1), "running": np.cumsum(real, axis=1)}


def _rows(rng, count, steps):
    return rng.normal(size=(count, steps)).astype("float32")


def _submit_behind_a_first_call(batcher, model, requests):
    """Sends one request that holds the model, then `requests` while it is held; returns the answers
    (an exception where one failed), the first's last."""
    with ThreadPoolExecutor(len(requests) + 1) as pool:
        first = pool.submit(batcher, {"x": np.ones((1, 2), "float32")})
        while not model.calls:
            time.sleep(0.001)
        futures = [pool.submit(batcher, request) for request in requests]
        while len(batcher._pending) < len(requests):
            time.sleep(0.001)
        model.release.set()
        answers = [future.exception() or future.result() for future in futures]
        return answers + [first.result()]


def test_waiting_requests_of_other_lengths_share_one_call_and_get_their_own_steps_back():
    rng = np.random.default_rng(0)
    model = Model()
    batcher = Batcher(model, Batching(max_batch_size=32, batch_threads=1), {"x": PAD}, ["running"],
                      labels=("m", "1"))
    requests = [{"x": _rows(rng, rows, steps)} for rows, steps in ((1, 5), (3, 9), (2, 2), (1, 9))]
    answers = _submit_behind_a_first_call(batcher, model, requests)
    assert model.calls == [(1, 2), (7, 9)]  # the four waiting requests: one call, padded to 9 steps
    # /metrics: two calls, of 1 and 4 requests (8 rows in all), and five requests answered.
    sample = lambda name: REGISTRY.get_sample_value(name, {"model": "m", "version": "1"})  # noqa: E731
    assert (sample("rnn_zoo_batch_requests_count"), sample("rnn_zoo_batch_requests_sum")) == (2, 5)
    assert sample("rnn_zoo_batch_rows_sum") == 8 and sample("rnn_zoo_request_seconds_count") == 5
    for request, answer in zip(requests, answers):
        x = request["x"]
        np.testing.assert_allclose(answer["total"], x.sum(axis=1), rtol=1e-6)
        np.testing.assert_allclose(answer["running"], np.cumsum(x, axis=1), rtol=1e-6)
        assert answer["running"].shape == x.shape
    batcher.close()


def test_a_large_request_goes_in_slices_fairly_shared_with_small_ones():
    rng = np.random.default_rng(1)
    model = Model()
    batcher = Batcher(model, Batching(max_batch_size=8, batch_threads=1), {"x": PAD}, ["running"])
    large = {"x": _rows(rng, 40, 4)}
    small = [{"x": _rows(rng, 1, 4)} for _ in range(6)]
    answers = _submit_behind_a_first_call(batcher, model, [large, *small])
    # Each call at most 8 rows; the first after the held one answers all six small requests (one row
    # each) beside two rows of the large one, which then goes on in slices of 8.
    assert model.calls[1:] == [(8, 4)] * 5 + [(6, 4)]
    np.testing.assert_array_equal(model.inputs[1], np.concatenate([r["x"] for r in small] + [large["x"][:2]]))
    np.testing.assert_allclose(answers[0]["total"], large["x"].sum(axis=1), rtol=1e-6)
    for request, answer in zip(small, answers[1:]):
        np.testing.assert_allclose(answer["total"], request["x"].sum(axis=1), rtol=1e-6)
    batcher.close()


def test_slices_answered_out_of_order_by_several_threads_come_back_in_order():
    rng = np.random.default_rng(4)
    delays = iter(rng.uniform(0, 0.02, 1000))

    def slow(arrays):
        time.sleep(next(delays))
        return {"total": arrays["x"].sum(axis=1)}

    batcher = Batcher(slow, Batching(max_batch_size=4, batch_threads=3, batch_timeout_ms=5), {"x": PAD})
    requests = [{"x": _rows(rng, rows, 3)} for rows in (23, 1, 9, 2)]
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(batcher, requests))
    for request, answer in zip(requests, answers):
        np.testing.assert_allclose(answer["total"], request["x"].sum(axis=1), rtol=1e-6)
    batcher.close()


def test_a_full_queue_refuses_at_once_and_a_failing_request_fails_alone():
    rng = np.random.default_rng(2)
    model = Model(fail_on=7.0)
    batcher = Batcher(model, Batching(max_queue=3, batch_threads=1), {"x": PAD})
    bad = {"x": np.full((1, 3), 7.0, "float32")}
    good = [{"x": _rows(rng, 1, 3)} for _ in range(2)]
    extra = {"x": _rows(rng, 1, 3)}
    with ThreadPoolExecutor(6) as pool:
        first = pool.submit(batcher, {"x": np.ones((1, 2), "float32")})
        while not model.calls:
            time.sleep(0.001)
        futures = [pool.submit(batcher, request) for request in (bad, *good)]
        while len(batcher._pending) < 3:
            time.sleep(0.001)
        with pytest.raises(Overloaded, match="queue of model .* is full \\(3 requests waiting"):
            batcher(extra)
        model.release.set()
        first.result()
        with pytest.raises(ValueError, match="cannot take"):
            futures[0].result()
        for request, future in zip(good, futures[1:]):
            np.testing.assert_allclose(future.result()["total"], request["x"].sum(axis=1), rtol=1e-6)
    batcher.close()
    with pytest.raises(Overloaded, match="being unloaded"):
        batcher(extra)
    with pytest.raises(ZooError, match="--max-batch-size must be a number >= 1, got 0"):
        Batching(max_batch_size=0)


@pytest.mark.parametrize("runtime", ["onnx", "savedmodel"])
def test_an_exports_answers_are_the_same_batched_or_not(runtime, tmp_path):
    """A tagging export (answers per step) fed rows of many lengths by 12 clients at once."""
    from export import export_model

    rng = np.random.default_rng(3)
    task, model, contract, source = tiny_trained("tagging", rng, cell="gru", bidirectional=True)
    version = export_model(model, task, contract, source, tmp_path, "tags")
    alone = ServedVersion(version, runtime)
    # A version whose one-example call takes less than min_call_ms runs its requests alone.
    timed = ServedVersion(version, runtime, batching=Batching(min_call_ms=1000))
    assert 0 < timed.call_ms < 1000 and timed.batching is None
    shared = ServedVersion(version, runtime,
                           batching=Batching(max_batch_size=8, batch_threads=1, min_call_ms=0))
    assert shared.batching is not None
    assert shared.metadata["batching"] == {"padded_inputs": {"tokens": 0}, "per_step_outputs": ["tags"]}
    requests = [{"tokens": rng.integers(1, 11, size=(rows, steps)).astype("int32")}
                for rows, steps in zip(rng.integers(1, 6, 12), rng.integers(2, 12, 12))]
    run, calls = shared._batcher.run, []

    def held_first(arrays):  # the first call takes long enough for the other requests to queue
        calls.append({name: array.shape for name, array in arrays.items()})
        time.sleep(0.3 if len(calls) == 1 else 0)
        return run(arrays)

    shared._batcher.run = held_first
    with ThreadPoolExecutor(12) as pool:
        batched = list(pool.map(shared.predict, requests))
    assert len(calls) < 12 and max(call["tokens"][0] for call in calls) <= 8
    for request, answer in zip(requests, batched):
        expected = alone.predict(request)
        assert answer["tags"].shape == expected["tags"].shape
        np.testing.assert_allclose(answer["tags"], expected["tags"], atol=1e-5)
    shared.close()
