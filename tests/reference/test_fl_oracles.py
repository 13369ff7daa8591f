"""Facility location against independent oracles (docs/design.md §4): with one partition the selection
order and marginal gains equal a brute-force greedy written here in numpy (double precision) and
apricot's FacilityLocationSelection on the same precomputed similarity; the weights equal
brute-force nearest-element counts and sum to N."""
import numpy as np
import pytest

from conftest import read_coreset, run_gradcore, write_clusters


def brute_force_greedy(S, k, w=None):
    n = S.shape[0]
    w = np.ones(n) if w is None else w
    cur = np.zeros(n)
    chosen, gains = [], []
    for _ in range(k):
        g = (w[:, None] * np.maximum(S - cur[:, None], 0.0)).sum(axis=0)
        g[chosen] = -np.inf
        j = int(np.argmax(g))  # first maximum = lowest index
        chosen.append(j)
        gains.append(g[j])
        cur = np.maximum(cur, S[:, j])
    return np.array(chosen), np.array(gains)


def problem(tmp_path, n, d, seed, classes=1):
    path = tmp_path / f"p{seed}.h5"
    X, y = write_clusters(path, n, d, classes, seed, centers=6, spread=3)
    return path, X.astype(np.float64), y


def distances(A, B):
    return np.sqrt(((A[:, None, :] - B[None, :, :]) ** 2).sum(-1))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_single_partition_equals_brute_force_greedy(tmp_path, seed):
    path, X, _ = problem(tmp_path, 400, 6, seed)
    out = tmp_path / "cs.h5"
    run_gradcore(["select", "--data", path, "--embedding", "features", "--per-class", "off", "--k", 25,
                  "--partition-size", 1000, "--out", out, "--quiet"])
    cs = read_coreset(out)
    c = cs["attrs"]["similarity_constant"]
    mu = X.mean(axis=0)
    assert c == pytest.approx(2 * np.sqrt(((X - mu) ** 2).sum(1)).max(), rel=1e-9)
    S = c - distances(X, X)
    order, gains = brute_force_greedy(S, 25)
    np.testing.assert_array_equal(cs["index"], order)
    np.testing.assert_allclose(cs["gain"], gains, rtol=1e-9)
    # exact weights: nearest selected element, ties to the lowest index
    Dsel = distances(X, X[cs["index"]])
    ranks = np.argsort(cs["index"])
    nearest = ranks[np.argmin(Dsel[:, ranks], axis=1)]
    np.testing.assert_array_equal(cs["weight"], np.bincount(nearest, minlength=25))
    assert cs["weight"].sum() == 400
    assert cs["attrs"]["objective"] == pytest.approx((c - Dsel.min(axis=1)).sum(), rel=1e-9)
    assert cs["attrs"]["total_distance"] == pytest.approx(Dsel.min(axis=1).sum(), rel=1e-9)


def test_single_partition_equals_apricot(tmp_path):
    apricot = pytest.importorskip("apricot")
    path, X, _ = problem(tmp_path, 300, 5, 9)
    out = tmp_path / "cs.h5"
    run_gradcore(["select", "--data", path, "--embedding", "features", "--per-class", "off", "--k", 20,
                  "--partition-size", 1000, "--out", out, "--quiet"])
    cs = read_coreset(out)
    S = cs["attrs"]["similarity_constant"] - distances(X, X)
    sel = apricot.FacilityLocationSelection(20, metric="precomputed", optimizer="naive").fit(S)
    np.testing.assert_array_equal(cs["index"], np.asarray(sel.ranking))
    np.testing.assert_allclose(cs["gain"], np.asarray(sel.gains), rtol=1e-6)


def test_per_class_selects_within_classes_with_budgets(tmp_path):
    path, X, y = problem(tmp_path, 600, 4, 5, classes=3)
    out = tmp_path / "cs.h5"
    run_gradcore(["select", "--data", path, "--embedding", "features", "--k", 30, "--partition-size", 1000,
                  "--out", out, "--quiet"], np_=2)
    cs = read_coreset(out)
    sizes = np.bincount(y, minlength=3)
    budgets = cs["attrs"]["class_budgets"]
    assert budgets.sum() == 30 and (budgets >= 1).all()
    for c in range(3):
        members = np.flatnonzero(y == c)
        sel = cs["index"][cs["label"] == c]
        assert len(sel) == budgets[c] and np.isin(sel, members).all()
        assert cs["weight"][cs["label"] == c].sum() == sizes[c]
        S = cs["attrs"]["similarity_constant"] - distances(X[members], X[members])
        order, gains = brute_force_greedy(S, int(budgets[c]))
        np.testing.assert_array_equal(sel, members[order])
        np.testing.assert_allclose(cs["gain"][cs["label"] == c], gains, rtol=1e-9)


