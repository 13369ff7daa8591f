"""gradcore eval (docs/design.md §5) on a registry dataset and on synthetic data, and its metric against an
independent oracle:
- scikit-learn's digits (tools/digits_to_h5.py): a CRAIG coreset of 10% (facility location on the
  features, CRAIG's choice for convex models) trains a more accurate model than uniform random
  subsets of the same size with weight N/k (mean of 5);
- the same on a `gradcore gen` dataset whose held-out test rows are a later row range of the same
  generator;
- the full-data arm's SGD ends within a few points of scikit-learn's LogisticRegression with the
  same regulariser (sklearn's C = 1 / (l2 · N));
- the PNG plot decodes (with zlib here, independently of libpng) to the three arms' colours;
- the accuracies do not depend on the rank count; bad input fails with one line and no plot.
The numbers are printed (pytest -s) and attached as junit properties."""
import struct
import subprocess
import sys
import zlib

import h5py
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from conftest import REPO, run_gradcore, write_dataset
from errors.test_bad_input import assert_one_error_line

USAGE, INPUT, IO = 2, 3, 4
COLOURS = {"coreset": (214, 39, 40), "random": (31, 119, 180), "full": (44, 160, 44)}


def parse_table(stdout):
    """{arm: {rows, acc, train_s, reach_s}} from eval's table (arm names may contain spaces)."""
    arms = {}
    for line in stdout.splitlines():
        for arm in COLOURS:
            if line.startswith(arm):
                rows, acc, train_s, reach = line.split()[-4:]
                arms[arm] = {"rows": int(rows), "acc": float(acc), "train_s": float(train_s),
                             "reach_s": None if reach == "never" else float(reach)}
    assert set(arms) == set(COLOURS), stdout
    return arms


def evaluate(train, test, coreset, extra=(), np_=1):
    proc = run_gradcore(["eval", "--data", train, "--test", test, "--coreset", coreset, *extra], np_=np_)
    return parse_table(proc.stdout), proc


def record(record_property, name, arms):
    line = ", ".join(f"{a} acc {r['acc']:.4f} in {r['train_s']:.4f} s (to target: {r['reach_s']})"
                     for a, r in arms.items())
    print(f"{name}: {line}")
    for a, r in arms.items():
        record_property(f"{name}_{a}_final_test_accuracy", r["acc"])
        record_property(f"{name}_{a}_train_s", r["train_s"])


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """Digits as gradcore files, a 10% CRAIG coreset of the training rows, and one eval with a plot."""
    d = tmp_path_factory.mktemp("digits")
    train, test, coreset, plot = d / "train.h5", d / "test.h5", d / "coreset.h5", d / "acc.png"
    subprocess.run([sys.executable, str(REPO / "tools" / "digits_to_h5.py"), str(train), str(test)], check=True,
                   capture_output=True)
    run_gradcore(["select", "--method", "craig", "--embedding", "features", "--k", "10%", "--data", train,
                  "--out", coreset, "--quiet"])
    arms, proc = evaluate(train, test, coreset, ["--plot", plot])
    return {"train": train, "test": test, "coreset": coreset, "plot": plot, "arms": arms, "stderr": proc.stderr}


def test_digits_files_hold_a_stratified_split_scaled_to_unit_range(digits):
    with h5py.File(digits["train"]) as tr, h5py.File(digits["test"]) as te:
        assert tr["X"].dtype == np.float32 and tr["X"].shape == (1437, 64) and te["X"].shape == (360, 64)
        assert tr.attrs["num_classes"] == 10 and te.attrs["num_classes"] == 10
        X = np.vstack([tr["X"][()], te["X"][()]])
        assert X.min() == 0.0 and X.max() == 1.0
        assert not set(tr["ids"][()]) & set(te["ids"][()])
        # stratified: every class's share of the test rows is within one row of 20%
        sizes_tr, sizes_te = np.bincount(tr["y"][()], minlength=10), np.bincount(te["y"][()], minlength=10)
        assert np.all(np.abs(sizes_te - 0.2 * (sizes_tr + sizes_te)) <= 1)


def test_digits_coreset_beats_the_mean_of_random_subsets(digits, record_property):
    arms = digits["arms"]
    record(record_property, "digits", arms)
    assert arms["coreset"]["rows"] == arms["random"]["rows"] == 144 and arms["full"]["rows"] == 1437
    assert arms["coreset"]["acc"] > arms["random"]["acc"]


def test_full_data_sgd_is_within_a_few_points_of_sklearn(digits, record_property):
    """Same objective: Σᵢ ℓᵢ + (l2·N/2)‖W‖², i.e. sklearn's C = 1/(l2·N), solved to optimality by lbfgs."""
    with h5py.File(digits["train"]) as tr, h5py.File(digits["test"]) as te:
        X, y, Xt, yt = tr["X"][()], tr["y"][()], te["X"][()], te["y"][()]
    l2 = 1e-4  # eval's default
    oracle = LogisticRegression(C=1.0 / (l2 * len(y)), max_iter=10000).fit(X, y).score(Xt, yt)
    record_property("digits_sklearn_test_accuracy", oracle)
    print(f"digits: sklearn LogisticRegression {oracle:.4f}, gradcore eval full data {digits['arms']['full']['acc']:.4f}")
    assert abs(digits["arms"]["full"]["acc"] - oracle) <= 0.03


