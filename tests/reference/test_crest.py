"""CREST (docs/design.md §4) against independent oracles. The subsets are re-drawn here from the documented
walk (a re-implementation of core/rng.h's counter-based permutation: subset s keeps the first r
rows with loss >= α along the permutation seeded by (seed, s)) and compared with the
/crest/subset_index the binary writes under --save-subsets; every mini-batch equals a brute-force
greedy (numpy, double) on its subset with cluster-size weights; results are identical for -np 1, 2,
4; no row with loss < α is ever drawn; the union and the gradient-bias attributes follow their
definitions, and CREST's batches have a lower gradient bias than random batches of the same size.
Embeddings and losses come from --save-embeddings, so the oracles see exactly the binary's inputs."""
import h5py
import numpy as np
import pytest

from conftest import read_coreset, run_gradcore, write_clusters
from reference.test_fl_oracles import brute_force_greedy, distances

STREAM_RANDOM_SUBSET, STREAM_SUBSET = 9, 11
U64 = (1 << 64) - 1


def mix64(z):
    """SplitMix64 finaliser on Python ints or uint64 arrays (arrays wrap silently)."""
    if isinstance(z, int):
        z &= U64
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & U64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & U64
        return z ^ (z >> 31)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def rng_u64(seed, stream, counter):
    key = mix64(seed * 0x9E3779B97F4A7C15 + stream * 0xD1B54A32D192ED03 + 1)
    return mix64(key ^ mix64(counter + 0x632BE59BD9B4E019))


def permute(x, n, seed, stream):
    """gc_permute: 4-round Feistel network on 2h bits with cycle walking, evaluated on an array."""
    bits = 2
    while bits < 64 and (1 << bits) < n:
        bits += 2
    h = bits // 2
    mask, key = np.uint64((1 << h) - 1), mix64(seed ^ ((stream << 32) & U64))
    round_keys = [np.uint64(mix64(key + r)) for r in range(4)]
    x = np.asarray(x, dtype=np.uint64).copy()
    todo = np.ones(x.shape, bool)
    while todo.any():
        left, right = x[todo] >> np.uint64(h), x[todo] & mask
        for rk in round_keys:
            left, right = right, left ^ (mix64(right ^ rk) & mask)
        x[todo] = (left << np.uint64(h)) | right
        todo = x >= np.uint64(n)
    return x.astype(np.int64)


def draw_subset(s, n, r, seed, kept):
    """The documented walk: the first r kept rows along subset s's permutation, ascending."""
    order = permute(np.arange(n), n, rng_u64(seed, STREAM_SUBSET, s), STREAM_SUBSET)
    return np.sort(order[kept[order]][:r])


def dataset(tmp_path, n=1200, d=6, classes=4, seed=5):
    path = tmp_path / f"data{seed}.h5"
    write_clusters(path, n, d, classes, seed, centers=8, spread=2)
    return path


def run_crest(tmp_path, data, extra, np_=1, name="cs.h5"):
    out, emb = tmp_path / name, tmp_path / (name + ".emb.h5")
    proc = run_gradcore(["select", "--data", data, "--method", "crest", "--save-subsets", "--save-embeddings", emb,
                         "--out", out] + [str(a) for a in extra], np_=np_)
    cs = read_coreset(out)
    with h5py.File(out) as f:
        cs["crest"] = {name: f["crest"][name][()] for name in f["crest"]}
        cs["crest_attrs"] = dict(f["crest"].attrs)
    with h5py.File(emb) as f:
        E, loss = f["E"][()].astype(np.float64), f["loss"][()]
    return cs, E, loss, proc


def alpha_at(loss, q):
    """A threshold at a loss quantile, as text that parses back to the same double."""
    return repr(float(np.quantile(loss.astype(np.float64), q)))


