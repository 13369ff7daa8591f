"""BiCo (docs/design.md §4, `--method bico`) against independent oracles written here in numpy.

The oracle rebuilds the Nyström features from the landmarks and γ that the coreset file records
(/bico/landmark_index, /bico attribute gamma): K_QQ by numpy.linalg.eigh, eigenvalues below 1e-10 of
the largest dropped, z = D^{-1/2}Uᵀκ(x, Q). The inner problem and every quantity below are invariant
to an orthogonal change of the features, so eigenvector signs and order do not matter.
- scores: the gain of each selected point (its score s_k = −∂G/∂w_k when it was picked) equals a
  central finite difference of the outer objective G(w) = Σᵢ‖θ(w)ᵀzᵢ − yᵢ‖² computed here;
- selection: a brute-force Algorithm 1 (Borsos et al.) with the implicit gradient built from the full
  (q'C × q'C) Hessian picks the same points in the same order, for batches of 1 and 4, and with
  the projected-gradient weight steps of --bico-weights on;
- rank counts: identical files at -np 1, 2, 4 (bitwise), the ScaLAPACK eigendecomposition at -np 4
  selects what LAPACK selects at -np 1;
- quality: `gradcore eval` accuracy of a BiCo coreset (Algorithm 1: one point a round, unweighted)
  beats uniform random subsets of the same size on scikit-learn's digits and on the built-in example
  (numbers printed with pytest -s).
"""
import subprocess
import sys

import h5py
import numpy as np
import pytest

from conftest import REPO, read_coreset, run_gradcore, write_dataset

RIDGE = 1.0  # --bico-ridge default
WEIGHT_STEPS, HALVINGS, STEP_GAIN = 10, 30, 1e-9  # select_bico.h


