"""When a run compiles its training steps with XLA: by the nearest measurement, never with bucketing."""

import json

import pytest

from zoo import xla
from zoo.architecture import Architecture

ROWS = [
    {"cell": "gru", "units": 64, "steps": 50, "masked": True, "bidirectional": False, "xla_speedup": 1.8},
    {"cell": "gru", "units": 256, "steps": 200, "masked": True, "bidirectional": False, "xla_speedup": 0.9},
    {"cell": "lstm", "units": 64, "steps": 50, "masked": True, "bidirectional": True, "xla_speedup": 0.5},
]


def test_the_nearest_measured_configuration_decides():
    assert xla.choose(Architecture(cell="gru", units=48), True, 40, False, rows=ROWS)[0] is True
    assert xla.choose(Architecture(cell="gru", units=200), True, 300, False, rows=ROWS)[0] is False
    use, why = xla.choose(Architecture(cell="lstm", units=64, bidirectional=True), True, 60, False, rows=ROWS)
    assert use is False and "0.50x" in why


def test_a_run_too_short_to_repay_the_compilation_does_without_xla():
    # 10 ms a batch of 64 without XLA, 5 with: 1 s saved per 12,800 examples, against 2 s of compiling.
    row = {**ROWS[0], "batch": 64, "keras_ms": 10.0, "xla_ms": 5.0, "xla_compile_s": 2.0}
    gru = Architecture(cell="gru", units=64)
    use, why = xla.choose(gru, True, 50, False, rows=[row], examples=20 * 640)
    assert use is False and why.endswith("would save about 1.0 s over this run's 12,800 training examples, "
                                         "less than the 2.0 s it takes to compile (make bench-train)")
    assert xla.choose(gru, True, 50, False, rows=[row], examples=100 * 640)[0] is True  # 5 s saved
    assert xla.choose(gru, True, 50, False, rows=ROWS, examples=640)[0] is True  # no compile measurement


def test_no_measurement_bucketing_and_workers_keep_xla_off():
    assert xla.choose(Architecture(cell="simple_rnn"), True, 50, False, rows=ROWS) == (
        False, "no measurement of this cell, masking and direction")
    use, why = xla.choose(Architecture(cell="gru", units=64), True, 50, True, rows=ROWS)
    assert use is False and "shape" in why
    assert xla.choose(Architecture(cell="gru", units=48), True, 40, False, True, rows=ROWS) == (
        False, xla.DISTRIBUTED)


def test_a_device_never_measured_does_without_xla_and_says_which_device_it_is():
    use, why = xla.choose(Architecture(cell="gru", units=64), True, 50, False, device="GPU Imaginary X1")
    assert use is False and why == ("no XLA measurement on this device (GPU Imaginary X1); make bench-train "
                                    "measures it")
    assert xla.measured("GPU Imaginary X1") == []
    assert xla.device_kind().startswith("CPU ") and xla.device_kind().endswith(" cores)")  # no GPU in CI


def test_the_shipped_measurements_cover_every_cell_masked_in_both_directions():
    (device,) = json.loads(xla.SPEEDUPS.read_text())["devices"]
    rows = xla.measured(device)
    assert device.startswith("CPU ") and rows
    assert all(r["keras_ms"] > 0 and r["xla_ms"] > 0 and r["batch"] and r["xla_compile_s"] > 0 for r in rows)
    covered = {(r["cell"], r["bidirectional"]) for r in rows if r["masked"]}
    assert covered == {(cell, bidirectional) for cell in ("simple_rnn", "lstm", "gru")
                       for bidirectional in (False, True)}
    assert all(r["xla_speedup"] > 0 for r in rows)


@pytest.mark.slow
def test_an_xla_run_really_compiles_and_repeats_its_metrics(tmp_path):
    import warnings

    from zoo.training import TrainConfig, train

    config = TrainConfig(task="many_to_one", cell="gru", units=8, limit=48, epochs=2, jit_compile=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        runs = [train(config, run_dir=tmp_path / str(i), verbose=0) for i in range(2)]
    assert not [w for w in caught if "jit_compile" in str(w.message)]  # Keras fell back to no XLA
    first, second = (json.loads((run / "metrics.json").read_text()) for run in runs)
    assert first["jit_compile"] is True
    assert first["test"] == second["test"]
