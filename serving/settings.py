"""The batcher's settings (serving.batching), one field each: `rnn-zoo serve` makes a flag of every
field (--max-batch-size, ...) and the Makefile passes its upper-case name (MAX_BATCH_SIZE=, ...).
Light on purpose: the command line reads it to build its --help."""

from dataclasses import dataclass, field, fields


@dataclass(frozen=True)
class Batching:
    """How concurrent requests for one model version share model calls."""

    max_batch_size: int = field(default=32, metadata={
        "help": "rows one model call takes at most; larger requests go in slices"})
    batch_timeout_ms: float = field(default=0.0, metadata={
        "help": "milliseconds the first waiting request waits for others (0: none; the model's own "
                "time is the window)"})
    max_queue: int = field(default=256, metadata={
        "help": "requests that may wait per model version; more get 503 with Retry-After"})
    min_call_ms: float = field(default=1.0, metadata={
        "help": "batch a model version only where one example's model call, timed when it loads, takes "
                "at least this long (ms); a faster call costs less than the HTTP round trip around it, "
                "and its requests run alone (0: batch every version)"})
    batch_threads: int = field(default=0, metadata={
        "help": "model calls of one version that may run at once (0: one per CPU core; a recurrent "
                "model's steps run one after another, so one call seldom fills every core)"})

    @property
    def threads(self):
        import os

        return self.batch_threads or os.cpu_count() or 1

    def __post_init__(self):
        from zoo.errors import ZooError

        for setting in fields(self):
            value = getattr(self, setting.name)
            low = 0 if setting.name in ("batch_timeout_ms", "batch_threads", "min_call_ms") else 1
            if isinstance(value, bool) or not isinstance(value, int | float) or value < low:
                flag = "--" + setting.name.replace("_", "-")
                raise ZooError(f"{flag} must be a number >= {low}, got {value!r}.")
