"""Dynamic batching: the requests waiting for one served version run as one model call.

As TF Serving's batching (`--enable_batching`: max_batch_size, batch_timeout_micros, a bounded queue,
num_batch_threads) and Triton's dynamic batcher (max_queue_delay, max_queue_size, instances): requests
wait in a bounded queue; each of `batch_threads` threads per version takes up to `max_batch_size` rows
from it when free, waiting at most `batch_timeout_ms` for more once the first has arrived (0: it takes
whatever is waiting, so that a lone request never waits), right-pads the sequence inputs of rows of
different lengths with their pad value (the masks make padding exact), runs the model once and hands
each request its rows, cut back to its own steps where an output has one entry per step.

Rows are shared fairly: each batch gives every waiting request an equal share of its rows, the
smallest demands filled first (water-filling), so a large request goes through in slices beside the
small ones instead of ahead of them, and one model call never holds more than `max_batch_size` rows.
A full queue refuses a request at once (503 with Retry-After) instead of letting latency grow
without bound.
"""

import contextlib
import threading
import time

import numpy as np
from prometheus_client import Counter, Gauge, Histogram

from serving.errors import Overloaded

QUEUE = Gauge("rnn_zoo_queue_requests", "Requests waiting for a model call", ["model", "version"])
BATCH_ROWS = Histogram("rnn_zoo_batch_rows", "Rows per model call", ["model", "version"],
                       buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512))
BATCH_REQUESTS = Histogram("rnn_zoo_batch_requests", "Requests sharing one model call", ["model", "version"],
                           buckets=(1, 2, 4, 8, 16, 32, 64))
