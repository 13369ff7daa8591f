"""Orthogonal matching pursuit against independent oracles (docs/design.md §4).

The data file's /X is the embedding (--embedding features) and /y is all zeros (--per-class off)
unless a test says otherwise. Oracles work in float64 on the same float32 values:
- support and order: scikit-learn's orthogonal_mp on the dictionary of unit-norm columns Eᵀ/‖e‖
  (gradcore scores |⟨e, r⟩|/‖e‖; the residual does not depend on the atoms' scale);
- weights: numpy.linalg.lstsq on the support, scipy.optimize.nnls for --nonneg;
- --batch: the b best scores per pass, written out here in numpy;
- rank counts: identical files at -np 1, 2, 4; the ScaLAPACK refit equals the replicated one.
"""
import numpy as np
import pytest
from scipy.optimize import nnls

from conftest import read_coreset, run_gradcore, sklearn_omp_order, write_dataset


def well_conditioned(tmp_path, n, D, seed, shift=0.0, classes=1):
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(n, D)) + shift).astype(np.float32)
    y = rng.integers(0, classes, n).astype(np.int32) if classes > 1 else np.zeros(n, np.int32)
    path = tmp_path / f"omp-{n}-{D}-{seed}.h5"
    write_dataset(path, X, y, num_classes=classes)
    return path, X.astype(np.float64), y


def low_rank(tmp_path, n, D, seed):
    """Rows near a 4-dimensional subspace: refits move weights a lot, and NNLS pins some at 0."""
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(n, 4)) @ rng.normal(size=(4, D)) + 0.3 * rng.normal(size=(n, D))).astype(np.float32)
    path = tmp_path / f"lowrank-{seed}.h5"
    write_dataset(path, X, np.zeros(n, np.int32), num_classes=1)
    return path, X.astype(np.float64)


def select(path, out, k, np_=1, extra=()):
    run_gradcore(["select", "--data", path, "--embedding", "features", "--selector", "omp", "--per-class", "off",
                  "--k", k, "--out", out, "--quiet", *extra], np_=np_)
    return read_coreset(out)


def relative(a, b):
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


@pytest.mark.parametrize("np_", [1, 2, 4])
@pytest.mark.parametrize("n,D,k,seed", [(5000, 256, 50, 1), (3000, 64, 40, 2), (1200, 16, 12, 3)])
def test_support_equals_sklearn_and_weights_equal_lstsq(tmp_path, np_, n, D, k, seed):
    path, X, _ = well_conditioned(tmp_path, n, D, seed, shift=0.2)
    cs = select(path, tmp_path / "cs.h5", k, np_)
    g = X.sum(axis=0)
    np.testing.assert_array_equal(cs["index"], sklearn_omp_order(X, g, k))
    gamma = np.linalg.lstsq(X[cs["index"]].T, g, rcond=None)[0]
    assert relative(cs["weight"], gamma) <= 1e-8
    residual = np.linalg.norm(g - X[cs["index"]].T @ cs["weight"]) / np.linalg.norm(g)
    assert cs["gain"][-1] == pytest.approx(residual, rel=1e-8)
    assert cs["attrs"]["objective"] == pytest.approx(residual, rel=1e-8)


def test_relative_residual_never_increases(tmp_path):
    path, X = low_rank(tmp_path, 3000, 40, 7)
    for extra in ([], ["--nonneg", "on"], ["--batch", "5"]):
        cs = select(path, tmp_path / "cs.h5", 35, 2, extra)
        assert len(cs["gain"]) == 35
        assert np.all(np.diff(cs["gain"]) <= 1e-12 * cs["gain"][0]), extra
        assert cs["gain"][0] < 1.0


@pytest.mark.parametrize("np_", [1, 3])
def test_nnls_refit_equals_scipy_nnls_on_the_support(tmp_path, np_):
    path, X = low_rank(tmp_path, 3000, 40, 7)
    cs = select(path, tmp_path / "cs.h5", 30, np_, ["--nonneg", "on"])
    g = X.sum(axis=0)
    reference = nnls(X[cs["index"]].T, g, maxiter=10000)[0]
    assert relative(cs["weight"], reference) <= 1e-8
    # atoms the constraint pins at zero stay in: the coreset still has k rows
    assert len(cs["index"]) == 30 and np.sum(cs["weight"] == 0.0) >= 1 and np.all(cs["weight"] >= 0.0)


def test_gradmatch_ridge_nnls_equals_scipy_on_the_augmented_system(tmp_path):
    path, X = low_rank(tmp_path, 2000, 24, 8)
    cs = select(path, tmp_path / "cs.h5", 20, 2, ["--nonneg", "on", "--ridge", "1"])
    g, A = X.sum(axis=0), X[cs["index"]].T
    k = A.shape[1]
    reference = nnls(np.vstack([A, np.eye(k)]), np.concatenate([g, np.zeros(k)]), maxiter=10000)[0]
    assert relative(cs["weight"], reference) <= 1e-8


