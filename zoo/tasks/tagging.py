"""tagging: a sequence -> one label per step, from one output layer shared by every step."""

import importlib.metadata

import conllu
import numpy as np

from zoo import files
from zoo.architecture import recurrent_stack
from zoo.data import EXAMPLES, Dataset, DataSpec, Vocabulary, pad
from zoo.errors import DataFileError, ZooError
from zoo.files.conll import read_conll2003, read_conllu
from zoo.presets import Preset
from zoo.registry import Task, register
from zoo.text import SPELLING, token_lists


def build(spec, arch):
    import keras

    from zoo.model_io import sequence_input

    tokens, x = sequence_input(spec, arch.layer_units[0], name="tokens", characters=arch.characters)
    x = recurrent_stack(x, arch, return_sequences=True)
    # Dense acts on the last axis, so one layer with one set of weights classifies every step.
    # (Wrapping it in TimeDistributed failed here when evaluate's batches were shorter than fit's.)
    outputs = keras.layers.Dense(spec.num_outputs, activation="softmax", name="tags")(x)
    return keras.Model(tokens, outputs, name="tagging")


def _inputs(splits, vocab, max_len, spelled):
    """Each split's token ids, spelled with a vocabulary of the training split's characters where asked
    (zoo.text.Tokens.spelled); the cut rows; the character vocabulary or None."""
    if not spelled:
        padded = [tokens.padded(vocab, max_len) for tokens in splits]
        return [x for x, _ in padded], sum(cut for _, cut in padded), None
    characters = Vocabulary.from_counts(splits[0].character_counts())
    padded = [tokens.spelled(vocab, characters, max_len) for tokens in splits]
    return [x for x, _ in padded], sum(cut for _, cut in padded), characters


def _spec(num_outputs, vocab, characters):
    return DataSpec(kind="classification", num_outputs=num_outputs, input_vocab_size=len(vocab),
                    **({"spelling": SPELLING, "character_vocab_size": len(characters)} if characters else {}))


def _tagged(name, train, val, test, max_len, min_count=2, notes=None, spelled=False):
    """Encodes three splits of (sentences, tag sequences); words rarer than `min_count` become <unk>."""
    vocab = Vocabulary.build(train[0], min_count=min_count)
    # Tags get a vocabulary too, so that padding (id 0) pads the targets like the inputs.
    tags = Vocabulary.build(train[1], specials=())
    for split, (sentences, tag_sequences) in zip(("train", "validation", "test"), (train, val, test)):
        for i, (words, word_tags) in enumerate(zip(sentences, tag_sequences)):
            if len(words) != len(word_tags):
                raise ZooError(f"{name}: sentence {i} of the {split} split has {len(words)} words "
                                 f"but {len(word_tags)} tags.")
    (x_train, x_val, x_test), cut, characters = _inputs(
        [token_lists(split[0]) for split in (train, val, test)], vocab, max_len, spelled)
    y_train, y_val, y_test = (pad([tags.encode(t) for t in split[1]], max_len)[0]
                              for split in (train, val, test))
    return Dataset(
        name, _spec(len(tags), vocab, characters), x_train, y_train, x_val, y_val, x_test, y_test,
        labels=list(tags.tokens), input_vocab=vocab, character_vocab=characters, truncated=cut,
        notes=notes or {},
    )


def load_turkish_web_treebank(seed=0, max_len=None, spelled=False):
    """Universal POS tags of the Turkish Web Treebank (Google, Apache-2.0), shipped by its PyPI package.

    Both sections (web, wiki); the package's own split: sentence i goes to dev if i % 10 == 8,
    to test if i % 10 == 9, to train otherwise.
    """
    del seed  # the split is fixed by the treebank
    package = importlib.metadata.distribution("turkish-treebanks")
    splits = {"train": ([], []), "dev": ([], []), "test": ([], [])}
    for section in ("web", "wiki"):
        text = package.locate_file(f"data/{section}.conllu").read_text(encoding="utf-8")
        for i, sentence in enumerate(conllu.parse(text)):
            words = [token for token in sentence if isinstance(token["id"], int)]
            split = {8: "dev", 9: "test"}.get(i % 10, "train")
            splits[split][0].append([token["form"] for token in words])
            splits[split][1].append([token["upos"] for token in words])
    return _tagged("turkish_web_treebank", splits["train"], splits["dev"], splits["test"], max_len,
                   notes={"source": "turkish-treebanks 1.0.0 (Turkish Web Treebank)",
                          "licence": "Apache-2.0 (the turkish-treebanks package)"}, spelled=spelled)


