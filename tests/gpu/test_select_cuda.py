"""Whole `gradcore select` runs on a GPU where E lives on the device alone (docs/design.md §3.2)
against runs that keep a host copy of E and against the CPU backend: the same coreset, bit for bit.

Every selector (OMP, facility location, CREST, BiCo) reads E only through the backend, so `select
--device cuda` keeps no host copy; --save-embeddings asks for one, which makes the run with both copies. The features embedding of synthetic rows is the
generator's bits on either backend, so there the CPU run is an independent check of the GPU's; the
gmc embedding differs from the CPU's in its last bits, so it is compared between the GPU's two runs.

Runs only with GRADCORE_DEVICE=cuda (scripts/gpu.sh tests); skipped elsewhere."""
import os

import h5py
import numpy as np
import pytest

from conftest import assert_fp16_overflow_named, read_coreset, run_gradcore

pytestmark = pytest.mark.skipif(os.environ.get("GRADCORE_DEVICE") != "cuda", reason="needs GRADCORE_DEVICE=cuda")

DATA = "synthetic:n=200000,d=32,classes=10,seed=3,modes=4"
FL_DATA = DATA + ",duplicates=0"  # no near-copies: fewer near-ties in the greedies


def select(tmp_path, name, args, ranks=1, data=DATA):
    out = tmp_path / f"{name}.h5"
    proc = run_gradcore(["select", "--data", data, "--out", out] + args, np_=ranks)
    return read_coreset(out), proc.stderr


def assert_same(a, b):
    for field in ("index", "weight", "gain", "label"):
        np.testing.assert_array_equal(a[field], b[field], err_msg=field)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("ranks", [1, 2])
def test_features_on_the_device_alone_equal_the_cpu(tmp_path, precision, ranks):
    args = ["--embedding", "features", "--selector", "omp", "--k", "300", "--batch", "3", "--precision", precision]
    alone, log = select(tmp_path, "alone", args + ["--device", "cuda"], ranks)
    assert "kept there alone" in log
    both, log = select(tmp_path, "both", args + ["--device", "cuda", "--save-embeddings", tmp_path / "e.h5"], ranks)
    assert "kept there alone" not in log
    cpu, _ = select(tmp_path, "cpu", args + ["--device", "cpu"], ranks)
    assert_same(alone, both)
    assert_same(alone, cpu)
    assert alone["attrs"]["relative_gradient_error"] == cpu["attrs"]["relative_gradient_error"]


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_facility_location_on_the_device_alone_equals_both_copies(tmp_path, precision):
    # Partitions of 1,500 rows: several a class, some straddling a rank boundary (three ranks cut
    # classes of ~20,000 rows off their partition grid), and the safeguard's sample below a class.
    args = ["--embedding", "features", "--selector", "fl", "--k", "1%", "--partition-size", "1500",
            "--safeguard-sample", "2000", "--precision", precision]
    first = None
    for ranks in (1, 2, 3):
        alone, log = select(tmp_path, f"alone{ranks}", args + ["--device", "cuda"], ranks, FL_DATA)
        assert "kept there alone" in log
        both, log = select(tmp_path, f"both{ranks}", args + ["--device", "cuda", "--save-embeddings",
                                                             tmp_path / f"e{ranks}.h5"], ranks, FL_DATA)
        assert "kept there alone" not in log
        assert_same(alone, both)
        assert alone["attrs"]["relative_gradient_error"] == both["attrs"]["relative_gradient_error"]
        first = first or alone
        assert_same(alone, first)  # rank invariance
    # The CPU twin: the similarity constant (the radius pass) to the bit; the greedies' choices rest
    # on cuBLAS's and OpenBLAS's DGEMM rounding in near-ties (tests/gpu/test_fl_cuda.c compares them
    # where there are none), so the objective to its rounding.
    cpu, _ = select(tmp_path, "cpu", args + ["--device", "cpu"], 1, FL_DATA)
    assert first["attrs"]["similarity_constant"] == cpu["attrs"]["similarity_constant"]
    assert first["attrs"]["objective"] == pytest.approx(cpu["attrs"]["objective"], rel=1e-6)


def crest_batches(path):
    with h5py.File(path, "r") as f:
        return {name: f["crest"][name][()] for name in f["crest"]}


# CREST's subsets take their members' rows from the device, BiCo its landmarks, features and
# winners' rows: the same coreset (and CREST's batches) as with the host copy, at any rank count.
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("method, extra", [
    ("crest", ["--subsets", "12", "--subset-size", "3000", "--batch-size", "40"]),
    ("bico", ["--k", "60", "--landmarks", "300", "--batch", "4"]),
])
def test_crest_and_bico_on_the_device_alone_equal_both_copies(tmp_path, precision, method, extra):
    args = ["--method", method, "--embedding", "features", "--precision", precision, "--device", "cuda"] + extra
    first = None
    for ranks in (1, 2):
        alone, log = select(tmp_path, f"alone{ranks}", args, ranks)
        assert "kept there alone" in log
        both, log = select(tmp_path, f"both{ranks}", args + ["--save-embeddings", tmp_path / f"e{ranks}.h5"], ranks)
        assert "kept there alone" not in log
        assert_same(alone, both)
        assert alone["attrs"]["relative_gradient_error"] == both["attrs"]["relative_gradient_error"]
        if method == "crest":
            a, b = crest_batches(tmp_path / f"alone{ranks}.h5"), crest_batches(tmp_path / f"both{ranks}.h5")
            for name in a:
                np.testing.assert_array_equal(a[name], b[name], err_msg=name)
        first = first or alone
        assert_same(alone, first)  # rank invariance
        assert alone["attrs"]["relative_gradient_error"] == first["attrs"]["relative_gradient_error"]


def test_gmc_on_the_device_alone_equals_both_copies(tmp_path):
    args = ["--method", "gmc", "--k", "200", "--device", "cuda"]
    alone, _ = select(tmp_path, "alone", args, 2)
    both, _ = select(tmp_path, "both", args + ["--save-embeddings", tmp_path / "e.h5"], 2)
    assert_same(alone, both)
    assert alone["attrs"]["relative_gradient_error"] == both["attrs"]["relative_gradient_error"]


def test_fp16_overflow_names_the_row_on_the_device(tmp_path):
    assert_fp16_overflow_named(tmp_path, 5000, 4321, ("--device", "cuda"))
