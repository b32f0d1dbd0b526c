"""The user's own files: every format loads into the Dataset a bundled set gives; bad files say where."""

import importlib.metadata
import json
import os
import shutil

import aeon
import numpy as np
import pytest

import zoo
from tests.data_files import FORMATS, write
from zoo import text
from zoo.cli import main
from zoo.data import PAD_VALUE, Vocabulary
from zoo.errors import DataFileError, ZooError
from zoo.files import lines
from zoo.files.series import read_ts

SPLITS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")


def _same_arrays(a, b):
    for name in SPLITS:
        left, right = getattr(a, name), getattr(b, name)
        if not isinstance(left, list):
            left, right = [left], [right]
        for x, y in zip(left, right):
            assert np.array_equal(x, y), name


def test_gun_point_from_its_ts_files_equals_the_bundled_set(tmp_path):
    archive = os.path.join(os.path.dirname(aeon.__file__), "datasets", "data", "GunPoint")
    shutil.copy(os.path.join(archive, "GunPoint_TRAIN.ts"), tmp_path / "train.ts")
    shutil.copy(os.path.join(archive, "GunPoint_TEST.ts"), tmp_path / "test.ts")
    task = zoo.get_task("many_to_one")
    mine, bundled = task.load(data=tmp_path, seed=3), task.load("gun_point", seed=3)
    _same_arrays(mine, bundled)
    assert mine.labels == bundled.labels and mine.spec == bundled.spec


def test_the_archives_own_text_files_read_as_its_ts_files(tmp_path):
    """The 2018 archive's .tsv (tabs, NaN padding after shorter series) and the 2015 archive's .txt
    (spaces, labels written as floats) give the dataset its .ts files give."""
    archive = os.path.join(os.path.dirname(aeon.__file__), "datasets", "data", "PickupGestureWiimoteZ")
    task = zoo.get_task("many_to_one")
    for split in ("TRAIN", "TEST"):
        shutil.copy(os.path.join(archive, f"PickupGestureWiimoteZ_{split}.ts"), tmp_path / f"{split}.ts")
        x, y = read_ts(tmp_path / f"{split}.ts")
        assert len({len(case) for case in x}) > 1  # unequal lengths, as the archive gives them
        width = max(len(case) for case in x)
        rows = [[float(label), *case[:, 0], *[np.nan] * (width - len(case))] for case, label in zip(x, y)]
        (tmp_path / f"{split}.tsv").write_text("".join("\t".join(map(str, row)) + "\n" for row in rows))
        (tmp_path / f"{split}.txt").write_text("".join(" ".join(f"{v:.8e}" for v in row) + "\n"
                                                       for row in rows))
    bundled = task.load(data=tmp_path / "TRAIN.ts", test_data=tmp_path / "TEST.ts", seed=4)
    for extension in ("tsv", "txt"):
        mine = task.load(data=tmp_path / f"TRAIN.{extension}", test_data=tmp_path / f"TEST.{extension}",
                         seed=4)
        assert mine.labels == bundled.labels and mine.spec == bundled.spec
        for name in SPLITS:  # values within float32's round trip through text
            np.testing.assert_allclose(getattr(mine, name), getattr(bundled, name), rtol=1e-6)


def test_turkish_treebank_from_its_conllu_files_equals_the_bundled_set(tmp_path):
    package = importlib.metadata.distribution("turkish-treebanks")
    splits = {"train": [], "dev": [], "test": []}
    for section in ("web", "wiki"):
        sentences = package.locate_file(f"data/{section}.conllu").read_text(encoding="utf-8").split("\n\n")
        for i, sentence in enumerate(s for s in sentences if s.strip()):
            splits[{8: "dev", 9: "test"}.get(i % 10, "train")].append(sentence)
    for split, sentences in splits.items():
        (tmp_path / f"{split}.conllu").write_text("\n\n".join(sentences) + "\n\n", encoding="utf-8")
    task = zoo.get_task("tagging")
    mine, bundled = task.load(data=tmp_path), task.load()
    _same_arrays(mine, bundled)
    assert mine.input_vocab == bundled.input_vocab and mine.labels == bundled.labels


@pytest.mark.parametrize("key", sorted(FORMATS))
def test_every_format_loads_three_splits_that_fit_the_task(key, tmp_path):
    task_name, path, options = write(tmp_path, key)
    task = zoo.get_task(task_name)
    data = task.load(data=path, seed=0, **options)
    sizes = [len(data.y_train), len(data.y_val), len(data.y_test)]
    # A task that draws its training windows itself (forecasting) keeps one window per series in each.
    assert min(sizes) > 0 and (sizes[0] > sizes[1] or task.windows is not None)
    model = task.build_model(data.spec, units=4, cell="gru")
    out = model.predict(data.head(2).x_train, verbose=0)
    assert out.shape[0] == 2
    contract = json.loads(json.dumps(data.contract()))  # what data.json will hold
    assert contract["text"]["output"] in (None, "label_name", "tag_names", "text")


