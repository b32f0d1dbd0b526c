"""one_to_many: an image -> a caption. The encoded image sets the decoder's starting state."""

from dataclasses import replace

import numpy as np

from zoo import files
from zoo.architecture import decoder_stack, decoder_units, encoder_stack
from zoo.data import GENERATED, SKLEARN_DIGITS, Dataset, Vocabulary, continuous_spec, pad
from zoo.errors import DataFileError, ZooError
from zoo.files.lines import read_captions
from zoo.files.series import read_npz
from zoo.files.tables import read_table
from zoo.presets import Preset
from zoo.registry import Task, register
from zoo.text import split as split_text
from zoo.text import teacher_forcing

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
MAX_DIGITS = 4


def build(spec, arch):
    import keras

    from zoo.layers import ChunkSteps
    from zoo.model_io import standardize

    if arch.bidirectional and not arch.chunk:
        raise ZooError(
            "one_to_many has no input sequence to read both ways (without chunk=N), and its decoder "
            "must not see the tokens it predicts: use bidirectional=False."
        )
    image = keras.Input(shape=(spec.num_features,), name="image")
    tokens = keras.Input(shape=(None,), dtype="int32", name="decoder_input")
    encoded = standardize(image, spec)
    if arch.chunk:
        # The vector read as steps of `chunk` features by a recurrent encoder (a digit strip column by
        # column); each encoder layer's final states start the matching decoder layer, as in seq2seq.
        steps = keras.layers.Reshape((spec.num_features, 1), name="as_steps")(encoded)
        steps = ChunkSteps(arch.chunk, name="chunk_steps")(steps)
        source_steps, initial_states = encoder_stack(steps, arch)
    elif arch.attention != "none":
        raise ZooError(f"attention={arch.attention!r} reads the encoder's steps: one_to_many has them only "
                       "when it reads the vector in chunks (chunk=N).")
    else:
        # Every decoder layer starts from its own projection of the image; there are no steps to attend.
        source_steps = None
        initial_states = [
            [
                keras.layers.Dense(
                    decoder_units(arch, depth), activation="tanh", name=f"image_to_state_{depth + 1}_{i}"
                )(encoded)
                for i in range(arch.state_count)
            ]
            for depth in range(arch.layers)
        ]
    x = keras.layers.Embedding(spec.num_outputs, decoder_units(arch, 0), mask_zero=True, name="embed")(
        tokens
    )
    x = decoder_stack(x, arch, initial_states, encoded=source_steps)
    outputs = keras.layers.Dense(spec.num_outputs, activation="softmax", name="next_token")(x)
    return keras.Model([image, tokens], outputs, name="one_to_many")


def _strips(images, labels, count, rng):
    """`count` images of 1-4 digits side by side (8 x 32 pixels, blank on the right) and captions.

    Each strip is flattened column by column, left to right: with chunk=8 a recurrent encoder reads
    one column of 8 pixels per step, in the order the digits are written.
    """
    strips = np.zeros((count, 8, 8 * MAX_DIGITS), dtype="float32")
    captions = []
    for row in range(count):
        picks = rng.integers(0, len(images), size=rng.integers(1, MAX_DIGITS + 1))
        for slot, pick in enumerate(picks):
            strips[row, :, 8 * slot : 8 * slot + 8] = images[pick]
        captions.append([WORDS[labels[pick]] for pick in picks])
    return strips.transpose(0, 2, 1).reshape(count, -1), captions


def strip_images(vectors):
    """The 8 x 32 images of stored digit-caption vectors (the inverse of _strips' flattening)."""
    return np.asarray(vectors).reshape(-1, 8 * MAX_DIGITS, 8).transpose(0, 2, 1)