def test_nonneg_scores_are_signed(tmp_path):
    """With --nonneg each atom is the row most positively correlated with the residual."""
    path, X = low_rank(tmp_path, 1500, 24, 9)
    cs = select(path, tmp_path / "cs.h5", 6, 1, ["--nonneg", "on"])
    g, unit = X.sum(axis=0), X / np.linalg.norm(X, axis=1, keepdims=True)
    chosen = []
    for t, j in enumerate(cs["index"]):
        if chosen:
            w = nnls(X[chosen].T, g, maxiter=10000)[0]
            r = g - X[chosen].T @ w
        else:
            r = g
        scores = unit @ r
        scores[chosen] = -np.inf
        assert j == int(np.argmax(scores)), t
        chosen.append(j)


def test_batch_adds_the_b_best_atoms_per_pass(tmp_path):
    path, X, _ = well_conditioned(tmp_path, 2000, 48, 4, shift=0.2)
    b, k = 4, 22
    cs = select(path, tmp_path / "cs.h5", k, 2, ["--batch", b])
    g, unit = X.sum(axis=0), X / np.linalg.norm(X, axis=1, keepdims=True)
    chosen = []
    while len(chosen) < k:
        r = g - X[chosen].T @ np.linalg.lstsq(X[chosen].T, g, rcond=None)[0] if chosen else g
        scores = np.abs(unit @ r)
        scores[chosen] = -np.inf
        chosen += list(np.argsort(-scores, kind="stable")[: min(b, k - len(chosen))])
    np.testing.assert_array_equal(cs["index"], chosen)
    assert relative(cs["weight"], np.linalg.lstsq(X[chosen].T, g, rcond=None)[0]) <= 1e-8


def test_scalapack_refit_equals_replicated_refit_at_4_ranks(tmp_path):
    path, X, _ = well_conditioned(tmp_path, 4000, 96, 5, shift=0.2)
    rep = select(path, tmp_path / "rep.h5", 50, 4, ["--refit", "replicated"])
    dist = select(path, tmp_path / "dist.h5", 50, 4, ["--refit", "scalapack"])
    np.testing.assert_array_equal(dist["index"], rep["index"])
    assert relative(dist["weight"], rep["weight"]) <= 1e-10
    np.testing.assert_allclose(dist["gain"], rep["gain"], rtol=1e-10)
    g = X.sum(axis=0)
    assert relative(dist["weight"], np.linalg.lstsq(X[rep["index"]].T, g, rcond=None)[0]) <= 1e-8


def test_scalapack_block_append_drops_dependent_atoms_like_the_replicated_refit(tmp_path):
    """Every row twice: the two copies score alike, so passes of 6 take both, and the second copy is
    dependent. ScaLAPACK appends each pass as one block and must drop the same atoms as the
    replicated refit, which appends one at a time."""
    rng = np.random.default_rng(11)
    half = (rng.normal(size=(1000, 32)) + 0.2).astype(np.float32)
    X = np.concatenate([half, half])
    path = tmp_path / "twice.h5"
    write_dataset(path, X, np.zeros(len(X), np.int32), num_classes=1)
    rep = select(path, tmp_path / "rep.h5", 24, 4, ["--refit", "replicated", "--batch", "6"])
    dist = select(path, tmp_path / "dist.h5", 24, 4, ["--refit", "scalapack", "--batch", "6"])
    np.testing.assert_array_equal(dist["index"], rep["index"])
    assert len(rep["index"]) == 24
    assert len(set(rep["index"] % 1000)) == 24, "a row and its copy are both in"
    assert relative(dist["weight"], rep["weight"]) <= 1e-10
    np.testing.assert_allclose(dist["gain"][-1], rep["gain"][-1], rtol=1e-9)
    support = X[rep["index"]].astype(np.float64)
    assert relative(dist["weight"], np.linalg.lstsq(support.T, X.sum(axis=0, dtype=np.float64), rcond=None)[0]) <= 1e-8


@pytest.mark.parametrize("extra", [["--per-class", "on"], ["--per-class", "on", "--nonneg", "on", "--batch", "3"],
                                   ["--refit", "scalapack"]], ids=["per_class", "nonneg_batch", "scalapack"])
def test_identical_coresets_at_1_2_4_ranks(tmp_path, extra):
    path, _, _ = well_conditioned(tmp_path, 3000, 64, 6, shift=0.1, classes=3)
    results = [select(path, tmp_path / f"cs{p}.h5", 45, p, extra) for p in (1, 2, 4)]
    assert len(results[0]["index"]) == 45
    for other in results[1:]:
        for name in ("index", "weight", "gain", "label", "loss"):
            if "scalapack" in extra and name in ("weight", "gain"):
                # the process grid (1×1, 1×2, 2×2) orders the distributed sums differently
                np.testing.assert_allclose(other[name], results[0][name], rtol=1e-10)
            else:
                np.testing.assert_array_equal(other[name], results[0][name])