def test_frames_in_an_npz_load_alike_with_captions_as_y_or_in_their_own_file(tmp_path):
    rng = np.random.default_rng(0)
    x = np.empty(30, dtype=object)  # sequences of 2-5 frames of 3 numbers
    x[:] = [rng.normal(size=(2 + i % 4, 3)).astype("float32") for i in range(30)]
    captions = [f"Word{i % 3} and more" for i in range(30)]
    np.savez(tmp_path / "y.npz", x=x, y=np.array(captions))
    np.savez(tmp_path / "x.npz", x=x)
    (tmp_path / "captions.txt").write_text("\n".join(captions) + "\n")
    task = zoo.get_task("seq2seq")
    data = task.load(data=tmp_path / "y.npz", seed=0)
    _same_arrays(task.load(data=tmp_path / "x.npz", seed=0, captions=str(tmp_path / "captions.txt")), data)
    source, decoder_input = data.x_train
    assert source.dtype == np.float32 and source.shape[1:] == (5, 3) and data.spec.num_features == 3
    assert data.spec.input_vocab_size is None and data.output_vocab.tokens[3:6] == ("<unk>", "and", "more")
    short = np.flatnonzero(np.all(source[:, 2:] == PAD_VALUE, axis=(1, 2)))  # two frames, then padding
    assert len(short) and np.all(source[short, :2] != PAD_VALUE)
    (tmp_path / "captions.txt").write_text("one\n")
    with pytest.raises(DataFileError, match="has 1 lines but"):
        task.load(data=tmp_path / "x.npz", captions=str(tmp_path / "captions.txt"))


def test_a_single_file_is_split_stratified_and_the_vocabulary_comes_from_training_only(tmp_path):
    rows = "".join(f"word{i} common,{'ab'[i % 2]}\n" for i in range(100))
    (tmp_path / "t.csv").write_text("text,label\n" + rows)
    data = zoo.get_task("many_to_one").load(data=tmp_path / "t.csv", seed=1)
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (60, 20, 20)
    for y in (data.y_train, data.y_val, data.y_test):
        assert abs(np.mean(y) - 0.5) < 0.06  # stratified: both classes in every split
    vocab = data.input_vocab
    assert vocab.tokens[:3] == ("<pad>", "<unk>", "common")
    # Every test review's own word was never seen in training: it reads <unk>.
    assert np.all(data.x_test[:, 0] == vocab.id(vocab.UNK))
    assert data.text_examples[0].startswith("word")


def test_forecasting_splits_in_time_and_predicts_the_target_column(tmp_path):
    rows = 60
    (tmp_path / "s.csv").write_text("a,b\n" + "".join(f"{i},{10 * i}\n" for i in range(rows)))
    data = zoo.get_task("many_to_one").load(data=tmp_path / "s.csv", target="b", window=4, horizon=2)
    assert data.spec.kind == "regression" and data.x_train.shape[1:] == (4, 2)
    # Window i covers rows i..i+3 and its target is b at row i+5; test is the last windows, in order.
    assert data.y_train[0, 0] == 50 and data.x_train[0, -1, 0] == 3
    assert data.y_test[-1, 0] == 10 * (rows - 1)
    assert data.y_train.max() < data.y_val.min() < data.y_val.max() < data.y_test.min()


def test_npz_sequences_of_different_lengths_and_vectors(tmp_path):
    rng = np.random.default_rng(0)
    series = np.empty(30, dtype=object)
    for i in range(30):
        series[i] = rng.normal(size=(3 + i % 5, 2))
    np.savez(tmp_path / "s.npz", x=series, y=np.array(["u", "v", "w"] * 10))
    data = zoo.get_task("many_to_one").load(data=tmp_path / "s.npz")
    assert data.x_train.shape[1:] == (7, 2) and data.labels == ["u", "v", "w"]
    vectors = zoo.get_task("one_to_one").load(data=(rng.normal(size=(40, 5)), np.arange(40) % 2))
    assert vectors.x_train.shape[1] == 5 and vectors.labels == ["0", "1"]