def load_digit_captions(seed=0, max_len=None, train_size=6000, eval_size=1000):
    """Strips of real handwritten digits (scikit-learn) captioned with their number words.

    Digits are split before composing strips, so no test strip reuses a training image.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    del max_len  # captions are at most four words and are never cut
    digits = load_digits()
    rng = np.random.default_rng(seed)
    train_imgs, test_imgs, train_labels, test_labels = train_test_split(
        digits.images, digits.target, test_size=0.3, stratify=digits.target, random_state=seed
    )
    val_imgs, test_imgs, val_labels, test_labels = train_test_split(
        test_imgs, test_labels, test_size=0.5, stratify=test_labels, random_state=seed
    )
    vocab = Vocabulary((Vocabulary.PAD, Vocabulary.BOS, Vocabulary.EOS, *WORDS))
    bos, eos = vocab.id(vocab.BOS), vocab.id(vocab.EOS)

    def split(images, labels, count):
        strips, captions = _strips(images, labels, count, rng)
        ids = [vocab.encode(c) for c in captions]
        decoder_input, _ = pad([[bos, *i] for i in ids])
        target, _ = pad([[*i, eos] for i in ids])
        return [strips, decoder_input], target

    x_train, y_train = split(train_imgs, train_labels, train_size)
    x_val, y_val = split(val_imgs, val_labels, eval_size)
    x_test, y_test = split(test_imgs, test_labels, eval_size)
    spec = replace(continuous_spec("classification", len(vocab), x_train[0]), max_output_len=MAX_DIGITS + 1)
    return Dataset(
        "digit_captions", spec, x_train, y_train, x_val, y_val, x_test, y_test,
        output_vocab=vocab, notes={"licence": f"captions {GENERATED}; images: {SKLEARN_DIGITS}"},
    )


def _read_jsonl(path):
    table = read_table(path)
    vectors = table.column("vector", "vector")
    lengths = np.asarray(vectors.value_lengths())
    if len(set(lengths.tolist())) != 1:
        row = int(np.flatnonzero(lengths != lengths[0])[0])
        raise DataFileError(path, f"'vector' has {lengths[row]} numbers where the first line has "
                            f"{lengths[0]}.", table.line(row))
    x = np.asarray(vectors.flatten(), dtype="float32").reshape(len(lengths), -1)
    return x, table.texts("caption", "caption")


def _npz_with_captions(captions):
    def read(path):
        if captions is None:
            raise ZooError(f"{path}: an .npz of vectors needs its captions file, one caption per line: "
                           "OPTIONS=\"captions=<file>\".")
        x = read_npz(path, needs=("x",))[0]
        return np.asarray(x, dtype="float32"), read_captions(captions, path, len(x), "vector")
    return read


def load_caption_files(files_, seed=0, max_len=None, captions=None, vocab_size=None):
    """`.jsonl` of {"vector": [...], "caption": "..."}, or `.npz` x with a captions file
    (OPTIONS="captions=<file>", one line per vector). Captions are lower-cased words."""
    del max_len  # captions are generated whole
    read = _read_jsonl if files_.extension == ".jsonl" else _npz_with_captions(captions)
    train, validation, test = files.split(*files.read_splits(files_, read), seed)
    tokens = [split_text(split[1], "words") for split in (train, validation, test)]
    vocab = Vocabulary.from_counts(tokens[0].counts(), max_size=vocab_size,
                                   specials=(Vocabulary.BOS, Vocabulary.EOS, Vocabulary.UNK))
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = (
        ([split[0], decoder_input], target) for split, (decoder_input, target)
        in zip((train, validation, test), (teacher_forcing(t, vocab) for t in tokens)))
    spec = replace(continuous_spec("classification", len(vocab), x_train[0]),
                   max_output_len=int(tokens[0].lengths.max()) + 1)
    return Dataset(files_.name, spec, x_train, y_train, x_val, y_val, x_test, y_test, output_vocab=vocab,
                   notes={"source": str(files_.train)},
                   text={"input": None, "output": "text", "join": " "})


TASK = register(
    Task(
        name="one_to_many",
        sequence_inputs=(1,),  # the decoder input; the image is a vector
        target_per_step=True,
        shape="vector -> sequence",
        example="caption an image of 1-4 handwritten digits",
        build=build,
        datasets={"digit_captions": load_digit_captions},
        default_dataset="digit_captions",
        architecture_options=("chunk", "attention"),
        presets=(Preset("digit_captions_bigru", "one_to_many", "digit_captions",
                        {"cell": "gru", "bidirectional": True, "units": 128, "chunk": 64, "dropout": 0.3,
                         "schedule": "cosine", "epochs": 60, "attention": "dot"},
                        "two GRU directions read the strip one digit (8 columns, 64 pixels) per step and "
                        "start a GRU decoder of 256 that attends to those digit steps (dot attention: each "
                        "word finds its digit); dropout 0.3 on the steps' inputs, as a dense projection "
                        "of the whole strip memorises the ~1,250 training digits.",
                        "validation exact caption of single runs (60 cosine epochs): dense projection "
                        "0.813 (256 units); encoders over columns 0.865 (bidirectional GRU 64) and 0.841 "
                        "(GRU 128); over digits 0.863, 0.886 with dropout 0.3, and 0.928 with dot attention "
                        "(seed 42)"),),
        defaults={"epochs": 60, "batch_size": 64, "learning_rate": 3e-3, "patience": 8},
        generates=True,
        formats=(files.FileFormat("vectors with captions", (".jsonl", ".npz"), load_caption_files),),
    )
)
