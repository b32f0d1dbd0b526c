"""Decoding: the decoder's step model answers as the whole teacher-forced model, greedy decoding is the
argmax fed back, beam search finds what an exhaustive search finds and width 1 is greedy; the scores
count."""

import itertools
import json
from dataclasses import replace
from types import SimpleNamespace

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from export import export_model
from export.litert import runner as litert_runner
from export.verify import onnx_runner
from tests.tiny import CLASSES, OUTPUT_VOCABULARY, TINY, tiny_trained
from zoo.data import PAD_ID, PAD_VALUE, Vocabulary
from zoo.decoding import attention_maps, beam_decode, decoding_scores, edit_distance, greedy_decode
from zoo.errors import ZooError
from zoo.step import decoding_models

pytestmark = pytest.mark.slow  # make test-fast leaves it out; make test runs it

BOS, EOS = 1, 2  # tests.tiny.OUTPUT_VOCABULARY: <pad>, <bos>, <eos>, then tokens


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(3)
    spec, _, _ = TINY["seq2seq"]
    return zoo.get_task("seq2seq").build_model(spec, units=8, cell="gru", attention="dot")


def _log_probabilities(model, source, answers):
    """log P(answer | source) of each answer, up to and including <eos>; PAD after it costs nothing."""
    answers = np.array(answers, "int32")
    read = np.concatenate([np.full((len(answers), 1), BOS, "int32"), answers[:, :-1]], axis=1)
    probabilities = np.asarray(model([np.repeat(source[None], len(answers), 0), read])).astype("float64")
    chosen = np.log(np.take_along_axis(probabilities, answers[..., None], axis=-1)[..., 0])
    ended_before = np.cumsum(answers == EOS, axis=1) - (answers == EOS)  # an <eos> before this step
    return np.where(ended_before > 0, 0.0, chosen).sum(axis=1)


@pytest.mark.parametrize(("task_name", "architecture"), [
    ("seq2seq", {"cell": "gru", "attention": "dot"}),
    ("seq2seq", {"cell": "lstm", "layers": 2, "bidirectional": True, "attention": "additive"}),
    ("seq2seq", {"cell": "simple_rnn", "attention": "general"}),
    ("seq2seq", {"cell": "gru", "attention": "none"}),
    ("one_to_many", {"cell": "lstm", "layers": 2}),
    ("one_to_many", {"cell": "gru", "chunk": 1, "bidirectional": True, "attention": "dot"}),
])
def test_the_decoder_step_answers_as_the_whole_model_at_every_step(task_name, architecture, rng):
    spec, make_inputs, _ = TINY[task_name]
    whole = zoo.get_task(task_name).build_model(spec, units=8, **architecture)
    source, tokens = make_inputs(rng, 3, 5)
    if task_name == "seq2seq":
        source[0, 2:] = PAD_ID  # the step reads the source's padding as the whole model does
    decoding = decoding_models(whole)
    expected = np.asarray(whole([source, tokens]))
    outputs = keras.tree.flatten(decoding.source(source))
    states = [tf.identity(o) for o in outputs[: len(decoding.states)]]  # new tensors: no Keras mask
    context = [tf.identity(o) for o in outputs[len(decoding.states):]]
    # The encoder's steps for attention, and their padding where the source has some (not an image's).
    attends = architecture.get("attention", "none") != "none"
    assert len(context) == attends * (2 if task_name == "seq2seq" else 1)
    for t in range(tokens.shape[1]):
        distribution, *states = decoding.step([tf.constant(tokens[:, t:t + 1]), *states, *context])
        np.testing.assert_allclose(np.asarray(distribution), expected[:, t], rtol=1e-5, atol=1e-6)
    assert decoding.step.count_params() + decoding.source.count_params() >= whole.count_params()
    # Greedy decoding is the whole model's argmax fed back, one token a turn.
    decoded = tf.function(lambda s: greedy_decode(decoding, s, BOS, EOS, 4))(source).numpy()
    read = np.full((len(source), 1), BOS, "int32")
    for _ in range(4):
        chosen = np.asarray(whole([source, read]))[:, -1].argmax(-1)
        read = np.concatenate([read, chosen[:, None].astype("int32")], axis=1)
    ended = np.cumsum(read[:, 1:] == EOS, axis=1) - (read[:, 1:] == EOS) > 0
    np.testing.assert_array_equal(decoded, np.where(ended, PAD_ID, read[:, 1:]))


def test_one_to_many_attends_only_to_the_steps_of_a_vector_read_in_chunks():
    spec = TINY["one_to_many"][0]
    task = zoo.get_task("one_to_many")
    assert "attention" in {layer.name for layer in task.build_model(spec, units=4, chunk=1,
                                                                   attention="additive").layers}
    with pytest.raises(ZooError, match="only when it reads the vector in chunks"):
        task.build_model(spec, units=4, attention="additive")