def two_partition_options(X, c, k, alpha):
    """What GreeDi chooses from on rows 0…249 and 250…499: the weighted merge of both partitions'
    ⌈α·k·|p|/N⌉ candidates (coverage weights), then each partition's first k candidates."""
    cand, weight, own = [], [], []
    for lo, hi in ((0, 250), (250, 500)):
        S = c - distances(X[lo:hi], X[lo:hi])
        kappa = int(np.ceil(alpha * k * (hi - lo) / 500))
        order, gains = brute_force_greedy(S, kappa)
        own.append((lo + order[:k], gains[:k]))
        ranks = np.sort(order)
        nearest = ranks[np.argmax(S[:, ranks], axis=1)]
        cand += list(lo + ranks)
        weight += [np.sum(nearest == r) for r in ranks]
    cand, weight = np.array(cand), np.array(weight, float)
    S = c - distances(X[cand], X[cand])
    order, gains = brute_force_greedy(S, k, weight)
    return [(cand[order], gains)] + own


@pytest.mark.parametrize("seed", [21, 22, 23])
def test_merge_and_greedi_safeguard(tmp_path, seed):
    """Two partitions: each owner's greedy picks ⌈α·k·|p|/N⌉ candidates with their coverage counts,
    the merge is a weighted greedy over the candidates, and the result is the better by global F of
    the merged set and each partition's first k candidates (GreeDi) — all checked from scratch. The
    500 rows are within the default --safeguard-sample, so the comparison sees every row."""
    path, X, _ = problem(tmp_path, 500, 3, seed)
    out = tmp_path / "cs.h5"
    k, alpha = 12, 2
    run_gradcore(["select", "--data", path, "--embedding", "features", "--per-class", "off", "--k", k,
                  "--partition-size", 250, "--oversample", alpha, "--out", out, "--quiet"], np_=2)
    cs = read_coreset(out)
    c = cs["attrs"]["similarity_constant"]
    options = two_partition_options(X, c, k, alpha)

    def F(sel):
        return (c - distances(X, X[sel])).max(axis=1).sum()

    values = [F(sel) for sel, _ in options]
    best = int(np.argmax(values))  # first maximum: the merge wins ties
    np.testing.assert_array_equal(cs["index"], options[best][0])
    np.testing.assert_allclose(cs["gain"], options[best][1], rtol=1e-9)
    assert cs["attrs"]["objective"] == pytest.approx(values[best], rel=1e-9)


def safeguard_sample(n, size, seed):
    """Rows i < n in GreeDi's sample of a class of n rows: gc_rng_uniform(seed, 15, i) < size/n
    (core/rng.h's counter-based generator, re-implemented in reference/test_crest.py)."""
    from reference.test_crest import rng_u64  # here: test_crest imports this module
    u = (np.array([rng_u64(seed, 15, i) for i in range(n)], dtype=np.uint64) >> np.uint64(11)).astype(np.float64)
    return np.flatnonzero((u + 0.5) / 2.0**53 < size / n)


@pytest.mark.parametrize("seed", [21, 22, 25, 33, 38])
def test_greedi_safeguard_compares_on_the_sample(tmp_path, seed):
    """Above --safeguard-sample S rows, the merged set and each partition's own set are compared by
    Σ max(0, max_j s_ij) over the sampled rows only, a hash of (seed, global index) below S/N: the
    coreset is the winner of that comparison, checked from scratch at 1 and 3 ranks. Seeds where a
    partition wins (21), the merge wins (25), and where the sample decides otherwise than all 500
    rows would (22, 33, 38: F within 0.1% of each other)."""
    path, X, _ = problem(tmp_path, 500, 3, seed)
    k, alpha, size = 12, 2, 120
    sample = safeguard_sample(500, size, seed)
    assert 0 < len(sample) < 500
    options = None
    for np_ in (1, 3):
        out = tmp_path / f"cs{np_}.h5"
        run_gradcore(["select", "--data", path, "--embedding", "features", "--per-class", "off", "--k", k,
                      "--partition-size", 250, "--oversample", alpha, "--safeguard-sample", size,
                      "--seed", seed, "--out", out, "--quiet"], np_=np_)
        cs = read_coreset(out)
        c = cs["attrs"]["similarity_constant"]
        options = options or two_partition_options(X, c, k, alpha)
        sampled = [np.maximum(c - distances(X[sample], X[sel]), 0).max(axis=1).sum() for sel, _ in options]
        best = int(np.argmax(sampled))
        np.testing.assert_array_equal(cs["index"], options[best][0])
        np.testing.assert_allclose(cs["gain"], options[best][1], rtol=1e-9)


