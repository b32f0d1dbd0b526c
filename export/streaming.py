"""The streaming artifacts of an export: the step model (zoo.step) as the SavedModel's `step` signature,
as step.onnx and as model.tflite's `step` signature, each proven to answer, fed one step at a time with
its states carried, what the whole-sequence model answers for the steps so far.

The client holds the states: it starts them at zeros ([batch, size] each, sizes in metadata.json's
"streaming"), sends each step with them and keeps the new ones the answer brings. Nothing is kept
between calls, so a stateless server (TF Serving, the zoo's own) serves it as any model.
"""

import numpy as np
import tensorflow as tf

from export.fused import Unsupported, tf2onnx_model
from export.fused_step import fused_step_onnx
from export.litert import STEP_SIGNATURE_NAME
from export.litert import runner as litert_runner
from export.verify import TOLERANCE, onnx_runner, real_length
from zoo.step import NotStreamable, step_model

SIGNATURE_NAME = STEP_SIGNATURE_NAME  # in the SavedModel and model.tflite
ONNX_FILE = "step.onnx"
# The held-out examples streamed by the check, each alone (batch 1, as a live stream), up to STEPS steps.
EXAMPLES, STEPS = 2, 512


def next_name(state):
    """The output that carries a state input's new value."""
    return f"{state}_next"


class Streaming:
    """The step function of a model that streams, or why it does not (`unsupported`)."""

    def __init__(self, model, task):
        self.function, self.unsupported = None, None
        if not task.streams:
            self.unsupported = (f"task {task.name!r} reads no sequence step by step: it answers from a "
                                "vector, or generates from a source it reads whole")
            return
        try:
            stepped, self.states = step_model(model)
        except NotStreamable as error:
            self.unsupported = str(error)
            return
        self._model, self._stepped, self.written_by = model, stepped, None
        (self.output,) = model.output_names
        # The answer has a step axis (a tagger's): the step answers its one step, [batch, 1, ...].
        self.per_step = stepped.outputs[0].shape[1] == 1 and model.outputs[0].shape[1] is None
        step_input, *state_inputs = stepped.inputs
        self.input = step_input.name
        self.sizes = {s.name: int(s.shape[-1]) for s in state_inputs}
        signature = [tf.TensorSpec(t.shape, t.dtype, name=t.name) for t in stepped.inputs]

        @tf.function(input_signature=signature)
        def step(x, *states):
            output, *new_states = stepped([x, *states], training=False)
            return {self.output: output, **{next_name(n): s for n, s in zip(self.states, new_states)}}

        self.function = step

    def onnx_model(self, opset):
        """step.onnx: fused recurrent nodes (export.fused_step) where the writer knows every layer, else
        tf2onnx's graph of the step function."""
        try:
            self.written_by = "rnn-zoo"
            return fused_step_onnx(self._model, self._stepped,
                                   [self.output, *(next_name(s) for s in self.states)], opset)
        except Unsupported:
            self.written_by = "tf2onnx"
        return tf2onnx_model(self.function, opset)

    def metadata(self, litert_signature, verification):
        if self.unsupported:
            return {"onnx": None, "unsupported": self.unsupported}
        return {
            "signature_name": SIGNATURE_NAME,
            "onnx": ONNX_FILE,
            "onnx_written_by": self.written_by,
            "litert_signature": litert_signature,
            "input": self.input,
            "input_shape": self.function.input_signature[0].shape.as_list(),
            "state_inputs": list(self.states),
            "state_outputs": [next_name(s) for s in self.states],
            "state_sizes": [self.sizes[s] for s in self.states],
            "outputs": [self.output],
            "initial_states": "zeros, [batch, size] float32 each",
            "verification": verification,
        }

    def expected(self, whole, example):
        """The whole-sequence answer after each step of `example` ([steps, ...]): `whole` (the served
        function) on each prefix, unpadded (a model without a mask reads padding as values)."""
        answers = [whole(tf.constant(example[None, :t + 1]))[self.output].numpy()[0]
                   for t in range(len(example))]
        return np.stack([a[-1:] for a in answers] if self.per_step else answers)

    def streamed(self, run, example):
        """`run` ({name: array} -> {name: array}) fed `example` one step at a time, from zero states."""
        states = {name: np.zeros((1, self.sizes[name]), np.float32) for name in self.states}
        answers = []
        for t in range(len(example)):
            out = run({self.input: example[None, t:t + 1], **states})
            states = {name: np.asarray(out[next_name(name)]) for name in self.states}
            answers.append(np.asarray(out[self.output])[0])
        return np.stack(answers)

    def verify(self, whole, runtimes, examples):
        """Streams held-out examples through each runtime ({name: run}); raises ValueError where an
        answer differs from the whole sequence's by more than TOLERANCE (relative, and absolute in units
        of the answer's largest magnitude over 1, as export.verify compares)."""
        worst = dict.fromkeys(runtimes, 0.0)
        checked = []
        for example in np.asarray(examples)[:EXAMPLES]:
            example = example[: min(real_length(example), STEPS)]
            expected = self.expected(whole, example)
            checked.append(len(example))
            for runtime, run in runtimes.items():
                got = self.streamed(run, example)
                difference = float(np.max(np.abs(got - expected), initial=0.0))
                worst[runtime] = max(worst[runtime], difference)
                magnitude = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
                if got.shape != expected.shape or not np.allclose(got, expected, rtol=TOLERANCE,
                                                                  atol=TOLERANCE * magnitude):
                    raise ValueError(f"{runtime}'s step signature, fed an example of {len(example)} steps "
                                     f"one at a time, differs from the whole sequence's answers by "
                                     f"{difference:.3g} (tolerance {TOLERANCE}).")
        return {"tolerance": TOLERANCE, "steps_checked": checked, "max_abs_diff": worst, "passed": True}


def runtimes(saved_model, onnx_path, litert_path=None):
    """{runtime: run} for the step of each artifact (the SavedModel loaded): run takes and gives
    {name: array}."""
    from onnx.reference import ReferenceEvaluator

    signature = saved_model.signatures[SIGNATURE_NAME]
    reference = ReferenceEvaluator(str(onnx_path))
    names = reference.output_names
    found = {
        "savedmodel": lambda feeds: {k: v.numpy() for k, v in signature(
            **{name: tf.constant(value) for name, value in feeds.items()}).items()},
        "onnx": onnx_runner(onnx_path),
        "onnx_reference": lambda feeds: dict(zip(names, reference.run(None, feeds))),
    }
    if litert_path:
        lite = litert_runner(litert_path, signature=SIGNATURE_NAME)
        found["litert"] = lambda feeds: lite(**feeds)
    return found

