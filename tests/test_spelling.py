"""A tagger that reads each word's spelling: the ids it takes, the strings its export takes, the same
answers padded or not in every runtime, and unseen words tagged by their suffixes."""

import keras
import numpy as np
import onnxruntime as ort
import tensorflow as tf

from export.fused import fused_onnx
from export.text import _encoder
from tests.served import openvino_answer
from zoo.data import DataSpec, Vocabulary
from zoo.registry import get_task
from zoo.text import SPELLING, encode, token_lists

WORDS = ["ev", "kitaplarımızdan", "İstanbul'da", "çekoslovakyalılaştıramadıklarımızdan", "ağaç"]


def _vocabularies():
    tokens = token_lists([WORDS])
    return Vocabulary.from_counts({"ev": 2, "ağaç": 2}), Vocabulary.from_counts(tokens.character_counts())


def test_a_spelled_word_carries_its_id_then_its_characters_first_and_last_halves_when_long():
    words, characters = _vocabularies()
    ids, cut = token_lists([WORDS[:3], WORDS[3:]]).spelled(words, characters)
    assert ids.shape == (2, 3, 1 + SPELLING) and cut == 0
    assert ids[0, 0, 0] == words.id("ev") and ids[0, 1, 0] == words.id("<unk>")
    assert characters.decode(ids[0, 0, 1:]) == ["e", "v"] and not ids[0, 0, 3:].any()
    long_word = WORDS[3]
    kept = long_word[: SPELLING // 2] + long_word[-SPELLING // 2 :]
    assert "".join(characters.decode(ids[1, 0, 1:])) == kept
    assert not ids[1, 2].any()  # the padding step: no word, no characters


def test_the_export_spells_strings_as_zoo_text_does():
    words, characters = _vocabularies()
    contract = {"text": {"input": "tokens"}, "input_vocabulary": list(words.tokens),
                "character_vocabulary": list(characters.tokens)}
    rows = [WORDS + ["Ağaçlar", "x"], ["ev", "", "", "", "", "", ""]]  # "": padding, as a client sends it
    encode_strings, tables = _encoder(contract["text"], contract["input_vocabulary"],
                                      contract["character_vocabulary"])
    assert len(tables) == 2
    np.testing.assert_array_equal(encode_strings(tf.constant(rows)).numpy(), encode(rows, contract))


def _spelled_tagger(filters=8):
    spec = DataSpec("classification", 4, input_vocab_size=9, spelling=SPELLING, character_vocab_size=12)
    keras.utils.set_random_seed(0)
    return get_task("tagging").build_model(spec, units=5, bidirectional=True, characters=filters)


def test_padding_changes_no_answer_of_a_spelled_tagger_in_keras_onnx_runtime_and_openvino(tmp_path):
    model = _spelled_tagger()
    rng = np.random.default_rng(0)
    x = np.zeros((3, 7, 1 + SPELLING), "int32")
    for row, length in enumerate((7, 4, 2)):
        x[row, :length, 0] = rng.integers(1, 9, length)
        for step in range(length):
            spelt = rng.integers(1, SPELLING + 1)
            x[row, step, 1 : 1 + spelt] = rng.integers(1, 12, spelt)
    answer = model.predict(x, verbose=0)
    for row, length in enumerate((7, 4, 2)):
        alone = model.predict(x[row : row + 1, :length], verbose=0)
        np.testing.assert_allclose(alone[0], answer[row, :length], atol=1e-6)
    onnx_model, notes = fused_onnx(model, 17)
    assert notes["pad_value"] == 0
    path = tmp_path / "model.onnx"
    path.write_bytes(onnx_model.SerializeToString())
    (onnx_answer,) = ort.InferenceSession(str(path)).run(None, {"tokens": x})
    real = x[..., 0] > 0
    np.testing.assert_allclose(onnx_answer[real], answer[real], atol=1e-5)
    openvino = openvino_answer(path, x)
    if openvino is not None:
        np.testing.assert_allclose(openvino[real], answer[real], atol=1e-5)


def _suffix_data(rng, stems, count):
    """Sentences of stem + suffix words, tagged by the suffix: -lar NOUN (1), -yor VERB (2), -ca ADV (3)."""
    suffixes = ["lar", "yor", "ca"]
    sentences, tags = [], []
    for _ in range(count):
        picks = rng.integers(0, 3, 6)
        sentences.append([stems[rng.integers(len(stems))] + suffixes[p] for p in picks])
        tags.append(list(picks + 1))
    return sentences, np.array(tags, "int32")


def test_words_never_seen_in_training_are_tagged_by_their_spelling():
    """Every test word is new (<unk> to the word vocabulary): only the characters tell its tag."""
    rng = np.random.default_rng(1)
    letters = list("abcdefghijklmnoprstuvz")
    stems = ["".join(rng.choice(letters, 4)) for _ in range(80)]
    train, y_train = _suffix_data(rng, stems[:40], 400)
    test, y_test = _suffix_data(rng, stems[40:], 100)
    train_tokens = token_lists(train)
    words = Vocabulary.from_counts(train_tokens.counts(), min_count=2)
    characters = Vocabulary.from_counts(train_tokens.character_counts())
    x_train, _ = train_tokens.spelled(words, characters)
    x_test, _ = token_lists(test).spelled(words, characters)
    assert np.all(x_test[..., 0] == words.id("<unk>"))
    accuracies = {}
    for filters in (0, 16):
        spec = DataSpec("classification", 4, input_vocab_size=len(words),
                        character_vocab_size=len(characters), spelling=SPELLING if filters else None)
        keras.utils.set_random_seed(0)
        model = get_task("tagging").build_model(spec, units=8, characters=filters)
        model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
        model.fit(x_train if filters else x_train[..., 0], y_train, epochs=8, batch_size=32, verbose=0)
        guess = model.predict(x_test if filters else x_test[..., 0], verbose=0).argmax(-1)
        accuracies[filters] = float(np.mean(guess == y_test))
    assert accuracies[16] > 0.95 and accuracies[0] < 0.5, accuracies
