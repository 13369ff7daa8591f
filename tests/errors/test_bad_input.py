"""The bad-input matrix of docs/design.md §6: each case exits non-zero with the expected code, prints exactly
one line 'gradcore: error: …' naming the problem, and leaves no output file (and an existing output
file untouched). Run at -np 1 and -np 2: every rank must agree and none may hang."""
import os
import shutil

import h5py
import numpy as np
import pytest

from conftest import run_gradcore, write_dataset

USAGE, INPUT, IO, DEVICE = 2, 3, 4, 5


def make_good(d):
    rng = np.random.default_rng(0)
    write_dataset(d / "good.h5", rng.normal(size=(40, 3)).astype(np.float32), np.arange(40) % 4, num_classes=4)
    return str(d / "good.h5")


def make_nan(d):
    X = np.ones((30, 3), np.float32)
    X[17, 2] = np.nan
    write_dataset(d / "nan.h5", X, np.zeros(30, np.int32))
    return str(d / "nan.h5")


def make_inf(d):
    X = np.ones((30, 3), np.float32)
    X[5, 0] = np.inf
    write_dataset(d / "inf.h5", X, np.zeros(30, np.int32))
    return str(d / "inf.h5")


def make_label_too_big(d):
    write_dataset(d / "lab.h5", np.ones((30, 3), np.float32), np.r_[np.zeros(29), 7].astype(np.int32), num_classes=4)
    return str(d / "lab.h5")


def make_negative_label(d):
    write_dataset(d / "neg.h5", np.ones((30, 3), np.float32), np.r_[np.zeros(29), -1].astype(np.int64))
    return str(d / "neg.h5")


def make_empty(d):
    write_dataset(d / "empty.h5", np.zeros((0, 3), np.float32), np.zeros(0, np.int32))
    return str(d / "empty.h5")


def make_tiny(d):
    write_dataset(d / "tiny.h5", np.ones((3, 3), np.float32), np.zeros(3, np.int32))
    return str(d / "tiny.h5")


def make_no_x(d):
    with h5py.File(d / "nox.h5", "w") as f:
        f["y"] = np.zeros(10, np.int32)
    return str(d / "nox.h5")


def bad_file(d, name, X, y):
    """A shard whose /X and /y are written as given (wrong ranks, dtypes or lengths)."""
    with h5py.File(d / name, "w") as f:
        f["X"], f["y"] = X, y
    return str(d / name)


def make_x_rank1(d):
    return bad_file(d, "rank1.h5", np.zeros(10, np.float32), np.zeros(10, np.int32))


def make_x_int(d):
    return bad_file(d, "xint.h5", np.zeros((10, 2), np.int32), np.zeros(10, np.int32))


def make_y_float(d):
    return bad_file(d, "yfloat.h5", np.zeros((10, 2), np.float32), np.zeros(10, np.float32))


def make_y_short(d):
    return bad_file(d, "yshort.h5", np.zeros((10, 2), np.float32), np.zeros(9, np.int32))


def make_not_hdf5(d):
    (d / "text.h5").write_text("not an HDF5 file\n")
    return str(d / "text.h5")


def make_bad_model(d):
    with h5py.File(d / "model.h5", "w") as f:
        f["layers/0/W"] = np.zeros((8, 3), np.float32)
        f["layers/0/b"] = np.zeros(8, np.float32)
        f["layers/1/W"] = np.zeros((4, 9), np.float32)  # takes 9 inputs, layer 0 gives 8
        f["layers/1/b"] = np.zeros(4, np.float32)
        f.attrs["activation"] = "relu"
    return str(d / "model.h5")


def make_good_model(d):
    with h5py.File(d / "model.h5", "w") as f:
        f["layers/0/W"] = np.zeros((8, 3), np.float32)
        f["layers/0/b"] = np.zeros(8, np.float32)
        f["layers/1/W"] = np.zeros((4, 8), np.float32)
        f["layers/1/b"] = np.zeros(4, np.float32)
        f.attrs["activation"] = "relu"


def make_width_mismatch(d):
    write_dataset(d / "w4.h5", np.ones((30, 4), np.float32), np.zeros(30, np.int32))
    return str(d / "w4.h5")


