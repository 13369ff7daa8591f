"""Rows read from HDF5 files (docs/design.md §2.1, §2.3) against the files' own values, read by h5py.

A large read of a contiguous float32 dataset goes straight to the file with every thread at once
(io/h5util.c, read_direct); a chunked, compressed one, and anything smaller than 16 MiB, goes
through HDF5. Either way the rows must be the file's values bit for bit:
- `--embedding features` on /X writes E = X: saved with --save-embeddings it must equal h5py's /X,
  for a contiguous file (the direct read, 4 MiB pieces and a short last one) and for a chunked,
  gzip-compressed copy (HDF5), with the same coreset;
- `--embeddings` on that contiguous E file (the direct read again, batch by batch): the same
  coreset as the features embedding of /X;
- at -np 1, 2, 3 on X cut into three shards of unequal size (some pieces read directly, some
  through HDF5): the same E and coreset;
- a NaN in a contiguous /X is named by file, row and column.
"""
import h5py
import numpy as np
import pytest

from conftest import read_coreset, run_gradcore, write_dataset

N, D, C = 72_001, 128, 5  # 36.9 MB of /X: above the 16 MiB of a direct read, nine 4 MiB pieces


@pytest.fixture(scope="module")
def rows():
    rng = np.random.default_rng(7)
    X = (rng.normal(size=(N, D)) * np.exp(rng.normal(size=(N, 1)))).astype(np.float32)
    y = rng.integers(0, C, N).astype(np.int32)
    return X, y


def select(tmp_path, name, data, extra, ranks=1):
    out, e = tmp_path / f"{name}.h5", tmp_path / f"{name}-e.h5"
    run_gradcore(["select", "--data", data, "--selector", "omp", "--k", "40", "--device", "cpu", "--out", out,
                  "--save-embeddings", e, "--quiet"] + extra, np_=ranks)
    with h5py.File(e, "r") as f:
        E = f["E"][()]
    return read_coreset(out), E


def assert_same_coreset(a, b):
    for field in ("index", "weight", "gain"):
        np.testing.assert_array_equal(a[field], b[field], err_msg=field)


def test_contiguous_and_chunked_files_give_the_file_values(tmp_path, rows):
    X, y = rows
    write_dataset(tmp_path / "contiguous.h5", X, y, num_classes=C)
    write_dataset(tmp_path / "chunked.h5", X, y, num_classes=C, chunks=(4096, D), compression="gzip")
    with h5py.File(tmp_path / "contiguous.h5", "r") as f:
        assert f["X"].chunks is None  # the direct read's case
    features = ["--embedding", "features"]
    direct, E_direct = select(tmp_path, "direct", tmp_path / "contiguous.h5", features)
    hdf5, E_hdf5 = select(tmp_path, "hdf5", tmp_path / "chunked.h5", features)
    np.testing.assert_array_equal(E_direct.view(np.uint32), X.view(np.uint32))
    np.testing.assert_array_equal(E_hdf5.view(np.uint32), X.view(np.uint32))
    assert_same_coreset(direct, hdf5)
    # E from the contiguous embeddings file just written, read batch by batch
    from_file, _ = select(tmp_path, "from-file", tmp_path / "contiguous.h5", ["--embeddings", tmp_path / "direct-e.h5"])
    assert_same_coreset(direct, from_file)


@pytest.mark.parametrize("ranks", [1, 2, 3])
def test_shards_at_any_rank_count(tmp_path, rows, ranks):
    X, y = rows
    cuts = [0, 10_000, 45_000, N]  # at one rank the middle shard (17.9 MB) is read directly, the others not
    for s in range(3):
        write_dataset(tmp_path / f"shard{s}.h5", X[cuts[s]:cuts[s + 1]], y[cuts[s]:cuts[s + 1]], num_classes=C)
    data = ",".join(str(tmp_path / f"shard{s}.h5") for s in range(3))
    cs, E = select(tmp_path, f"np{ranks}", data, ["--embedding", "features"], ranks)
    np.testing.assert_array_equal(E.view(np.uint32), X.view(np.uint32))
    ref, _ = select(tmp_path, "single", data, ["--embedding", "features"], 1)
    assert_same_coreset(cs, ref)


def test_a_nan_in_a_contiguous_file_is_named(tmp_path, rows):
    X, y = rows
    bad = X.copy()
    bad[61_234, 17] = np.nan
    write_dataset(tmp_path / "bad.h5", bad, y, num_classes=C)
    out = tmp_path / "cs.h5"
    proc = run_gradcore(["select", "--data", tmp_path / "bad.h5", "--embedding", "features", "--selector", "omp",
                         "--k", "40", "--device", "cpu", "--out", out, "--quiet"], check=False)
    assert proc.returncode == 3
    assert "/X row 61234 column 17 is not finite" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists()
