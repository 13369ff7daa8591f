"""The coreset depends on the data and options, never on the number of ranks: -np 1, 2 and 4 give
identical indices, weights, labels and gains (docs/design.md §1), for single and multiple partitions,
shuffled partitions, GreeDi's comparison on a sample of the rows, several input shards, and
chunked/compressed storage; the reported gradient errors are the same bits too (exact sums, §5)."""
import numpy as np
import pytest

from conftest import read_coreset, run_gradcore, write_dataset

CASES = {
    "partitioned_per_class": ["--k", "3%", "--partition-size", "300"],
    "shuffled_partitions": ["--k", "150", "--partition-size", "250", "--shuffle-partitions", "--seed", "7"],
    "global_single_partition": ["--k", "40", "--per-class", "off", "--partition-size", "10000"],
    "features_embedding": ["--k", "2%", "--embedding", "features", "--partition-size", "400"],
    "sampled_safeguard": ["--k", "3%", "--partition-size", "600", "--oversample", "4", "--safeguard-sample", "300"],
}


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """Three shards of one synthetic dataset: contiguous, chunked+gzip, chunked."""
    d = tmp_path_factory.mktemp("shards")
    full = d / "full.h5"
    run_gradcore(["gen", "--out", full, "--n", 6000, "--d", 12, "--classes", 5, "--seed", 4, "--imbalance", 4])
    import h5py
    with h5py.File(full) as f:
        X, y = f["X"][()], f["y"][()]
    parts = [(0, 2500, None, None), (2500, 4100, (256, 12), "gzip"), (4100, 6000, (500, 12), None)]
    paths = []
    for i, (lo, hi, chunks, comp) in enumerate(parts):
        p = d / f"part-{i}.h5"
        write_dataset(p, X[lo:hi], y[lo:hi].astype(np.int64 if i == 1 else np.int32), num_classes=5,
                      chunks=chunks, compression=comp)
        paths.append(str(p))
    return full, paths


@pytest.mark.parametrize("case", sorted(CASES))
def test_coreset_is_identical_for_1_2_4_ranks(shards, tmp_path, case):
    full, paths = shards
    results = []
    for np_ in (1, 2, 4):
        out = tmp_path / f"cs{np_}.h5"
        run_gradcore(["select", "--data", ",".join(paths), "--out", out, "--quiet"] + CASES[case], np_=np_)
        results.append(read_coreset(out))
    base = results[0]
    assert base["weight"].sum() == 6000
    for other in results[1:]:
        for key in ("index", "weight", "label", "gain", "loss"):
            np.testing.assert_array_equal(base[key], other[key], err_msg=key)


def test_shards_equal_the_single_file(shards, tmp_path):
    """Concatenated shards in the order given are the same dataset as the file they were cut from."""
    full, paths = shards
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    run_gradcore(["select", "--data", full, "--out", a, "--k", "2%", "--quiet"], np_=2)
    run_gradcore(["select", "--data", ",".join(paths), "--out", b, "--k", "2%", "--quiet"], np_=3)
    ca, cb = read_coreset(a), read_coreset(b)
    np.testing.assert_array_equal(ca["index"], cb["index"])
    np.testing.assert_array_equal(ca["weight"], cb["weight"])


def test_synthetic_data_needs_no_disk_and_is_rank_invariant(tmp_path):
    spec = "synthetic:n=5000,d=8,classes=4,seed=11,imbalance=3"
    outs = []
    for np_ in (1, 4):
        out = tmp_path / f"s{np_}.h5"
        run_gradcore(["select", "--data", spec, "--out", out, "--k", "100", "--partition-size", "600", "--quiet"], np_=np_)
        outs.append(read_coreset(out))
    np.testing.assert_array_equal(outs[0]["index"], outs[1]["index"])
    np.testing.assert_array_equal(outs[0]["weight"], outs[1]["weight"])


@pytest.mark.parametrize("embedding", [["--embedding", "logits"], ["--embedding", "lastlayer", "--sketch", "64"],
                                       ["--embedding", "gmc", "--init-draws", "2", "--sketch", "32"]],
                         ids=["logits", "lastlayer-sketch", "gmc"])
def test_embeddings_are_bitwise_identical_for_any_rank_count(tmp_path, embedding):
    """A row's embedding must not depend on which rank computed it or how many rows that rank had:
    BLAS results for a row can depend on the GEMM's height, so the backend aligns its blocks to the
    global index. Compared bit for bit through --save-embeddings at -np 1, 3 and 4."""
    import h5py
    saved = []
    for np_ in (1, 3, 4):
        e = tmp_path / f"e{np_}.h5"
        run_gradcore(["select", "--data", "synthetic:n=1200,d=16,classes=4,seed=1", "--k", 20, "--device", "cpu",
                      "--out", tmp_path / f"c{np_}.h5", "--save-embeddings", e, "--quiet"] + embedding, np_=np_)
        with h5py.File(e) as f:
            saved.append((f["E"][()], f["loss"][()]))
    for E, loss in saved[1:]:
        np.testing.assert_array_equal(E, saved[0][0])
        np.testing.assert_array_equal(loss, saved[0][1])


@pytest.mark.parametrize("selector", ["fl", "omp"])
def test_gradient_errors_are_identical_for_1_2_4_ranks(tmp_path, selector):
    """The quality pass sums the rows exactly (docs/design.md §5): the coreset's and the random
    subsets' gradient errors are the same bits at -np 1, 2 and 4, and the coreset's equals numpy's,
    in float64. The features span ten orders of magnitude, so float64 sums in another grouping
    would differ in their last bits."""
    rng = np.random.default_rng(5)
    X = (rng.normal(size=(20000, 16)) * 10.0 ** rng.uniform(-6, 4, size=(20000, 16))).astype(np.float32)
    path = tmp_path / "spread.h5"
    write_dataset(path, X, rng.integers(0, 3, 20000).astype(np.int32), num_classes=3)
    results = []
    for np_ in (1, 2, 4):
        out = tmp_path / f"cs{np_}.h5"
        run_gradcore(["select", "--data", path, "--out", out, "--k", "24", "--embedding", "features", "--selector",
                      selector, "--quiet"], np_=np_)
        results.append(read_coreset(out))
    for other in results[1:]:
        for key in ("relative_gradient_error", "random_subset_gradient_error"):
            assert other["attrs"][key] == results[0]["attrs"][key], key
    E, cs = X.astype(np.float64), results[-1]
    full = E.sum(axis=0)
    approx = (cs["weight"][:, None] * E[cs["index"]]).sum(axis=0)
    expected = np.linalg.norm(full - approx) / np.linalg.norm(full)
    assert cs["attrs"]["relative_gradient_error"] == pytest.approx(expected, rel=1e-9)
