"""gradcore.select on NumPy arrays against the CLI on the same rows: `gradcore select --embeddings`
(and `--embedding features`) must give the same coreset index for index and weight for weight, in
a plain Python process and under mpirun with mpi4py; errors surface as GradcoreError with the CLI's
line and exit status, never as a crash."""
import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

import gradcore

N, D, C = 600, 8, 3
# One case per method; small partitions and subsets so the distributed paths (merge, several
# subsets, several OMP problems) run.
CASES = {
    "craig": dict(k=30, partition_size=64),
    "craig-tree": dict(k=30, method="craig", partition_size=64, merge="tree", per_class=False),
    "adacore-stochastic": dict(k=24, method="adacore", partition_size=128, stochastic=0.1, seed=3),
    "gmc": dict(k=20, method="gmc"),
    "gradmatch": dict(k=20, method="gradmatch", batch=2),
    "gmc-ridge-global": dict(k=15, method="gmc", ridge=0.5, per_class="off"),
    "crest": dict(method="crest", subsets=4, subset_size=100, batch_size=10, exclude_loss=0.2, seed=5),
    "bico": dict(k=12, method="bico", landmarks=40),
}


def rows(seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(12, D)) * 3
    E = (centers[rng.integers(0, 12, N)] + rng.normal(size=(N, D))).astype(np.float32)
    y = rng.integers(0, C, N).astype(np.int32)
    loss = rng.uniform(0, 1, N).astype(np.float32)
    return E, y, loss


def cli_args(options):
    args = []
    for name, value in options.items():
        args += [f"--{name.replace('_', '-')}", {True: "on", False: "off"}.get(value, value)]
    return args