LATENCY = Histogram("rnn_zoo_request_seconds", "Time from a request's arrival in the queue to its answer",
                    ["model", "version"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
# A request body of this size or more is large: large requests are read, run and written one at a
# time (the others wait without holding the GIL), so that small ones keep a fair share of it.
LARGE_BODY_BYTES = 1 << 20
_LARGE = threading.Lock()


@contextlib.contextmanager
def lane(body_bytes):
    """The lane of a request with a body of `body_bytes`: large ones one at a time, small ones free.

    Parsing a large JSON body and turning it into arrays is Python work under the GIL: several at
    once left the small requests beside them waiting for it (a p99 of seconds)."""
    if body_bytes < LARGE_BODY_BYTES:
        yield
        return
    with _LARGE:
        yield


REFUSED = Counter("rnn_zoo_refused_requests", "Requests refused because the queue was full",
                  ["model", "version"])


class _Request:
    """One request in the queue: its arrays, how many of its rows are taken, the answers so far."""

    def __init__(self, arrays, key, padded):
        self.arrays = arrays
        self.key = key
        self.rows = len(next(iter(arrays.values())))
        self.steps = next((arrays[name].shape[1] for name in padded if name in arrays), None)
        self.taken = 0
        self.parts = {}  # first row -> the answers for the rows from there
        self.answered = 0
        self.error = None
        self.arrived = time.monotonic()
        self.done = threading.Event()

    def slice(self, start, stop):
        return {name: array[start:stop] for name, array in self.arrays.items()}


class Batcher:
    """Runs `run` (named arrays -> named arrays, a batch) for the requests of one served version.

    padded_inputs: {input name: pad value} of the inputs whose axis 1 is steps that may be padded;
    per_step_outputs: the outputs with one entry per step of the first of them (cut back per request).
    Without them (an export older than batching), only requests of the same shapes share a call.
    """

    def __init__(self, run, settings, padded_inputs=None, per_step_outputs=(), labels=("", "")):
        self.run = run
        self.settings = settings
        self.padded = dict(padded_inputs or {})
        self.per_step = set(per_step_outputs)
        self.labels = labels
        self._pending = []
        self._lock = threading.Condition()
        self._closed = False
        for index in range(settings.threads):
            threading.Thread(target=self._loop, name=f"batcher-{labels[0]}-{labels[1]}-{index}",
                             daemon=True).start()

    def __call__(self, arrays):
        """The model's outputs for this request's rows, once its turn came."""
        request = _Request(arrays, self._key(arrays), self.padded)
        with self._lock:
            if self._closed:
                raise Overloaded("This model version is being unloaded; send the request again.")
            if len(self._pending) >= self.settings.max_queue:
                REFUSED.labels(*self.labels).inc()
                raise Overloaded(f"The queue of model {self.labels[0]} is full ({self.settings.max_queue} "
                                 "requests waiting, --max-queue); send the request again shortly.")
            self._pending.append(request)
            QUEUE.labels(*self.labels).set(len(self._pending))
            self._lock.notify()
        request.done.wait()
        LATENCY.labels(*self.labels).observe(time.monotonic() - request.arrived)
        if request.error is not None:
            raise request.error
        parts = [request.parts[start] for start in sorted(request.parts)]  # slices may finish out of order
        if len(parts) == 1:
            return parts[0]
        return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}

    def close(self):
        """Stops the threads once the requests already taken are answered; waiting ones are refused."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()

    def _key(self, arrays):
        """What must be equal for two requests to share a call: dtypes, and shapes but for the rows
        and a padded input's steps."""
        return tuple((name, array.dtype.str,
                      (None, *array.shape[2:]) if name in self.padded else array.shape[1:])
                     for name, array in sorted(arrays.items()))

    def _loop(self):
        while True:
            with self._lock:
                while not self._pending and not self._closed:
                    self._lock.wait()
                if self._closed:
                    for request in self._pending:
                        request.error = Overloaded("This model version was unloaded; send the request again.")
                        request.done.set()
                    self._pending = []
                    self._lock.notify_all()
                    return
                self._wait_for_more()
                if not self._pending:  # another thread took them while this one waited
                    continue
                batch = self._take()
                QUEUE.labels(*self.labels).set(len(self._pending))
            self._answer(batch)

    def _wait_for_more(self):
        """Within batch_timeout_ms of the oldest request, waits until a batch's rows are waiting."""
        deadline = self._pending[0].arrived + self.settings.batch_timeout_ms / 1000
        while not self._closed and self._pending:
            key = self._pending[0].key
            waiting = sum(r.rows - r.taken for r in self._pending if r.key == key)
            left = deadline - time.monotonic()
            if waiting >= self.settings.max_batch_size or left <= 0:
                return
            self._lock.wait(left)

    def _take(self):
        """[(request, start, stop)]: equal shares of max_batch_size rows among the waiting requests of
        the oldest one's kind, the smallest demands filled first; those fully taken leave the queue."""
        key = self._pending[0].key
        group = sorted((r for r in self._pending if r.key == key), key=lambda r: r.rows - r.taken)
        left, batch = self.settings.max_batch_size, []
        for index, request in enumerate(group):
            share = max(left // (len(group) - index), 1 if left else 0)
            rows = min(request.rows - request.taken, share)
            if rows:
                batch.append((request, request.taken, request.taken + rows))
                request.taken += rows
                left -= rows
        self._pending = [r for r in self._pending if r.taken < r.rows]
        return batch

    def _answer(self, batch):
        try:
            outputs = self._call([request.slice(start, stop) for request, start, stop in batch])
        except Exception as error:  # a request that fails alone fails alone: run each part on its own
            if len(batch) == 1:
                return self._fail(batch[0][0], error)
            for part in batch:
                self._answer([part])
            return
        BATCH_ROWS.labels(*self.labels).observe(sum(stop - start for _, start, stop in batch))
        BATCH_REQUESTS.labels(*self.labels).observe(len(batch))
        offset = 0
        for request, start, stop in batch:
            rows = stop - start
            part = {}
            for name, array in outputs.items():
                piece = array[offset:offset + rows]
                if name in self.per_step and request.steps is not None and piece.ndim > 1:
                    piece = piece[:, :request.steps]
                part[name] = piece
            offset += rows
            with self._lock:
                request.parts[start] = part
                request.answered += rows
                if request.answered == request.rows and request.error is None:
                    request.done.set()

    def _fail(self, request, error):
        request.error = error
        with self._lock:
            self._pending = [r for r in self._pending if r is not request]
        request.done.set()

    def _call(self, slices):
        if len(slices) == 1:
            return self.run(slices[0])
        merged = {}
        for name in slices[0]:
            arrays = [piece[name] for piece in slices]
            if name in self.padded:
                steps = max(array.shape[1] for array in arrays)
                arrays = [np.pad(array, [(0, 0), (0, steps - array.shape[1])] + [(0, 0)] * (array.ndim - 2),
                                 constant_values=self.padded[name]) for array in arrays]
            merged[name] = np.concatenate(arrays)
        return self.run(merged)