def test_arff_and_jsonl_text(tmp_path):
    archive = os.path.join(os.path.dirname(aeon.__file__), "datasets", "data", "GunPoint")
    shutil.copy(os.path.join(archive, "GunPoint_TRAIN.arff"), tmp_path / "gp.arff")
    data = zoo.get_task("many_to_one").load(data=tmp_path / "gp.arff")
    assert data.x_train.shape[1:] == (150, 1) and data.labels == ["1", "2"]
    lines = "".join(json.dumps({"text": f"so {w}!", "label": w}) + "\n" for w in ("good", "bad") * 20)
    (tmp_path / "r.jsonl").write_text(lines)
    data = zoo.get_task("many_to_one").load(data=tmp_path / "r.jsonl")
    assert data.labels == ["bad", "good"] and "so" in data.input_vocab.tokens


def test_a_folder_and_named_splits(tmp_path):
    _, path, _ = write(tmp_path, "conll2003")
    folder = tmp_path / "corpus"
    folder.mkdir()
    shutil.copy(path, folder / "train.conll")
    shutil.copy(path, folder / "dev.conll")
    (folder / "test.conll").write_text("Peter NNP B-NP B-PER\n\n")
    data = zoo.get_task("tagging").load(data=folder)
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (30, 30, 1)
    data = zoo.get_task("tagging").load(data=path, test_data=folder / "test.conll")
    assert len(data.y_test) == 1 and len(data.y_train) + len(data.y_val) == 30


def test_words_and_characters_split_as_text_vectorization_does():
    tokens = text.split(["  Hello, WORLD!  it's ", "", "é-🙂"], "words")
    assert tokens.lists() == [["hello", "world", "its"], [], ["é🙂"]]
    characters = text.split(["añb🙂", "", "xy"], "characters")
    assert characters.lists() == [list("añb🙂"), [], list("xy")]
    vocab = Vocabulary.from_counts(characters.counts())
    ids, cut = characters.padded(vocab, max_len=3)
    assert ids.shape == (3, 3) and cut == 1 and ids[1].tolist() == [0, 0, 0]


# (format key, how to break it, the line named, words of the message)
BAD_FILES = [
    ("text_csv", lambda s: s.replace("movie 1!,pos", "movie 1!,pos,extra"), 5, "expected 2 columns"),
    ("vectors_csv", lambda s: s.replace("\n3,4,big", "\n3,four,big"), 5, "must hold numbers"),
    ("conllu", lambda s: s.replace("3\t.\t.\tPUNCT", "x3\t.\t.\tPUNCT", 1), 6, "ID 'x3'"),
    ("conllu", lambda s: s.replace("1\tKedi\tkedi\tNOUN", "1\tKedi\tNOUN", 1), 8, "10 tab-separated"),
    ("conllu", lambda s: s.replace("2\tuyudu", "3\tuyudu", 1), 9, "word ID 3 where 2"),
    ("ts", lambda s: s.replace(":a\n", ":a\n0.1,zz,0.3:b\n", 1), 11, "'zz' is not a number"),
    ("ucr_tsv", lambda s: s.replace("\n", "\n2\t0.5\tzz\n", 2), 2, "'zz' is not a number"),
    ("pairs_tsv", lambda s: s.replace("2+5\t7\tCC-BY", "2+5 7"), 3, "separated by a tab"),
    ("conll2003", lambda s: s.replace("rejects VBZ B-VP O", "rejects"), 4, "token and its tag"),
    ("captions_jsonl", lambda s: s.replace('"caption"', 'caption', 1), 1, "not a JSON object"),
    ("frames_jsonl", lambda s: "\n".join(line.replace("[[", "[[9.0, ", 1) if i == 3 else line
                                         for i, line in enumerate(s.split("\n"))), 4, "same count"),
    ("frames_jsonl", lambda s: s.replace('[[1.0, 0.5], [2.0, 0.0], [0.0, 1.0]]', '[]', 1), 2,
     "at least one frame"),
]


