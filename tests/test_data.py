"""Every offline data set loads into consistent splits; TFDS loaders are checked on mock data."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

import zoo
from zoo.data import PAD_VALUE, Vocabulary, pad
from zoo.tasks import seq2seq

OFFLINE = [
    (task, dataset)
    for task in zoo.list_tasks()
    for dataset in zoo.get_task(task).datasets
    if dataset not in ("imdb_reviews", "conll2003")
]


def _first(x):
    """The first input: of a list, or of named inputs (a forecaster's context beside its covariates)."""
    if isinstance(x, dict):
        return next(iter(x.values()))
    return x[0] if isinstance(x, list) else x


@pytest.mark.parametrize(("task_name", "dataset"), OFFLINE)
def test_offline_dataset_splits_agree_with_their_spec(task_name, dataset):
    task = zoo.get_task(task_name)
    data = task.load(dataset, seed=1)
    spec = data.spec
    assert spec.kind == task.kind(dataset)
    for x, y in ((data.x_train, data.y_train), (data.x_val, data.y_val), (data.x_test, data.y_test)):
        assert len(_first(x)) == len(y) > 0
        if spec.kind == "classification":
            assert 0 <= y.min() and y.max() < spec.num_outputs
        else:
            assert np.all(np.isfinite(y))
        if spec.num_features is not None:
            assert _first(x).shape[-1] == spec.num_features
        else:
            assert 0 <= _first(x).min() and _first(x).max() < spec.input_vocab_size
    if data.labels is not None and spec.kind == "classification":
        assert len(data.labels) == spec.num_outputs


def test_japanese_vowels_has_variable_lengths_padded_for_masking():
    data = zoo.get_task("many_to_one").load("japanese_vowels")
    real_steps = np.all(data.x_train != PAD_VALUE, axis=-1).sum(axis=1)
    assert real_steps.min() < real_steps.max() == data.x_train.shape[1]
    # Padding only ever follows the real steps.
    for row, length in zip(data.x_train, real_steps):
        assert np.all(row[length:] == PAD_VALUE)


def test_max_len_cuts_sequences_and_counts_them():
    task = zoo.get_task("many_to_one")
    full = task.load("japanese_vowels")
    cut = task.load("japanese_vowels", max_len=10)
    assert cut.x_train.shape[1] == 10 and full.truncated == 0
    longer = sum(int(np.any(x[:, 10:] != PAD_VALUE, axis=-1).any(axis=-1).sum())
                 for x in (full.x_train, full.x_val, full.x_test))
    assert cut.truncated == longer > 0


def test_adding_problem_targets_are_the_sum_of_the_two_marked_values():
    data = zoo.get_task("many_to_one").load("adding", seq_len=20, train_size=50, eval_size=10)
    assert data.x_train.shape == (50, 20, 2)
    markers = data.x_train[..., 1]
    assert np.all(markers.sum(axis=1) == 2)
    np.testing.assert_allclose(data.y_train[:, 0], (data.x_train[..., 0] * markers).sum(axis=1), rtol=1e-6)


def test_addition_answers_are_the_sums_of_the_questions():
    data = zoo.get_task("seq2seq").load("addition", train_size=30, eval_size=5)
    for source, target in zip(data.x_train[0], data.y_train):
        question = "".join(data.input_vocab.decode(source))
        answer = "".join(data.output_vocab.decode(target))
        a, b = question.split("+")
        assert int(answer) == int(a) + int(b)


def test_reversal_and_reordering_pairs_are_what_they_say():
    """The generated attention tests of issue 26: letters reversed; an SVO sentence's words in SOV
    order (the verb moved to the end), in their length ranges, the same for a seed."""
    task = zoo.get_task("seq2seq")
    reverse = task.load("reverse", train_size=200, eval_size=20)
    lengths = set()
    for source, target in zip(reverse.x_train[0], reverse.y_train):
        letters = reverse.input_vocab.decode(source)
        assert reverse.output_vocab.decode(target) == letters[::-1]
        lengths.add(len(letters))
    assert min(lengths) >= 10 and max(lengths) <= 40 and len(lengths) > 20
    reorder = task.load("reorder", train_size=200, eval_size=20)
    verbs = set(seq2seq.VERBS)
    for source, target in zip(reorder.x_test[0], reorder.y_test):
        words, moved = reorder.input_vocab.decode(source), reorder.output_vocab.decode(target)
        (verb,) = [word for word in words if word in verbs]
        assert 4 <= len(words) <= 20 and moved[-1] == verb
        assert moved[:-1] == [word for word in words if word != verb]
    again = task.load("reorder", train_size=200, eval_size=20)
    assert np.array_equal(again.x_train[0], reorder.x_train[0])


def test_digit_captions_name_the_digits_in_the_strip():
    data = zoo.get_task("one_to_many").load(train_size=20, eval_size=5)
    vocab = data.output_vocab
    bos = vocab.id(vocab.BOS)
    for decoder_input, target in zip(data.x_train[1], data.y_train):
        words = vocab.decode(target)
        assert 1 <= len(words) <= 4
        # Teacher forcing: the decoder reads BOS then the caption shifted by one.
        assert decoder_input[0] == bos and vocab.decode(decoder_input[1:]) == words


def test_vocabulary_round_trips_and_maps_unknown_words():
    vocab = Vocabulary.build([["a", "b", "a"], ["c"]], min_count=2)
    assert vocab.tokens == (Vocabulary.PAD, Vocabulary.UNK, "a")
    assert vocab.encode(["a", "zebra"]) == [2, 1]
    closed = Vocabulary.build([["x"]], specials=())
    with pytest.raises(ValueError, match="'y' is not in the vocabulary"):
        closed.encode(["y"])


def test_pad_counts_what_it_cuts():
    padded, cut = pad([[1, 2, 3], [4]], max_len=2)
    assert padded.tolist() == [[1, 2], [4, 0]] and cut == 1


def test_imdb_reviews_loader_on_tfds_mock_data():
    with tfds.testing.mock_data(num_examples=12):
        data = zoo.get_task("many_to_one").load("imdb_reviews", max_len=30)
    assert data.spec.input_vocab_size == len(data.input_vocab) > 2
    assert data.x_train.shape[1] <= 30 and len(data.y_train) + len(data.y_val) == 12
    assert set(np.unique(data.y_test)) <= {0, 1}


def test_conll2003_loader_on_tfds_mock_data():
    words = ["EU", "rejects", "German", "call", "."]
    tags = [22, 38, 16, 21, 7]  # indices into TFDS's POS tag names

    def sentences(self, split, **kwargs):
        # Mock data with one tag per word (TFDS's random mock draws the two lengths apart).
        return tf.data.Dataset.from_tensor_slices(
            {"tokens": [words[:3], words[2:]], "pos": [tags[:3], tags[2:]]}
        )

    with tfds.testing.mock_data(as_dataset_fn=sentences):
        data = zoo.get_task("tagging").load("conll2003")
    assert data.x_train.shape == data.y_train.shape == (2, 3)
    names = tfds.builder("conll2003").info.features["pos"].feature.names
    assert [data.labels[i] for i in data.y_train[0]] == [names[t] for t in tags[:3]]
    # Words seen once in training become <unk>; "German" is in both training sentences.
    assert data.input_vocab.decode(data.x_train[1]) == ["German", "<unk>", "<unk>"]


def test_sentences_and_tags_of_different_lengths_are_rejected():
    from zoo.tasks.tagging import _tagged

    good = ([["a", "b"]], [["X", "Y"]])
    with pytest.raises(ValueError, match="sentence 0 of the train split has 2 words but 1 tags"):
        _tagged("broken", ([["a", "b"]], [["X"]]), good, good, max_len=None)


def test_digit_caption_strips_hold_the_captioned_digits_left_to_right():
    from sklearn.datasets import load_digits

    from zoo.tasks.one_to_many import MAX_DIGITS, WORDS, strip_images

    digits = load_digits()
    images = {image.tobytes(): WORDS[label] for image, label in zip(digits.images.astype("float32"),
                                                                      digits.target)}
    data = zoo.get_task("one_to_many").load(train_size=20, eval_size=5)
    strips = strip_images(data.x_train[0])
    assert strips.shape == (20, 8, 8 * MAX_DIGITS)
    for strip, target in zip(strips, data.y_train):
        slots = [strip[:, 8 * s : 8 * s + 8] for s in range(MAX_DIGITS)]
        words = data.output_vocab.decode(target)
        # Each slot is a real digit image of the word at its place; the slots after the caption are blank.
        assert [images.get(np.ascontiguousarray(slot).tobytes()) for slot in slots[: len(words)]] == words
        assert not any(slot.any() for slot in slots[len(words) :])