def test_tree_merge_equals_pairwise_weighted_greedy(tmp_path):
    """--merge tree over 4 partitions: leaves are each partition's candidates with coverage counts;
    each node keeps k by weighted greedy over the union of its children, carrying up the weight each
    kept element covers; the root's greedy order is the result (then GreeDi's safeguard)."""
    path, X, _ = problem(tmp_path, 500, 3, 31)
    out = tmp_path / "cs.h5"
    k, alpha = 10, 4
    run_gradcore(["select", "--data", path, "--embedding", "features", "--per-class", "off", "--k", k,
                  "--partition-size", 125, "--oversample", alpha, "--merge", "tree", "--out", out, "--quiet"], np_=3)
    cs = read_coreset(out)
    c = cs["attrs"]["similarity_constant"]

    def covered(idx, w, chosen):
        """Weight each chosen element covers among idx (nearest, ties to the lowest global index)."""
        ranks = np.sort(chosen)
        S = c - distances(X[idx], X[ranks])
        nearest = ranks[np.argmax(S, axis=1)]
        return ranks, np.array([w[nearest == r].sum() for r in ranks])

    leaves, own = [], []
    for lo in range(0, 500, 125):
        idx = np.arange(lo, lo + 125)
        order, gains = brute_force_greedy(c - distances(X[idx], X[idx]), int(np.ceil(alpha * k * 125 / 500)))
        own.append((idx[order[:k]], gains[:k]))
        leaves.append(covered(idx, np.ones(125), idx[order]))
    while len(leaves) > 1:
        nxt = []
        for a, b in zip(leaves[0::2], leaves[1::2]):
            idx = np.concatenate([a[0], b[0]])
            w = np.concatenate([a[1], b[1]])
            sort = np.argsort(idx)
            idx, w = idx[sort], w[sort]
            order, gains = brute_force_greedy(c - distances(X[idx], X[idx]), k, w)
            nxt.append(covered(idx, w, idx[order]) if len(leaves) > 2 else (idx[order], gains))
        leaves = nxt
    options = [leaves[0]] + own

    def F(sel):
        return (c - distances(X, X[sel])).max(axis=1).sum()

    best = int(np.argmax([F(sel) for sel, _ in options]))
    np.testing.assert_array_equal(cs["index"], options[best][0])
    np.testing.assert_allclose(cs["gain"], options[best][1], rtol=1e-9)


def test_submodular_cover_takes_the_shortest_greedy_prefix_per_partition(tmp_path):
    """--epsilon: each partition keeps the shortest greedy prefix whose own L is at most its share
    ε·|p|/N; the union (no merge) then has global L(S) <= ε, and weights still sum to N."""
    path, X, _ = problem(tmp_path, 400, 3, 41)
    out, eps = tmp_path / "cs.h5", 150.0
    run_gradcore(["select", "--data", path, "--embedding", "features", "--per-class", "off", "--epsilon", eps,
                  "--partition-size", 200, "--out", out, "--quiet"], np_=2)
    cs = read_coreset(out)
    c = cs["attrs"]["similarity_constant"]
    expect = []
    for lo in (0, 200):
        idx = np.arange(lo, lo + 200)
        Dp = distances(X[idx], X[idx])
        order, _ = brute_force_greedy(c - Dp, 200)
        for n in range(1, 201):
            if Dp[:, order[:n]].min(axis=1).sum() <= eps * 200 / 400:
                break
        expect += list(idx[order[:n]])
    np.testing.assert_array_equal(cs["index"], expect)
    L = distances(X, X[cs["index"]]).min(axis=1).sum()
    assert L <= eps and cs["attrs"]["total_distance"] == pytest.approx(L, rel=1e-9)
    assert cs["weight"].sum() == 400
