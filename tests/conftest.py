"""Shared helpers for the Python-driven tests (MPI, error matrix, reference oracles).

The binary is $GRADCORE_BIN (default: <repo>/build/gradcore). MPI runs use `mpirun -q` so a failed
run prints only gradcore's own one-line error, and --oversubscribe so 4 ranks run on 2 cores."""
import os
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = os.environ.get("GRADCORE_BIN", str(REPO / "build" / "gradcore"))
MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
           "OMPI_MCA_rmaps_base_oversubscribe": "1", "OMP_NUM_THREADS": "1"}


def run_gradcore(args, np_=1, check=True, timeout=600):
    """Runs `gradcore ARGS` on np_ ranks; returns the CompletedProcess (text mode)."""
    cmd = ["mpirun", "-q", "--oversubscribe", "-np", str(np_), BIN] + [str(a) for a in args]
    env = dict(os.environ, **MPI_ENV)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def read_coreset(path):
    with h5py.File(path, "r") as f:
        out = {name: f["coreset"][name][()] for name in f["coreset"]}
        out["attrs"] = dict(f.attrs)
    return out


def write_dataset(path, X, y, num_classes=None, chunks=None, compression=None, ids=None):
    with h5py.File(path, "w") as f:
        f.create_dataset("X", data=X, chunks=chunks, compression=compression)
        f.create_dataset("y", data=y, chunks=None if chunks is None else (chunks[0],), compression=compression)
        if ids is not None:
            f.create_dataset("ids", data=ids)
        if num_classes is not None:
            f.attrs["num_classes"] = num_classes


def write_clusters(path, n, d, classes, seed, centers, spread):
    """Rows around `centers` random centres (N(0, spread²) each), unit noise, random labels; returns
    X (float32 as written) and y."""
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centers, d)) * spread
    X = (c[rng.integers(0, centers, n)] + rng.normal(size=(n, d))).astype(np.float32)
    y = rng.integers(0, classes, n).astype(np.int32)
    write_dataset(path, X, y, num_classes=classes)
    return X, y


def assert_fp16_overflow_named(tmp_path, rows, bad_row, device_args=()):
    """`select --precision fp16` on `rows` rows of ones with one value of 1e6 in row `bad_row`: one
    line naming that row, a non-zero exit and no coreset file."""
    X = np.ones((rows, 4), np.float32)
    X[bad_row, 2] = 1e6
    path = tmp_path / "big.h5"
    write_dataset(path, X, np.zeros(rows, np.int32), num_classes=1)
    proc = run_gradcore(["select", "--data", path, "--embedding", "features", "--selector", "omp", "--k", "5",
                         "--precision", "fp16", "--out", tmp_path / "cs.h5", "--quiet", *device_args], check=False)
    assert proc.returncode != 0
    assert f"row {bad_row} has a value beyond fp16's range" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "cs.h5").exists()


@pytest.fixture
def gradcore():
    return run_gradcore


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def sklearn_omp_order(dictionary, target, k):
    """Rows of scikit-learn's orthogonal_mp in selection order, on the unit-norm rows (gradcore
    scores |⟨e, r⟩|/‖e‖; the residual does not depend on the atoms' scale)."""
    from sklearn.linear_model import orthogonal_mp  # here: most suites never need scikit-learn
    unit = dictionary / np.linalg.norm(dictionary, axis=1, keepdims=True)
    path = orthogonal_mp(unit.T, target, n_nonzero_coefs=k, return_path=True)
    order = []
    for step in range(path.shape[1]):
        new = [j for j in np.flatnonzero(path[:, step]) if j not in order]
        assert len(new) == 1
        order.append(new[0])
    return np.array(order)