def test_per_class_runs_one_omp_per_class_with_the_class_budgets(tmp_path):
    path, X, y = well_conditioned(tmp_path, 3000, 40, 10, shift=0.2, classes=3)
    run_gradcore(["select", "--data", path, "--embedding", "features", "--selector", "omp", "--k", 31,
                  "--out", tmp_path / "cs.h5", "--quiet"], np_=2)
    cs = read_coreset(tmp_path / "cs.h5")
    budgets = cs["attrs"]["class_budgets"]
    assert budgets.sum() == 31
    start = 0
    for c in range(3):
        rows = np.flatnonzero(y == c)
        part = slice(start, start + budgets[c])
        g = X[rows].sum(axis=0)
        np.testing.assert_array_equal(cs["index"][part], rows[sklearn_omp_order(X[rows], g, budgets[c])])
        np.testing.assert_array_equal(cs["label"][part], c)
        gamma = np.linalg.lstsq(X[cs["index"][part]].T, g, rcond=None)[0]
        assert relative(cs["weight"][part], gamma) <= 1e-8
        start += budgets[c]
    full = X.sum(axis=0)
    approx = X[cs["index"]].T @ cs["weight"]
    assert cs["attrs"]["objective"] == pytest.approx(np.linalg.norm(full - approx) / np.linalg.norm(full), rel=1e-8)


def test_tolerance_stops_at_the_first_atom_below_it(tmp_path):
    path, X, _ = well_conditioned(tmp_path, 2000, 32, 11, shift=0.2)
    full = select(path, tmp_path / "full.h5", 30, 1)
    tol = float(full["gain"][9] + full["gain"][10]) / 2  # between steps 10 and 11
    cs = select(path, tmp_path / "tol.h5", 30, 2, ["--tol", tol])
    np.testing.assert_array_equal(cs["index"], full["index"][:11])
    assert cs["gain"][-1] <= tol < cs["gain"][-2]


def test_zero_rows_are_never_selected_and_the_rows_can_run_out(tmp_path):
    rng = np.random.default_rng(12)
    X = np.zeros((40, 8), np.float32)
    live = np.array([3, 17, 18, 31, 39])
    X[live] = rng.normal(size=(5, 8)) + 0.5
    path = tmp_path / "zeros.h5"
    write_dataset(path, X, np.zeros(40, np.int32), num_classes=1)
    proc = run_gradcore(["select", "--data", path, "--embedding", "features", "--selector", "omp", "--per-class",
                         "off", "--k", 10, "--out", tmp_path / "cs.h5"], np_=4)
    cs = read_coreset(tmp_path / "cs.h5")
    assert sorted(cs["index"]) == list(live)
    assert "no rows with a nonzero embedding are left" in proc.stderr


def test_dependent_atoms_end_an_exact_fit_and_ridge_reaches_k(tmp_path):
    """With more atoms than dimensions the fit becomes exact after D atoms; λ = 0 stops there
    (the next atom would make the Gram matrix singular), λ > 0 reaches k."""
    path, X, _ = well_conditioned(tmp_path, 500, 6, 13, shift=0.3)
    proc = run_gradcore(["select", "--data", path, "--embedding", "features", "--selector", "omp", "--per-class",
                         "off", "--k", 10, "--out", tmp_path / "cs.h5"], np_=2)
    cs = read_coreset(tmp_path / "cs.h5")
    assert len(cs["index"]) == 6 and cs["gain"][-1] < 1e-10
    assert "span of the atoms already in" in proc.stderr
    ridge = select(path, tmp_path / "ridge.h5", 10, 2, ["--ridge", "0.5"])
    assert len(ridge["index"]) == 10


@pytest.mark.parametrize("extra,message", [
    (["--batch", "0"], "--batch"),
    (["--tol", "2"], "--tol"),
    (["--refit", "rows"], "--refit"),
    (["--refit", "scalapack", "--nonneg", "on"], "--refit scalapack"),
    (["--nonneg", "maybe"], "--nonneg"),
])
def test_bad_omp_options_are_one_line_usage_errors(tmp_path, extra, message):
    path, _, _ = well_conditioned(tmp_path, 100, 4, 14)
    out = tmp_path / "cs.h5"
    proc = run_gradcore(["select", "--data", path, "--embedding", "features", "--selector", "omp", "--k", 5,
                         "--out", out, *extra], np_=2, check=False)
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and message in errors[0]
    assert not out.exists()
