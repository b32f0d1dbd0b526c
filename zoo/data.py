"""What a loaded data set hands to a model builder and to training."""

from collections import Counter
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from zoo.errors import ZooError

# Continuous sequences are right-padded with this value and a Masking layer skips those steps.
# Zero cannot serve: real series (sunspot counts, the adding problem's markers) contain zeros.
PAD_VALUE = -1.0e9
# Token sequences reserve id 0 for padding (Embedding(mask_zero=True)).
PAD_ID = 0
# Held-out inputs a run keeps (examples.npz, and as the file wrote them), for export to verify on.
EXAMPLES = 32


@dataclass(frozen=True)
class Vocabulary:
    """Token strings <-> ids. Id 0 is padding; the special tokens follow it."""

    tokens: tuple
    _index: dict = field(init=False, repr=False, compare=False)

    PAD = "<pad>"
    UNK = "<unk>"
    BOS = "<bos>"
    EOS = "<eos>"

    def __post_init__(self):
        object.__setattr__(self, "_index", {token: i for i, token in enumerate(self.tokens)})

    @classmethod
    def build(cls, sequences, min_count=1, max_size=None, specials=(UNK,)):
        """Tokens seen at least `min_count` times, the most frequent first, capped at `max_size`."""
        counts = Counter(token for sequence in sequences for token in sequence)
        return cls.from_counts(counts, min_count, max_size, specials)

    @classmethod
    def from_counts(cls, counts, min_count=1, max_size=None, specials=(UNK,)):
        """As `build`, from {token: count}; ties go to the token that sorts first."""
        kept = sorted((t for t, n in counts.items() if n >= min_count and t not in specials
                       and t != cls.PAD), key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[: max(0, max_size - 1 - len(specials))]
        return cls((cls.PAD, *specials, *kept))

    def __len__(self):
        return len(self.tokens)

    def id(self, token):
        index = self._index.get(token)
        if index is None:
            if self.UNK not in self._index:
                raise ZooError(f"Token {token!r} is not in the vocabulary and it has no {self.UNK}.")
            index = self._index[self.UNK]
        return index

    def encode(self, sequence):
        return [self.id(token) for token in sequence]

    def decode(self, ids):
        """Ids -> tokens, stopping at EOS and skipping padding."""
        out = []
        for i in ids:
            token = self.tokens[int(i)]
            if token == self.EOS:
                break
            if token != self.PAD:
                out.append(token)
        return out


def pad(sequences, max_len=None, value=PAD_ID, dtype="int32"):
    """Right-pads sequences (lists of ids or arrays of shape (steps, features)) to one length.

    Returns (array, truncated): sequences longer than `max_len` are cut to it and counted.
    """
    lengths = [len(s) for s in sequences]
    longest = max(lengths)
    length = longest if max_len is None else min(max_len, longest)
    truncated = sum(n > length for n in lengths)
    first = np.asarray(sequences[0])
    out = np.full((len(sequences), length, *first.shape[1:]), value, dtype=dtype)
    for row, sequence in enumerate(sequences):
        steps = np.asarray(sequence, dtype=dtype)[:length]
        out[row, : len(steps)] = steps
    return out, truncated


@dataclass(frozen=True)
class DataSpec:
    """Everything a builder needs to know about the data, and nothing about its values.

    kind: "classification" or "regression".
    num_features: width of each step of a continuous input (None for token input).
    input_vocab_size: size of the token vocabulary of the input (None for continuous input).
    num_outputs: classes (classification) or values (regression) predicted per output.
    feature_mean / feature_variance: statistics of the training inputs, to standardise them.
    target_mean / target_std: statistics of regression targets; the model predicts in real units.
    max_output_len: longest generated sequence, EOS included (generating tasks only).
    """

    kind: str
    num_outputs: int
    num_features: int | None = None
    input_vocab_size: int | None = None
    feature_mean: tuple | None = None
    feature_variance: tuple | None = None
    target_mean: float | None = None
    target_std: float | None = None
    max_output_len: int | None = None

    def __post_init__(self):
        if self.kind not in ("classification", "regression"):
            raise ZooError(f"kind must be 'classification' or 'regression', got {self.kind!r}.")
        if (self.num_features is None) == (self.input_vocab_size is None):
            raise ZooError("Give exactly one of num_features (continuous) or input_vocab_size (tokens).")


@dataclass
class Dataset:
    """A data set split three ways, as arrays ready for `Model.fit`.

    For generating tasks `x` is [source, decoder_input] and `y` the decoder target.
    """

    name: str
    spec: DataSpec
    x_train: object
    y_train: np.ndarray
    x_val: object
    y_val: np.ndarray
    x_test: object
    y_test: np.ndarray
    labels: list | None = None
    input_vocab: Vocabulary | None = None
    output_vocab: Vocabulary | None = None
    truncated: int = 0
    notes: dict = field(default_factory=dict)
    # Runs on the user's files: how strings become ids and answers become strings (zoo.text),
    # and the first test inputs as the file wrote them, to check an export's text signature.
    text: dict | None = None
    text_examples: list | None = None

    def head(self, count):
        """The same data set with only the first `count` examples of each split."""

        def take(x):
            return [part[:count] for part in x] if isinstance(x, list) else x[:count]

        return replace(
            self,
            **{name: take(getattr(self, name)) for name in
               ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")},
        )

    def contract(self):
        """What a client needs to talk to the model: padding, vocabularies, label names, spec."""
        return {
            "spec": asdict(self.spec),
            "pad_value": PAD_VALUE if self.spec.num_features is not None else PAD_ID,
            "labels": self.labels,
            "input_vocabulary": list(self.input_vocab.tokens) if self.input_vocab else None,
            "output_vocabulary": list(self.output_vocab.tokens) if self.output_vocab else None,
            **({"text": self.text} if self.text else {}),
        }

    def describe(self):
        return {
            "dataset": self.name,
            "kind": self.spec.kind,
            "train": len(self.y_train),
            "validation": len(self.y_val),
            "test": len(self.y_test),
            "truncated_sequences": self.truncated,
            **self.notes,
        }


def continuous_spec(kind, num_outputs, x_train, y_train=None):
    """A spec for continuous inputs (vectors or sequences).

    Normalisation statistics come from the real (unpadded) training steps only.
    """
    steps = x_train.reshape(-1, x_train.shape[-1])
    steps = steps[np.all(steps != PAD_VALUE, axis=-1)]
    target = {}
    if kind == "regression":
        target = {"target_mean": float(np.mean(y_train)), "target_std": float(np.std(y_train) or 1.0)}
    return DataSpec(
        kind=kind,
        num_outputs=num_outputs,
        num_features=x_train.shape[-1],
        feature_mean=tuple(float(v) for v in steps.mean(axis=0)),
        # A feature constant in training (a corner pixel) is left unscaled rather than blown up.
        feature_variance=tuple(float(v) if v > 0 else 1.0 for v in steps.var(axis=0)),
        **target,
    )


def label_ids(train_labels, *other_splits):
    """Label names sorted, and each split's labels as int32 ids into them."""
    names = sorted(set(train_labels))
    index = {name: i for i, name in enumerate(names)}
    unknown = set().union(*map(set, other_splits)) - set(names)
    if unknown:
        raise ZooError(f"Labels {sorted(unknown)} appear outside the training split only.")
    return names, [np.array([index[v] for v in split], dtype="int32") for split in
                   (train_labels, *other_splits)]