@pytest.mark.parametrize("q", [None, 0.3])
def test_subsets_follow_the_seeded_walk_over_kept_rows(tmp_path, q):
    data = dataset(tmp_path)
    _, _, loss, _ = run_crest(tmp_path, data, ["--subsets", 3, "--subset-size", 50, "--batch-size", 5], name="probe.h5")
    alpha = "0" if q is None else alpha_at(loss, q)
    cs, _, loss, _ = run_crest(tmp_path, data, ["--subsets", 7, "--subset-size", 150, "--batch-size", 9,
                                                "--exclude-loss", alpha, "--seed", 3])
    kept = loss.astype(np.float64) >= float(alpha)
    assert cs["crest_attrs"]["excluded_rows"] == (~kept).sum()
    subsets = cs["crest"]["subset_index"]
    assert subsets.shape == (7, 150)
    for s in range(7):
        np.testing.assert_array_equal(subsets[s], draw_subset(s, len(loss), 150, 3, kept), err_msg=f"subset {s}")
    assert len({tuple(row) for row in subsets}) == 7


def test_each_batch_is_the_brute_force_greedy_on_its_subset(tmp_path):
    data = dataset(tmp_path, seed=8)
    P, r, m = 6, 200, 12
    cs, E, _, _ = run_crest(tmp_path, data, ["--subsets", P, "--subset-size", r, "--batch-size", m])
    c = cs["attrs"]["similarity_constant"]
    assert c == pytest.approx(2 * np.sqrt(((E - E.mean(0)) ** 2).sum(1)).max(), rel=1e-9)
    assert cs["crest"]["batch_index"].shape == (P, m) and cs["crest"]["batch_weight"].shape == (P, m)
    for s in range(P):
        sub = cs["crest"]["subset_index"][s]
        S = c - distances(E[sub], E[sub])
        order, _ = brute_force_greedy(S, m)
        np.testing.assert_array_equal(cs["crest"]["batch_index"][s], sub[order], err_msg=f"subset {s}")
        # weights: cluster sizes within the subset, ties to the lowest position (= global index)
        ranks = np.sort(order)
        nearest = ranks[np.argmax(S[:, ranks], axis=1)]
        np.testing.assert_array_equal(cs["crest"]["batch_weight"][s], [np.sum(nearest == j) for j in order])
        assert cs["crest"]["batch_weight"][s].sum() == r


def test_union_is_first_appearance_with_weights_summed_and_scaled_to_N(tmp_path):
    data = dataset(tmp_path, seed=9)
    # small subsets of a small dataset, so rows recur across batches
    cs, _, _, _ = run_crest(tmp_path, data, ["--subsets", 12, "--subset-size", 100, "--batch-size", 20])
    index, weight = cs["crest"]["batch_index"].ravel(), cs["crest"]["batch_weight"].ravel()
    first = []
    for i in index:
        if i not in first:
            first.append(i)
    assert len(first) < len(index)
    np.testing.assert_array_equal(cs["index"], first)
    expected = np.array([weight[index == i].sum() for i in first]) * 1200 / weight.sum()
    np.testing.assert_allclose(cs["weight"], expected, rtol=1e-12)
    assert cs["weight"].sum() == pytest.approx(1200, rel=1e-12)
    assert cs["attrs"]["k"] == len(first)