def load_conll2003(seed=0, max_len=None, spelled=False):
    """Penn part-of-speech tags of CoNLL-2003 from TensorFlow Datasets (downloads on first use)."""
    del seed  # the split is fixed by the corpus
    import tensorflow_datasets as tfds

    tag_names = tfds.builder("conll2003").info.features["pos"].feature.names
    splits = []
    for split in ("train", "dev", "test"):
        rows = tfds.as_numpy(tfds.load("conll2003", split=split))
        sentences, tags = [], []
        for row in rows:
            sentences.append([word.decode("utf-8") for word in row["tokens"]])
            tags.append([tag_names[tag] for tag in row["pos"]])
        splits.append((sentences, tags))
    return _tagged("conll2003", *splits, max_len, spelled=spelled)


def load_conll_files(files_, seed=0, max_len=None, tag="upos", min_count=2, vocab_size=None, spelled=False):
    """CoNLL-U (`tag=upos` or `xpos`) or CoNLL-2003 (the last field is the tag) sentences.

    Words seen fewer than `min_count` times in training become <unk>, as for the bundled treebank,
    so the model learns what to do with words it has not seen; `spelled` adds each word's characters.
    """
    if files_.extension == ".conllu":
        def read(path):
            return read_conllu(path, tag)
    else:
        if tag != "upos":
            raise ZooError("tag= chooses a CoNLL-U column; a CoNLL-2003 file's tag is its last field.")
        read = read_conll2003
    train, validation, test = files.split(*files.read_splits(files_, read), seed)
    vocab = Vocabulary.from_counts(train[0].counts(), min_count=min_count, max_size=vocab_size)
    tags = Vocabulary.from_counts(train[1].counts(), specials=())
    for name, held_out, path in (("validation", validation, files_.validation), ("test", test, files_.test)):
        unseen = {tag: n for tag, n in held_out[1].counts().items() if tag not in tags.tokens}
        if unseen:
            raise DataFileError(path or f"the {name} split", f"{sum(unseen.values())} words have tags that "
                                f"training never saw: {', '.join(map(repr, sorted(unseen)[:10]))}. Add "
                                "sentences with them to the training file.")
    (x_train, x_val, x_test), cut, characters = _inputs([split[0] for split in (train, validation, test)],
                                                         vocab, max_len, spelled)
    y_train, y_val, y_test = (split[1].padded(tags, max_len)[0] for split in (train, validation, test))
    return Dataset(
        files_.name, _spec(len(tags), vocab, characters), x_train, y_train, x_val, y_val, x_test, y_test,
        labels=list(tags.tokens), input_vocab=vocab, character_vocab=characters, truncated=cut,
        notes={"source": str(files_.train)},
        text={"input": "tokens", "output": "tag_names"},
        text_examples=test[0].take(np.arange(min(EXAMPLES, len(test[0])))).lists(),
    )


TASK = register(
    Task(
        name="tagging",
        sequence_inputs=(0,),
        target_per_step=True,
        streams=True,
        shape="sequence -> one label per step",
        example="part-of-speech tagging",
        build=build,
        architecture_options=("characters",),
        datasets={"turkish_web_treebank": load_turkish_web_treebank, "conll2003": load_conll2003},
        default_dataset="turkish_web_treebank",
        presets=(Preset("turkish_web_treebank_bilstm", "tagging", "turkish_web_treebank",
                        {"cell": "lstm", "bidirectional": True, "units": 64},
                        "two LSTM directions: a word's tag depends on the words after it too.",
                        "validation accuracy of single runs: this one 0.923 from the word ids (0.936 with "
                        "the task's 64 filters over each word's characters and dropout 0.25); 128 units "
                        "with dropout 0.3 and 20 cosine epochs 0.915 (LSTM) and 0.915 (GRU)"),),
        formats=(
            files.FileFormat("CoNLL-U", (".conllu",), load_conll_files),
            files.FileFormat("CoNLL-2003 (token ... tag per line)", (".conll",), load_conll_files),
        ),
        # Chosen on the bundled treebank's validation split (bidirectional LSTM 64, seeds 42 and 1): 64
        # filters over each word's spelling, validation accuracy 0.933 and 0.932 at the epoch kept,
        # against 0.922 and 0.919 from the word ids alone (make bench-tagging); then, by the best epoch's,
        # dropout 0.25 on the recurrent layer's inputs: 0.936 and 0.938 against 0.934 and 0.935 (0.5:
        # 0.936, 0.938; 128 filters: 0.934, 0.938; 128 units: 0.933, 0.932; two layers: 0.934, 0.933;
        # patience 8: 0.934, 0.935).
        defaults={"epochs": 30, "batch_size": 32, "learning_rate": 3e-3, "patience": 4, "characters": 64,
                  "dropout": 0.25},
    )
)