@pytest.mark.parametrize(("key", "corrupt", "line", "words"), BAD_FILES)
def test_a_malformed_file_names_its_line(key, corrupt, line, words, tmp_path):
    task_name, path, options = write(tmp_path, key)
    path.write_text(corrupt(path.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(DataFileError) as error:
        zoo.get_task(task_name).load(data=path, **options)
    assert error.value.line == line and str(path) in str(error.value) and words in str(error.value)


@pytest.mark.parametrize("key", ["conllu", "conll2003", "pairs_tsv"])
def test_line_files_read_in_small_blocks_give_the_same_data_and_line_numbers(key, tmp_path, monkeypatch):
    task_name, path, options = write(tmp_path, key)
    task = zoo.get_task(task_name)
    whole = task.load(data=path, **options)
    monkeypatch.setattr(lines, "BLOCK_BYTES", 150)  # several blocks, cut after blank lines
    _same_arrays(task.load(data=path, **options), whole)
    text = path.read_text(encoding="utf-8").splitlines(keepends=True)
    bad = len(text) - 3 if key != "pairs_tsv" else len(text) - 1
    text[bad] = "broken\n" if key != "conllu" else "7\tbroken\n"
    path.write_text("".join(text), encoding="utf-8")
    with pytest.raises(DataFileError) as error:
        task.load(data=path, **options)
    assert error.value.line == bad + 1


def test_empty_files_and_invalid_utf8(tmp_path):
    (tmp_path / "e.tsv").write_text("")
    with pytest.raises(DataFileError, match="empty"):
        zoo.get_task("seq2seq").load(data=tmp_path / "e.tsv")
    (tmp_path / "u.tsv").write_bytes(b"a\tb\nc\td\xff\n")
    with pytest.raises(DataFileError) as error:
        zoo.get_task("seq2seq").load(data=tmp_path / "u.tsv")
    assert error.value.line == 2 and "UTF-8" in str(error.value)


def test_unknown_extensions_list_the_formats_and_wrong_tasks_say_which_fits(tmp_path):
    (tmp_path / "d.xlsx").write_text("x")
    formats = r"Formats for many_to_one: UCR/UEA time series .*\(.ts, .arff, .txt\);"
    with pytest.raises(ZooError, match=formats):
        zoo.get_task("many_to_one").load(data=tmp_path / "d.xlsx")
    _, path, _ = write(tmp_path, "conllu")
    with pytest.raises(ZooError, match="A .conllu file fits task tagging"):
        zoo.get_task("seq2seq").load(data=path)


def test_a_test_label_training_never_saw_is_reported_with_its_count(tmp_path):
    (tmp_path / "train.csv").write_text("text,label\n" + "a b,x\nc d,y\n" * 10)
    (tmp_path / "test.csv").write_text("text,label\na,x\nb,z\nc,z\n")
    with pytest.raises(DataFileError, match=r"2 rows have labels that training never saw: 'z'"):
        zoo.get_task("many_to_one").load(data=tmp_path)


def test_a_bad_file_stops_the_cli_in_one_line_and_leaves_no_run(tmp_path, capsys):
    task_name, path, options = write(tmp_path, "pairs_tsv")
    path.write_text("1+1\t2\nno tab here\n")
    run_dir = tmp_path / "run"
    assert main(["train", "--task", task_name, "--data", str(path), "--run-dir", str(run_dir)]) == 2
    message = capsys.readouterr().err.strip()
    assert message.count("\n") == 0 and f"{path}, line 2:" in message
    assert not run_dir.exists()


def test_classes_too_rare_to_hold_out_all_train_and_the_run_says_so(tmp_path, capsys):
    """An archive set of 2 series per class (and its own test file): a 20% validation cut would take
    both examples of some classes, so there is none, and the run trains all its epochs on every one."""
    from zoo.files import rare_classes
    from zoo.training import TrainConfig, train

    assert rare_classes(np.repeat(np.arange(52), 2), 0.2)  # 21 held out for 52 classes
    assert not rare_classes(np.repeat(np.arange(3), 10), 0.2)
    rng = np.random.default_rng(0)
    for split, count in (("TRAIN", 2), ("TEST", 1)):
        labels = np.repeat(np.array([f"c{k}" for k in range(12)]), count)
        series = np.empty(len(labels), dtype=object)
        for i, label in enumerate(labels):
            series[i] = rng.normal(int(label[1:]), 0.1, size=(5 + i % 4, 1))
        np.savez(tmp_path / f"set_{split}.npz", x=series, y=labels)
    config = TrainConfig(task="many_to_one", data=str(tmp_path / "set_TRAIN.npz"),
                         test_data=str(tmp_path / "set_TEST.npz"), epochs=3, units=4)
    run_dir = train(config, run_dir=tmp_path / "run", verbose=0)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert (metrics["data"]["train"], metrics["data"]["validation"], metrics["epochs"]) == (24, 0, 3)
    assert "No validation split: a class has too few examples" in capsys.readouterr().out
    # A search cannot rank trials without one: it says why, in one line.
    from tuning import TuneConfig, tune

    with pytest.raises(ZooError, match="has none: a class has too few examples"):
        tune(TuneConfig(task="many_to_one", data=str(tmp_path / "set_TRAIN.npz"),
                        test_data=str(tmp_path / "set_TEST.npz"), tune_dir=str(tmp_path / "tune")))