CASES = {
    "logits_excluding": ["--subsets", 9, "--subset-size", 120, "--batch-size", 10, "--exclude-loss", 1.38],
    "features": ["--embedding", "features", "--subsets", 5, "--subset-size", 300, "--batch-size", 16, "--seed", 4],
    "stochastic_greedy": ["--subsets", 6, "--subset-size", 200, "--batch-size", 12, "--stochastic", 0.1],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_identical_for_1_2_4_ranks(tmp_path, case):
    """Every rank count reads the same embeddings file, so this checks CREST itself: the embedding
    phase has its own rank-invariance tests."""
    data = dataset(tmp_path, seed=11)
    run_crest(tmp_path, data, CASES[case], name="probe.h5")
    fixed = CASES[case] + ["--embeddings", tmp_path / "probe.h5.emb.h5"]
    results = [run_crest(tmp_path, data, fixed, np_=n, name=f"cs{n}.h5")[0] for n in (1, 2, 4)]
    base = results[0]
    for other in results[1:]:
        for key in ("index", "weight", "label", "gain", "loss"):
            np.testing.assert_array_equal(base[key], other[key], err_msg=key)
        for key in ("batch_index", "batch_weight", "subset_index"):
            np.testing.assert_array_equal(base["crest"][key], other["crest"][key], err_msg=key)
        for key in ("crest_gradient_bias", "random_batch_gradient_bias", "objective", "total_distance"):
            assert base["attrs"][key] == other["attrs"][key], key


def test_rows_with_loss_below_alpha_are_never_drawn(tmp_path):
    data = dataset(tmp_path, seed=12)
    _, _, loss, _ = run_crest(tmp_path, data, ["--subsets", 2, "--subset-size", 50, "--batch-size", 5], name="probe.h5")
    alpha = alpha_at(loss, 0.6)
    cs, _, loss, _ = run_crest(tmp_path, data, ["--subsets", 10, "--subset-size", 200, "--batch-size", 15,
                                                "--exclude-loss", alpha], np_=2)
    low = loss.astype(np.float64) < float(alpha)
    assert low.sum() > 400
    for name in ("subset_index", "batch_index"):
        assert not low[cs["crest"][name]].any(), name
    assert not low[cs["index"]].any()
    assert (cs["loss"].astype(np.float64) >= float(alpha)).all()


def test_gradient_bias_attributes_follow_their_definition(tmp_path):
    data = dataset(tmp_path, seed=13)
    P, r, m, seed = 5, 250, 8, 6
    cs, E, _, proc = run_crest(tmp_path, data, ["--subsets", P, "--subset-size", r, "--batch-size", m, "--seed", seed])
    ours, rand = [], []
    for s in range(P):
        sub, batch = cs["crest"]["subset_index"][s], cs["crest"]["batch_index"][s]
        full = E[sub].sum(0)
        approx = (cs["crest"]["batch_weight"][s][:, None] * E[batch]).sum(0)
        ours.append(np.linalg.norm(approx - full) / np.linalg.norm(full))
        # baseline: the first m positions of the subset's seeded permutation, weight r/m
        pick = sub[permute(np.arange(m), r, rng_u64(seed, STREAM_RANDOM_SUBSET, s), STREAM_RANDOM_SUBSET)]
        rand.append(np.linalg.norm(E[pick].sum(0) * r / m - full) / np.linalg.norm(full))
    assert cs["attrs"]["crest_gradient_bias"] == pytest.approx(np.mean(ours), rel=1e-6)
    assert cs["attrs"]["random_batch_gradient_bias"] == pytest.approx(np.mean(rand), rel=1e-6)
    assert "mini-batch gradient bias" in proc.stdout


def test_batches_have_lower_gradient_bias_than_random_batches(tmp_path):
    out = tmp_path / "cs.h5"
    proc = run_gradcore(["select", "--data", "synthetic:n=20000,d=16,classes=10,seed=3", "--method", "crest",
                         "--subsets", 20, "--subset-size", 1000, "--batch-size", 32, "--out", out], np_=2)
    attrs = read_coreset(out)["attrs"]
    print(f"crest_gradient_bias {attrs['crest_gradient_bias']:.4g}, "
          f"random_batch_gradient_bias {attrs['random_batch_gradient_bias']:.4g}")
    assert attrs["crest_gradient_bias"] < 0.5 * attrs["random_batch_gradient_bias"], proc.stdout


def test_k_is_not_needed_and_ignored_with_a_warning(tmp_path):
    data = dataset(tmp_path, seed=14)
    out = tmp_path / "cs.h5"
    proc = run_gradcore(["select", "--data", data, "--method", "crest", "--subsets", 2, "--subset-size", 40,
                         "--batch-size", 4, "--k", 99, "--out", out])
    assert "--k does not apply to crest" in proc.stderr
    assert read_coreset(out)["attrs"]["k"] <= 8


@pytest.mark.parametrize("extra, code, words", [
    (["--embedding", "features", "--subset-size", "100", "--batch-size", "10", "--exclude-loss", "0.1"], 3,
     ["--exclude-loss", "all 1200 rows"]),
    (["--subset-size", "50", "--batch-size", "60"], 2, ["--batch-size", "exceeds --subset-size"]),
    (["--subset-size", "5000"], 3, ["--subset-size", "1200 rows"]),
])
def test_bad_crest_options_fail_with_one_line_and_no_file(tmp_path, extra, code, words):
    data = dataset(tmp_path, seed=15)
    out = tmp_path / "cs.h5"
    proc = run_gradcore(["select", "--data", data, "--method", "crest", "--out", out, "--quiet"] + extra, np_=2,
                        check=False)
    assert proc.returncode == code, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("gradcore: error:"), proc.stderr
    for w in words:
        assert w in lines[0]
    assert not out.exists()