def read_png(path):
    """Pixels [h, w, 3] of an 8-bit RGB PNG, decoded here (chunk CRCs, zlib, the five row filters)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        assert zlib.crc32(kind + body) == struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
        if kind == b"IEND":
            break
    w, h, depth, colour_type, _, _, interlace = header
    assert (depth, colour_type, interlace) == (8, 2, 0)
    raw, stride, bpp = zlib.decompress(idat), 3 * w, 3
    rows, prev = [], bytearray(stride)
    for r in range(h):
        kind, line = raw[r * (stride + 1)], bytearray(raw[r * (stride + 1) + 1:(r + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return np.frombuffer(b"".join(rows), np.uint8).reshape(h, w, 3)


def test_plot_is_a_png_with_the_three_arms_colours(digits):
    pixels = read_png(digits["plot"])
    assert pixels.shape == (480, 720, 3)
    assert (pixels == 255).all(axis=2).mean() > 0.5  # mostly white background
    assert (pixels == 0).all(axis=2).sum() > 500  # axes, ticks and labels in black
    for arm, rgb in COLOURS.items():
        assert (pixels == rgb).all(axis=2).sum() > 300, f"{arm}'s colour {rgb} is missing"


def test_synthetic_coreset_beats_the_mean_of_random_subsets(tmp_path, record_property):
    """A mixture of 20 classes × 4 modes in 8 dimensions that a linear model cannot separate
    perfectly; the test rows are rows 3200…3999 of the same generator. --lr 0.01: the features'
    squared norms reach about 90 (digits: 23) and coreset weights about 50, and an element's step is
    lr × weight, so lr 0.1 overshoots on the heaviest elements (see the report in the commit)."""
    full = tmp_path / "all.h5"
    run_gradcore(["gen", "--out", full, "--n", 4000, "--d", 8, "--classes", 20, "--seed", 1, "--quiet"])
    with h5py.File(full) as f:
        X, y = f["X"][()], f["y"][()]
    write_dataset(tmp_path / "train.h5", X[:3200], y[:3200], num_classes=20)
    write_dataset(tmp_path / "test.h5", X[3200:], y[3200:], num_classes=20)
    run_gradcore(["select", "--method", "craig", "--embedding", "features", "--k", "10%",
                  "--data", tmp_path / "train.h5", "--out", tmp_path / "coreset.h5", "--quiet"])
    arms, _ = evaluate(tmp_path / "train.h5", tmp_path / "test.h5", tmp_path / "coreset.h5", ["--lr", "0.01"])
    record(record_property, "synthetic", arms)
    assert arms["coreset"]["rows"] == 320
    assert arms["coreset"]["acc"] > arms["random"]["acc"]


def test_accuracies_do_not_depend_on_the_rank_count(digits):
    two, _ = evaluate(digits["train"], digits["test"], digits["coreset"], np_=2)
    for arm in COLOURS:
        assert two[arm]["acc"] == digits["arms"][arm]["acc"]


def shifted_coreset(d, coreset):
    """A copy of the coreset whose last index points one row past the data."""
    out = d / "bad_coreset.h5"
    with h5py.File(coreset) as f, h5py.File(out, "w") as g:
        index = f["coreset/index"][()]
        index[-1] = 1437
        g["coreset/index"] = index
        g["coreset/weight"] = f["coreset/weight"][()]
    return out


def narrow_test_set(d, test):
    out = d / "narrow.h5"
    with h5py.File(test) as f:
        write_dataset(out, f["X"][:, :10], f["y"][()], num_classes=10)
    return out


def array_num_classes(d, train):
    """The training data with num_classes = [10, 10]: once a stack overflow in the attribute reader."""
    out = d / "array_attr.h5"
    with h5py.File(train) as f:
        write_dataset(out, f["X"][()], f["y"][()])
    with h5py.File(out, "a") as f:
        f.attrs["num_classes"] = np.array([10, 10])
    return out


BAD = {
    "index_outside_the_data": (lambda d, g: ["--coreset", shifted_coreset(d, g["coreset"])], INPUT,
                               ["bad_coreset.h5", "row 143", "1437"]),
    "coreset_of_another_dataset": (lambda d, g: ["--data", g["test"]], INPUT, ["coreset.h5", "N = 1437", "360"]),
    "num_classes_is_an_array": (lambda d, g: ["--data", array_num_classes(d, g["train"])], INPUT,
                                ["array_attr.h5", "num_classes"]),
    "test_width_differs": (lambda d, g: ["--test", narrow_test_set(d, g["test"])], INPUT,
                           ["narrow.h5", "10 features", "64"]),
    "missing_coreset_file": (lambda d, g: ["--coreset", d / "nope.h5"], INPUT, ["nope.h5"]),
    "not_a_coreset": (lambda d, g: ["--coreset", g["train"]], INPUT, ["train.h5", "/coreset/index", "missing"]),
    "unwritable_plot": (lambda d, g: ["--plot", "/nonexistent-dir/acc.png"], IO, ["--plot", "/nonexistent-dir"]),
    "lr_not_positive": (lambda d, g: ["--lr", "0"], USAGE, ["--lr"]),
    "epochs_zero": (lambda d, g: ["--epochs", "0"], USAGE, ["--epochs"]),
}


@pytest.mark.parametrize("np_", [1, 2])
@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_eval_input_gives_one_line_and_no_plot(digits, tmp_path, case, np_):
    make, code, words = BAD[case]
    plot = tmp_path / "acc.png"
    args = ["eval", "--data", digits["train"], "--test", digits["test"], "--coreset", digits["coreset"],
            "--plot", plot]
    args += [str(a) for a in make(tmp_path, digits)]  # later options win
    proc = run_gradcore(args, np_=np_, check=False, timeout=120)
    assert_one_error_line(proc, code, words)
    assert not plot.exists()
    assert not [p for p in tmp_path.iterdir() if ".tmp." in p.name], "temporary file left behind"


def test_missing_test_option_is_a_usage_error(digits):
    proc = run_gradcore(["eval", "--data", digits["train"], "--coreset", digits["coreset"]], check=False)
    assert_one_error_line(proc, USAGE, ["--test", "required"])