# name: (dataset maker, extra args, exit code, words the message must contain)
CASES = {
    "missing_file": (None, ["--data", "{d}/missing.h5", "--k", "3"], INPUT, ["missing.h5", "no such"]),
    "not_hdf5": (make_not_hdf5, ["--k", "3"], INPUT, ["text.h5", "not an HDF5"]),
    "missing_X": (make_no_x, ["--k", "3"], INPUT, ["/X", "missing"]),
    "X_wrong_rank": (make_x_rank1, ["--k", "3"], INPUT, ["/X", "rank 1"]),
    "X_wrong_dtype": (make_x_int, ["--k", "3"], INPUT, ["/X", "dtype"]),
    "y_wrong_dtype": (make_y_float, ["--k", "3"], INPUT, ["/y", "dtype"]),
    "y_wrong_length": (make_y_short, ["--k", "3"], INPUT, ["/y", "9 rows"]),
    "empty_dataset": (make_empty, ["--k", "1"], INPUT, ["N = 0"]),
    "nan_in_X": (make_nan, ["--k", "3"], INPUT, ["nan.h5", "row 17", "NaN"]),
    "inf_in_X": (make_inf, ["--k", "3"], INPUT, ["inf.h5", "row 5"]),
    "label_not_below_C": (make_label_too_big, ["--k", "3"], INPUT, ["lab.h5", "row 29", "label 7"]),
    "negative_label": (make_negative_label, ["--k", "3"], INPUT, ["neg.h5", "label -1"]),
    "k_above_N": (make_good, ["--k", "41"], INPUT, ["--k", "41", "40 rows"]),
    "k_zero": (make_good, ["--k", "0"], USAGE, ["--k", "positive"]),
    "k_negative": (make_good, ["--k", "-5"], USAGE, ["--k"]),
    "k_not_a_number": (make_good, ["--k", "ten"], USAGE, ["--k", "ten"]),
    "k_percent_too_big": (make_good, ["--k", "150%"], USAGE, ["--k"]),
    "model_widths_do_not_chain": (make_good, ["--k", "3", "--model", "{d}/model.h5"], INPUT, ["model.h5", "chain"]),
    "model_input_width": (make_width_mismatch, ["--k", "3", "--model", "{d}/model.h5"], INPUT, ["model", "inputs"]),
    "unwritable_output": (make_good, ["--k", "3", "--out", "/nonexistent-dir/out.h5"], IO, ["--out", "/nonexistent-dir/out.h5"]),
    "unknown_option": (make_good, ["--k", "3", "--frobnicate", "1"], USAGE, ["--frobnicate"]),
    "unknown_method": (make_good, ["--k", "3", "--method", "magic"], USAGE, ["--method", "magic"]),
    "missing_k": (make_good, [], USAGE, ["--k", "required"]),
    "missing_job_file": (make_good, ["--k", "3", "--config", "{d}/nope.ini"], USAGE, ["nope.ini"]),
    "bico_landmarks_above_N": (make_good, ["--k", "3", "--method", "bico", "--landmarks", "41"], INPUT,
                               ["--landmarks", "41", "40 rows"]),
    "bico_gamma_zero": (make_good, ["--k", "3", "--method", "bico", "--gamma", "0"], USAGE, ["--gamma", "positive"]),
    "bico_ridge_negative": (make_good, ["--k", "3", "--method", "bico", "--bico-ridge", "-1"], USAGE, ["--bico-ridge"]),
    "bico_unknown_eig": (make_good, ["--k", "3", "--method", "bico", "--eig", "qr"], USAGE, ["--eig", "qr"]),
    "bico_batch_zero": (make_good, ["--k", "3", "--method", "bico", "--batch", "0"], USAGE, ["--batch"]),
}


def build_args(tmp_path, case):
    maker, extra, _, _ = CASES[case]
    if case == "model_widths_do_not_chain":
        make_bad_model(tmp_path)
    elif case == "model_input_width":
        make_good_model(tmp_path)
    args = ["select"]
    if maker is not None:
        args += ["--data", maker(tmp_path)]
    args += [a.replace("{d}", str(tmp_path)) for a in extra]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "out.h5")]
    return args


def assert_one_error_line(proc, code, words):
    assert proc.returncode == code, proc.stderr
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    errors = [l for l in lines if l.startswith("gradcore: error: ")]
    assert len(errors) == 1, proc.stderr
    assert not any(l for l in lines if "Traceback" in l or "Segmentation" in l or "MPI_ABORT" in l), proc.stderr
    for w in words:
        assert w in errors[0], f"{w!r} not in {errors[0]!r}"


@pytest.mark.parametrize("np_", [1, 2])
@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_gives_one_line_and_no_output(tmp_path, case, np_):
    args = build_args(tmp_path, case)
    out = args[args.index("--out") + 1]
    proc = run_gradcore(args, np_=np_, check=False, timeout=120)
    assert_one_error_line(proc, CASES[case][2], CASES[case][3])
    assert not os.path.exists(out)
    assert not [p for p in os.listdir(tmp_path) if ".tmp." in p], "temporary file left behind"


@pytest.mark.parametrize("case", ["nan_in_X", "k_above_N", "label_not_below_C"])
def test_existing_output_is_untouched_by_a_failed_run(tmp_path, case):
    args = build_args(tmp_path, case)
    out = args[args.index("--out") + 1]
    with open(out, "wb") as f:
        f.write(b"previous coreset")
    proc = run_gradcore(args, np_=2, check=False, timeout=120)
    assert proc.returncode != 0
    with open(out, "rb") as f:
        assert f.read() == b"previous coreset"


def test_more_ranks_than_rows(tmp_path):
    proc = run_gradcore(["select", "--data", make_tiny(tmp_path), "--k", "1", "--out", tmp_path / "o.h5"],
                        np_=4, check=False, timeout=120)
    assert_one_error_line(proc, INPUT, ["3 rows", "4 ranks"])
    assert not (tmp_path / "o.h5").exists()


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="a GPU is present")
def test_device_cuda_without_gpu(tmp_path):
    proc = run_gradcore(["select", "--data", make_good(tmp_path), "--k", "3", "--device", "cuda",
                         "--out", tmp_path / "o.h5"], np_=2, check=False, timeout=120)
    assert_one_error_line(proc, DEVICE, ["--device cuda"])
    assert not (tmp_path / "o.h5").exists()


def test_not_errors_duplicates_empty_class_and_k_equal_n(tmp_path, gradcore):
    """Duplicate rows, a class id with no rows and k = N all succeed."""
    X = np.repeat(np.arange(20, dtype=np.float32)[:, None], 3, axis=1)
    X = np.vstack([X, X])  # every row twice
    y = np.r_[np.zeros(20), np.full(20, 2)].astype(np.int32)  # class 1 is empty
    write_dataset(tmp_path / "dup.h5", X, y, num_classes=3)
    for k in ("5", "40"):
        out = tmp_path / f"o{k}.h5"
        proc = gradcore(["select", "--data", tmp_path / "dup.h5", "--k", k, "--out", out], np_=2)
        assert "no rows" in proc.stderr
        with h5py.File(out) as f:
            assert f["coreset/weight"][()].sum() == 40
            assert 1 not in set(f["coreset/label"][()])