def test_attention_maps_number_the_frames_and_the_chunks_of_a_vector_and_weigh_only_real_steps(rng):
    vocab = Vocabulary(tuple(OUTPUT_VOCABULARY))
    spec = replace(TINY["one_to_many"][0], max_output_len=4)  # numbers in; frames for seq2seq
    frames = rng.normal(size=(2, 5, spec.num_features)).astype("float32")
    frames[1, 3:] = PAD_VALUE
    for task_name, source, chunk, real_steps in (("seq2seq", frames, 0, [5, 3]),
                                                 ("one_to_many", frames[:, 0], 1, [spec.num_features] * 2)):
        keras.utils.set_random_seed(1)
        model = zoo.get_task(task_name).build_model(spec, units=4, chunk=chunk, attention="dot")
        data = SimpleNamespace(x_test=[source], output_vocab=vocab, input_vocab=None, spec=spec)
        for (steps, generated, weights), real in zip(attention_maps(model, data, rows=2), real_steps):
            assert steps == [str(t + 1) for t in range(real)] and weights.shape == (len(generated), real)
            np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-5)  # padding weighs nothing


def test_a_beam_wide_enough_finds_the_likeliest_answer_and_width_1_is_greedy(model, rng):
    source = TINY["seq2seq"][1](rng, 2, 5)[0]
    length = 3
    decoding = decoding_models(model)
    search = tf.function(
        lambda s, width: beam_decode(decoding, s, BOS, EOS, length, width, length_penalty=0.0),
        reduce_retracing=True)
    greedy = tf.function(lambda s: greedy_decode(decoding, s, BOS, EOS, length))(source).numpy()
    np.testing.assert_array_equal(search(source, 1).numpy(), greedy)
    # Every answer of `length` tokens (PAD after <eos>), scored in Keras: a beam of CLASSES ** 2 keeps
    # every prefix, so it must find the best one that ends (else the best of all).
    found = search(source, CLASSES ** (length - 1)).numpy()
    for row in range(len(source)):
        answers = sorted({a[: a.index(EOS) + 1] + (PAD_ID,) * (length - 1 - a.index(EOS)) if EOS in a else a
                          for a in itertools.product(range(CLASSES), repeat=length)})
        scored = dict(zip(answers, _log_probabilities(model, source[row], answers)))
        ended = {a: s for a, s in scored.items() if EOS in a} or scored
        assert tuple(found[row]) == max(ended, key=ended.get)
        assert scored[tuple(found[row])] >= scored[tuple(greedy[row])] - 1e-6 or EOS not in greedy[row]


def test_a_beam_is_exported_with_its_width_an_input_and_answers_as_keras_in_every_runtime(rng, tmp_path):
    task, model, contract, source = tiny_trained("seq2seq", rng, cell="gru", attention="dot")
    version = export_model(model, task, contract, source, tmp_path, "s2s", beam=3)
    beam = json.loads((version / "metadata.json").read_text())["beam"]
    assert beam["default_width"] == 3 and beam["width_input"] == "beam_width" and beam["onnx"] == "beam.onnx"
    assert {"savedmodel", "onnx", "litert"} <= set(beam["verification"]["max_abs_diff"])
    decoding, max_len = decoding_models(model), contract["spec"]["max_output_len"]
    search = tf.function(lambda s, width: beam_decode(decoding, s, BOS, EOS, max_len, width),
                         reduce_retracing=True)
    saved = tf.saved_model.load(str(version)).signatures["beam"]
    runtimes = {"onnx": onnx_runner(version / "beam.onnx"),
                "litert": lambda feeds: litert_runner(version / "model.tflite", signature="beam")(**feeds),
                "savedmodel": lambda feeds: {k: v.numpy() for k, v in saved(
                    **{name: tf.constant(value) for name, value in feeds.items()}).items()}}
    greedy = onnx_runner(version / "model.onnx")({"source": source})["token_ids"]
    for width in (1, 2, 5):  # the width is the caller's: 1 is the greedy export's answer
        expected = search(tf.constant(source), width).numpy()
        if width == 1:
            np.testing.assert_array_equal(expected, greedy)
        for runtime, run in runtimes.items():
            got = run({"source": source, "beam_width": np.array(width, np.int32)})["token_ids"]
            np.testing.assert_array_equal(got, expected, err_msg=f"{runtime}, width {width}")
    # A run scored greedily only exports greedy decoding.
    plain = export_model(model, task, contract, source, tmp_path, "s2s")
    assert "beam" not in json.loads((plain / "metadata.json").read_text())
    assert not (plain / "beam.onnx").exists()


def test_decoding_scores_count_edits_and_score_words_with_sacrebleu():
    vocab = Vocabulary((Vocabulary.PAD, Vocabulary.BOS, Vocabulary.EOS, *"the cat sat on a mat".split()))
    eos = vocab.id(vocab.EOS)
    targets = np.array([vocab.encode("the cat sat on the mat <eos>".split()),
                        vocab.encode("a cat sat on a mat <eos>".split())])

    def scores(generated):
        return decoding_scores(lambda source: tf.constant(generated), targets, targets, eos, words=vocab)

    same = scores(targets)
    assert same["exact_match"] == 1.0 and same["error_rate"] == 0.0
    assert same["bleu"] == pytest.approx(100.0) and same["chrf"] == pytest.approx(100.0)
    one_word_off = targets.copy()
    one_word_off[1, 1] = vocab.id("mat")  # a substitution in 7 target tokens (EOS counted) of 14
    off = scores(one_word_off)
    assert off["exact_match"] == 0.5 and off["error_rate"] == pytest.approx(1 / 14)
    assert off["bleu"] < 100.0 and off["chrf"] < 100.0
    assert edit_distance("kitten", "sitting") == 3