def clustered(tmp_path, n, d, classes, seed, name="data.h5"):
    """Classes as Gaussian blobs with two modes each: a kernel model separates them well, but not
    perfectly, so scores stay far from ties."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, 2, d)) * 1.5
    y = rng.integers(0, classes, n).astype(np.int32)
    X = (centres[y, rng.integers(0, 2, n)] + rng.normal(size=(n, d))).astype(np.float32)
    path = tmp_path / name
    write_dataset(path, X, y, num_classes=classes)
    return path, X.astype(np.float64), y


def select(path, out, k, np_=1, extra=()):
    run_gradcore(["select", "--data", path, "--method", "bico", "--k", k, "--out", out, "--quiet", *extra], np_=np_)
    cs = read_coreset(out)
    with h5py.File(out) as f:
        cs["landmarks"] = f["bico/landmark_index"][()]
        cs["gamma"] = f["bico"].attrs["gamma"]
    return cs


def features(X, landmarks, gamma):
    L = X[landmarks]
    sq = lambda A, B: np.maximum((A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2 * A @ B.T, 0.0)
    w, U = np.linalg.eigh(np.exp(-gamma * sq(L, L)))
    keep = w > 1e-10 * w.max()
    return np.exp(-gamma * sq(X, L)) @ (U[:, keep] / np.sqrt(w[keep]))


def onehot(y, C):
    return np.eye(C)[y]


def inner(Z, Y, S, w):
    """θ(w) of the weighted kernel ridge regression on the points S."""
    ZS = Z[S] * w[:, None]
    return np.linalg.solve(Z[S].T @ ZS + RIDGE * np.eye(Z.shape[1]), ZS.T @ Y[S])


def outer(Z, Y, S, w):
    return ((Z @ inner(Z, Y, S, w) - Y) ** 2).sum()


def implicit_scores(Z, Y, S, w):
    """s_k = ∇ℓ_kᵀ H⁻¹ ∇G for every k, brute force: the Hessian of the inner objective as the full
    Kronecker matrix over vec(θ) (row-major, index j·C + c), one gradient vector per point."""
    q, C = Z.shape[1], Y.shape[1]
    theta = inner(Z, Y, S, w) if len(S) else np.zeros((q, C))
    A = (Z[S].T * w) @ Z[S] if len(S) else np.zeros((q, q))
    H = 2 * np.kron(A + RIDGE * np.eye(q), np.eye(C))
    R = Z @ theta - Y
    grad_G = (2 * Z.T @ R).ravel()
    x = np.linalg.solve(H, grad_G)
    grad_l = 2 * np.einsum("ij,ic->ijc", Z, R).reshape(len(Z), -1)
    return grad_l @ x


def best(scores, taken, b):
    """The b highest scores among untaken points, ties to the lower index."""
    order = np.lexsort((np.arange(len(scores)), -scores))
    return [i for i in order if i not in taken][:b]


def weight_steps(Z, Y, S, w):
    """--bico-weights: projected gradient on w over S, η from max|Δw| = mean(w), halved until G drops
    by more than STEP_GAIN of itself."""
    G = outer(Z, Y, S, w)
    for _ in range(WEIGHT_STEPS):
        s = implicit_scores(Z, Y, S, w)[S]
        if np.abs(s).max() == 0 or w.mean() == 0:
            break
        eta, accepted = w.mean() / np.abs(s).max(), False
        for _ in range(HALVINGS):
            trial = np.maximum(0.0, w + eta * s)
            G_trial = outer(Z, Y, S, trial)
            if G_trial < G - STEP_GAIN * abs(G):
                w, G, accepted = trial, G_trial, True
                break
            eta /= 2
        if not accepted:
            break
    return w


def algorithm1(Z, y, k, b, weighted):
    """Forward greedy selection of Borsos et al.'s Algorithm 1 with the deterministic start of
    select_bico.h (S = ∅, θ = 0) and batches of b."""
    Y = onehot(y, int(y.max()) + 1)
    S, w = [], np.zeros(0)
    while len(S) < k:
        new = best(implicit_scores(Z, Y, S, w), set(S), min(b, k - len(S)))
        S += new
        w = np.r_[w, np.ones(len(new))]
        if weighted:
            w = weight_steps(Z, Y, S, w)
    return np.array(S), w


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    d = tmp_path_factory.mktemp("bico")
    path, X, y = clustered(d, 400, 5, 3, seed=4)
    return d, path, X, y


def test_scores_equal_finite_differences_of_the_outer_objective(small):
    d, path, X, y = small
    cs = select(path, d / "cs.h5", 10, extra=["--landmarks", "60"])
    Z = features(X, cs["landmarks"], cs["gamma"])
    Y = onehot(y, 3)
    # θ(w_k) bends on the scale λ/‖z_k⊥‖² (≥ λ) around w_k = 0: h = 1e-5·λ keeps the truncation
    # error near 1e-10 relative, and the rounding error ε·G/h about as small.
    h, worst = 1e-5 * RIDGE, 0.0
    for t, k in enumerate(cs["index"]):
        S = list(cs["index"][:t]) + [k]
        w = np.ones(t + 1)
        plus, minus = w.copy(), w.copy()
        plus[-1], minus[-1] = h, -h  # w_k moves around 0, where the point enters
        fd = -(outer(Z, Y, S, plus) - outer(Z, Y, S, minus)) / (2 * h)
        worst = max(worst, abs(cs["gain"][t] - fd) / abs(fd))
    print(f"BiCo gains vs central finite differences of G: worst relative difference {worst:.2e}")
    assert worst <= 1e-5


@pytest.mark.parametrize("b,weighted", [(1, False), (4, False), (1, True)])
def test_selection_equals_brute_force_algorithm_1(small, b, weighted):
    d, path, X, y = small
    extra = ["--landmarks", "60", "--batch", b] + (["--bico-weights", "on"] if weighted else [])
    cs = select(path, d / "cs.h5", 12, extra=extra)
    Z = features(X, cs["landmarks"], cs["gamma"])
    S, w = algorithm1(Z, y, 12, b, weighted)
    np.testing.assert_array_equal(cs["index"], S)
    N = len(y)
    if weighted:
        expected = w * N / w.sum()
    else:
        sizes, picked = np.bincount(y, minlength=3), np.bincount(y[S], minlength=3)
        expected = sizes[y[S]] / picked[y[S]]
    # The weight steps compound 10 steps a round: the oracle's double features and gradcore's differ
    # in the last bits (gradcore sums the data once, exactly), which moves the smallest weights by ~1e-6.
    np.testing.assert_allclose(cs["weight"], expected, rtol=1e-4 if weighted else 1e-12)
    assert cs["attrs"]["objective"] == pytest.approx(outer(Z, onehot(y, 3), list(S), w if weighted else np.ones(12)),
                                                     rel=1e-6)


def test_landmarks_are_distinct_rows_and_gamma_is_the_median_heuristic(small):
    d, path, X, y = small
    cs = select(path, d / "cs.h5", 5, extra=["--landmarks", "60"])
    L = cs["landmarks"]
    assert len(set(L)) == 60 and L.min() >= 0 and L.max() < len(y)
    P = X[L]
    sq = ((P[:, None, :] - P[None, :, :]) ** 2).sum(-1)[np.triu_indices(60, 1)]
    assert cs["gamma"] == pytest.approx(1 / np.median(sq), rel=1e-12)
    other = select(path, d / "cs2.h5", 5, extra=["--landmarks", "60", "--gamma", "0.25", "--seed", "3"])
    assert other["gamma"] == 0.25 and set(other["landmarks"]) != set(L)


@pytest.mark.parametrize("extra", [[], ["--batch", "3", "--bico-weights", "on"]])
def test_rank_counts_give_identical_coresets(tmp_path, extra):
    """2,500 rows: the 1,024-row summary blocks straddle rank boundaries at 2 and 4 ranks."""
    path, _, _ = clustered(tmp_path, 2500, 8, 4, seed=9)
    runs = [select(path, tmp_path / f"cs{p}.h5", 15, np_=p, extra=["--landmarks", "100", *extra]) for p in (1, 2, 4)]
    for other in runs[1:]:
        for key in ("index", "weight", "gain", "label", "landmarks"):
            np.testing.assert_array_equal(runs[0][key], other[key], err_msg=key)
        assert runs[0]["attrs"]["objective"] == other["attrs"]["objective"]


def test_scalapack_eigendecomposition_selects_what_lapack_selects(tmp_path):
    path, _, _ = clustered(tmp_path, 1200, 6, 3, seed=5)
    lapack = select(path, tmp_path / "a.h5", 12, np_=1, extra=["--landmarks", "90", "--eig", "lapack"])
    scalapack = select(path, tmp_path / "b.h5", 12, np_=4, extra=["--landmarks", "90", "--eig", "scalapack"])
    np.testing.assert_array_equal(lapack["index"], scalapack["index"])
    np.testing.assert_allclose(scalapack["gain"], lapack["gain"], rtol=1e-8)
    assert scalapack["attrs"]["objective"] == pytest.approx(lapack["attrs"]["objective"], rel=1e-9)


def eval_accuracies(train, test, coreset, extra=()):
    proc = run_gradcore(["eval", "--data", train, "--test", test, "--coreset", coreset, *extra])
    acc = {}
    for line in proc.stdout.splitlines():
        for arm in ("coreset", "random", "full"):
            if line.startswith(arm):
                acc[arm] = float(line.split()[-3])
    return acc


def test_digits_bico_coreset_beats_random_subsets(tmp_path, record_property):
    """Algorithm 1 as published: one point a round, unit weights in the inner problem (the file's
    weights N_c/k_c). 10% of the rows, as test_eval.py's CRAIG coreset (0.925 there)."""
    train, test = tmp_path / "train.h5", tmp_path / "test.h5"
    subprocess.run([sys.executable, str(REPO / "tools" / "digits_to_h5.py"), str(train), str(test)], check=True,
                   capture_output=True)
    out = tmp_path / "bico.h5"
    run_gradcore(["select", "--data", train, "--method", "bico", "--k", "10%", "--out", out, "--quiet"], np_=2)
    acc = eval_accuracies(train, test, out)
    print(f"digits, BiCo k = 144: coreset {acc['coreset']:.4f}, random (mean of 5) {acc['random']:.4f}, "
          f"full {acc['full']:.4f}")
    record_property("digits_bico", acc)
    assert acc["coreset"] > acc["random"]


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """jobs/example-data.ini's generator (seed 1, 32 features, 10 classes, imbalance 5); rows
    20,000…24,999 of the same generator are the test set."""
    d = tmp_path_factory.mktemp("example")
    full = d / "all.h5"
    run_gradcore(["gen", "--out", full, "--n", 25000, "--d", 32, "--classes", 10, "--seed", 1, "--imbalance", 5,
                  "--quiet"])
    with h5py.File(full) as f:
        X, y = f["X"][()], f["y"][()]
    write_dataset(d / "train.h5", X[:20000], y[:20000], num_classes=10)
    write_dataset(d / "test.h5", X[20000:], y[20000:], num_classes=10)
    return d


@pytest.mark.parametrize("k", [50, 100, 400])
def test_built_in_example_bico_coreset_beats_random_subsets(example, k, record_property):
    """0.25%, 0.5% and 2% (jobs/example.ini's size) of the rows, one point a round; --lr 0.01 as
    test_eval.py uses for generated data (large feature norms)."""
    out = example / f"bico-{k}.h5"
    run_gradcore(["select", "--data", example / "train.h5", "--method", "bico", "--k", k, "--landmarks", "500",
                  "--out", out, "--quiet"], np_=2)
    acc = eval_accuracies(example / "train.h5", example / "test.h5", out, ["--lr", "0.01"])
    print(f"built-in example, BiCo k = {k}: coreset {acc['coreset']:.4f}, random (mean of 5) {acc['random']:.4f}, "
          f"full {acc['full']:.4f}")
    record_property(f"example_bico_{k}", acc)
    assert acc["coreset"] > acc["random"]