def assert_same(python, path):
    cli = gradcore.read_coreset(path)
    for name in ("index", "weight", "label", "gain"):
        np.testing.assert_array_equal(getattr(python, name), getattr(cli, name), err_msg=name)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The rows as a dataset (/X = E) and as an embeddings file (/E, /y, /loss)."""
    E, y, loss = rows()
    d = tmp_path_factory.mktemp("select")
    gradcore.write_dataset(d / "data.h5", E, y, num_classes=C)
    gradcore.write_embeddings(d / "emb.h5", E, y, loss)
    return d, E, y, loss


@pytest.mark.parametrize("case", CASES)
def test_select_equals_cli_embeddings(files, cli, case):
    d, E, y, loss = files
    options = dict(CASES[case])
    out = d / f"{case}.h5"
    cli(["select", "--data", d / "data.h5", "--embeddings", d / "emb.h5", "--out", out, "--quiet"]
        + cli_args(options))
    python = gradcore.select(E, y, loss=loss, **options)
    assert_same(python, out)
    if case.startswith(("craig", "adacore", "crest")):  # cluster sizes (OMP's and BiCo's weights are fitted)
        assert python.weight.sum() == pytest.approx(N)
    attrs = gradcore.read_coreset(out).attrs
    assert python.gradient_error == attrs["relative_gradient_error"]
    assert python.random_gradient_error == attrs["random_subset_gradient_error"]


def test_select_equals_cli_features_embedding(files, cli):
    """`--embedding features` embeds a row as itself, so select on X is the CLI on the dataset."""
    d, E, y, _ = files
    out = d / "features.h5"
    cli(["select", "--data", d / "data.h5", "--embedding", "features", "--method", "craig", "--k", "25",
         "--out", out, "--quiet"])
    assert_same(gradcore.select(E, y, k=25, method="craig"), out)


def test_select_percentage_k_and_no_labels(files):
    _, E, _, _ = files
    cs = gradcore.select(E, k="5%", method="craig")
    assert len(cs) == 30 and np.all(cs.label == 0)
    assert len(np.unique(cs.index)) == len(cs.index) and cs.index.min() >= 0 and cs.index.max() < N


def run_ranks(python_ranks, tmp_path, E, y, loss, options, ranks, split):
    np.savez(tmp_path / "in.npz", E=E, y=y, loss=loss)
    (tmp_path / "options.json").write_text(json.dumps(options))
    python_ranks(Path(__file__).with_name("select_ranks.py"),
                 [tmp_path / "in.npz", tmp_path / "out.npz", tmp_path / "options.json", split], ranks)
    return np.load(tmp_path / "out.npz")


@pytest.mark.parametrize("ranks, split", [(2, "uneven"), (3, "uneven"), (2, "shard")])
@pytest.mark.parametrize("case", ["craig", "gmc", "crest"])
def test_select_mpi4py_equals_cli_at_same_ranks(files, cli, python_ranks, tmp_path, case, ranks, split):
    pytest.importorskip("mpi4py")
    d, E, y, loss = files
    options = dict(CASES[case])
    python = run_ranks(python_ranks, tmp_path, E, y, loss, options, ranks, split)
    out = tmp_path / "cli.h5"
    cli(["select", "--data", d / "data.h5", "--embeddings", d / "emb.h5", "--out", out, "--quiet"]
        + cli_args(options), ranks)
    cs = gradcore.read_coreset(out)
    for name in ("index", "weight", "label", "gain"):
        np.testing.assert_array_equal(python[name], getattr(cs, name), err_msg=name)


def test_a_bad_row_on_one_rank_raises_the_same_error_on_every_rank(files, python_ranks, tmp_path):
    pytest.importorskip("mpi4py")
    _, E, y, loss = files
    result = run_ranks(python_ranks, tmp_path, E, y, loss, dict(k=10, method="gmc"), 3, "nan")
    assert int(result["status"]) == 3
    assert f"row {N // 2}" in str(result["message"])  # the last of 3 uneven shards starts at N/2


@pytest.mark.parametrize("call, status, words", [
    (dict(k=N + 1), 3, "exceeds"),
    (dict(k=0), 2, "--k"),
    (dict(k=10, merge="sideways"), 2, "--merge"),
    (dict(k=10, no_such_option=1), 2, "--no-such-option"),
    (dict(k=10, method="kmeans"), 2, "--method"),
    (dict(k=10, method="gmc", ridge=-1), 2, "--ridge"),
])
def test_bad_options_raise_the_cli_error(files, call, status, words):
    _, E, y, _ = files
    with pytest.raises(gradcore.GradcoreError) as err:
        gradcore.select(E, y, **call)
    assert err.value.status == status
    assert words in str(err.value) and "\n" not in str(err.value)


def test_bad_rows_raise_and_the_interpreter_survives(files):
    _, E, y, _ = files
    bad = E.copy()
    bad[17, 3] = np.nan
    with pytest.raises(gradcore.GradcoreError) as err:
        gradcore.select(bad, y, k=10)
    assert err.value.status == 3 and "17" in str(err.value)
    with pytest.raises(ValueError):
        gradcore.select(E[:, 0], y, k=10)  # not [n, D]
    with pytest.raises(ValueError):
        gradcore.select(E, y[:-1], k=10)  # one label short
    assert len(gradcore.select(E, y, k=10)) == 10  # the library still works after the failures


def test_timings_name_the_phases_of_a_library_call(files, tmp_path):
    """timings= writes the CLI's --timings JSON: the caller's labels taken (read), the backend (setup),
    the rows taken into E (embed: the values counted), the selection and its quality."""
    _, E, y, _ = files
    gradcore.select(E, y, k=10, method="gmc", timings=tmp_path / "t.json")
    t = json.load(open(tmp_path / "t.json"))
    top = {p["name"]: p for p in t["phases"] if p["depth"] == 0}
    assert list(top) == ["read", "setup", "embed", "select", "quality"]
    assert top["embed"]["bytes"] >= E.nbytes and top["read"]["bytes"] >= y.nbytes
    assert t["N"] == len(E) and t["D"] == E.shape[1] and t["embedding"] == "file"
    # the ceilings' measurement is timed; the process around the call is the caller's, not reported
    assert t["ceilings_s"] > 0 and not {"startup_s", "write_s", "elapsed_s"} & set(t)


def test_select_in_a_plain_process_starts_and_finalizes_mpi(files, tmp_path):
    """No mpirun, no mpi4py: MPI starts as a singleton and is finalized at exit (exit code 0)."""
    _, E, y, _ = files
    np.save(tmp_path / "E.npy", E)
    code = ("import numpy as np, gradcore; E = np.load(%r); cs = gradcore.select(E, k=7, method='gmc'); "
            "print(len(cs))" % str(tmp_path / "E.npy"))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "7"


def test_read_coreset_matches_h5py(files, cli):
    d, _, _, _ = files
    out = d / "read.h5"
    cli(["select", "--data", d / "data.h5", "--embeddings", d / "emb.h5", "--method", "crest", "--subsets", "3",
         "--subset-size", "50", "--batch-size", "5", "--out", out, "--quiet"])
    cs = gradcore.read_coreset(out)
    with h5py.File(out, "r") as f:
        for name in ("index", "weight", "label", "gain", "loss"):
            np.testing.assert_array_equal(getattr(cs, name), f["coreset"][name][()])
        np.testing.assert_array_equal(cs.extra["crest/batch_index"], f["crest/batch_index"][()])
        assert cs.attrs["method"] == "crest" and cs.attrs["N"] == N
        assert cs.objective == f.attrs["objective"]


def test_written_files_are_what_the_cli_reads(tmp_path, cli):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 3))
    y = rng.integers(0, 4, 50)
    gradcore.write_dataset(tmp_path / "d.h5", X, y, num_classes=5)
    with h5py.File(tmp_path / "d.h5", "r") as f:
        assert f["X"].dtype == np.float32 and f["y"].dtype == np.int32 and f.attrs["num_classes"] == 5
        np.testing.assert_array_equal(f["X"][()], X.astype(np.float32))
    info = cli(["info", tmp_path / "d.h5"]).stdout
    assert "50" in info
    assert not [p for p in os.listdir(tmp_path) if ".tmp." in p]
