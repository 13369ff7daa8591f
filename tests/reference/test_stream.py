"""gradcore stream (README "gradcore stream") against independent oracles.

- continual GMC (Balles et al., Algorithm 2) after every batch equals a numpy implementation written
  here: OMP (scikit-learn's orthogonal_mp on unit-norm atoms, the order gradcore scores in) on the
  dictionary [C, G_t] against the running target g = Σ of every row seen, weights by least squares;
- the merge-reduce state after each of 7 batches with s = 3 slots follows Fig. 2a of Borsos et al.
  (NeurIPS 2020), and every slot's weights add up to the rows of the batches it summarises;
- a weighted OMP merge equals the numpy merge (target Σ wᵢ eᵢ over the union, sorted by id);
- one job per batch, or a job killed with SIGKILL mid-batch and run again, ends in the state of one
  job over all batches; a state made with other options is refused with one line.
With --embedding features the embedding is /X itself, so the oracles need no model."""
import os
import signal
import subprocess
import time

import h5py
import numpy as np
import pytest

from conftest import BIN, MPI_ENV, read_coreset, run_gradcore, sklearn_omp_order, write_dataset


def make_batches(tmp_path, sizes, D, seed, classes=4):
    rng = np.random.default_rng(seed)
    paths, Xs = [], []
    for t, n in enumerate(sizes):
        X = (rng.normal(size=(n, D)) + 0.2).astype(np.float32)
        y = rng.integers(0, classes, n).astype(np.int32)
        path = tmp_path / f"batch{t}.h5"
        write_dataset(path, X, y, num_classes=classes)
        paths.append(path)
        Xs.append(X.astype(np.float64))
    return paths, Xs


def read_state(path):
    with h5py.File(path, "r") as f:
        return {"attrs": dict(f.attrs), "target": f["target"][()],
                **{f"members/{k}": f["members"][k][()] for k in f["members"]},
                **{f"slots/{k}": f["slots"][k][()] for k in f["slots"]},
                **{f"reservoir/{k}": f["reservoir"][k][()] for k in f["reservoir"]}}


def stream(paths, state, args, np_=1, out=None, check=True):
    extra = ["--out", out] if out is not None else []
    return run_gradcore(["stream", "--batches", ",".join(str(p) for p in paths), "--state", state,
                         "--embedding", "features", "--quiet", *extra, *args], np_=np_, check=check)


def omp(dictionary, target, k):
    """Atoms in selection order and least-squares weights (gradcore's OMP, docs/design.md §4)."""
    order = sklearn_omp_order(dictionary, target, k)
    return order, np.linalg.lstsq(dictionary[order].T, target, rcond=None)[0]


def continual_gmc(Xs, k):
    """Algorithm 2 in numpy: after each batch, (ids, weights) of the coreset."""
    ids, E = np.zeros(0, np.int64), np.zeros((0, Xs[0].shape[1]))
    g, seen, history = np.zeros(Xs[0].shape[1]), 0, []
    for X in Xs:
        g = g + X.sum(axis=0)
        dictionary = np.vstack([E, X])
        all_ids = np.concatenate([ids, seen + np.arange(len(X))])
        order, w = omp(dictionary, g, k)
        ids, E, seen = all_ids[order], dictionary[order], seen + len(X)
        history.append((ids, w, g.copy()))
    return history


def relative(a, b):
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


def test_continual_gmc_equals_algorithm_2_one_job_per_batch(tmp_path):
    paths, Xs = make_batches(tmp_path, [300, 420, 350, 380], D=48, seed=3)
    k = 30
    expected = continual_gmc(Xs, k)
    state, out = tmp_path / "state.h5", tmp_path / "cs.h5"
    for t, path in enumerate(paths):
        stream([path], state, ["--k", k], out=out)  # one job per batch: the state carries everything
        st, cs = read_state(state), read_coreset(out)
        ids, w, g = expected[t]
        np.testing.assert_array_equal(st["members/id"], ids)
        assert relative(st["members/weight"], w) <= 1e-8
        assert relative(st["target"], g) <= 1e-12
        np.testing.assert_array_equal(cs["index"], ids)
        np.testing.assert_array_equal(cs["weight"], st["members/weight"])
        assert st["attrs"]["batches"] == t + 1 and st["attrs"]["seen"] == sum(len(X) for X in Xs[:t + 1])
        # the reported error is the coreset's against everything seen
        E = np.vstack(Xs[:t + 1])[ids]
        error = np.linalg.norm(g - E.T @ st["members/weight"]) / np.linalg.norm(g)
        assert cs["attrs"]["relative_gradient_error"] == pytest.approx(error, rel=1e-6, abs=1e-12)
    # old members are dropped as the stream goes on: the coreset is not just the first batch's
    assert np.any(expected[-1][0] >= len(Xs[0]))


@pytest.mark.parametrize("np_", [2, 4])
def test_one_job_over_all_batches_equals_one_job_per_batch_at_any_rank_count(tmp_path, np_):
    paths, Xs = make_batches(tmp_path, [300, 420, 350], D=48, seed=5)
    per_batch, at_once = tmp_path / "a.h5", tmp_path / "b.h5"
    stream(paths[:1], per_batch, ["--k", 25])
    stream(paths[1:], per_batch, ["--k", 25], np_=np_)
    stream(paths, at_once, ["--k", 25], np_=np_)
    a, b = read_state(per_batch), read_state(at_once)
    for key in ("members/id", "members/weight", "members/embedding", "target", "reservoir/id"):
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    ids, w, _ = continual_gmc(Xs, 25)[-1]
    np.testing.assert_array_equal(b["members/id"], ids)
    # a repeated command finds every batch in the state and changes nothing
    stream(paths, at_once, ["--k", 25], np_=np_)
    np.testing.assert_array_equal(read_state(at_once)["members/weight"], b["members/weight"])


@pytest.mark.parametrize("method", ["gmc", "craig", "bico"])
def test_merge_reduce_one_job_per_batch_equals_one_job_at_four_ranks(tmp_path, method):
    paths, _ = make_batches(tmp_path, [150, 170, 160, 140, 155], D=12, seed=8)
    per_batch, at_once = tmp_path / "a.h5", tmp_path / "b.h5"
    args = ["--method", method, "--slots", 2, "--k", 20, "--per-class", "on"]
    for path in paths:
        stream([path], per_batch, args)
    stream(paths, at_once, args, np_=4)
    a, b = read_state(per_batch), read_state(at_once)
    for key in ("members/id", "members/weight", "members/slot", "slots/beta", "slots/created", "target"):
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


# Fig. 2a of Borsos et al. 2020 (7 steps, s = 3): slots after each step as (β, construction step);
# tests/unit/test_merge_reduce.c derives the same sequence from the paper's rule.
FIGURE = [[(1, 1)], [(1, 1), (1, 2)], [(1, 1), (1, 2), (1, 3)], [(2, 4), (1, 3), (1, 4)],
          [(2, 4), (2, 5), (1, 5)], [(2, 4), (2, 5), (2, 6)], [(4, 7), (2, 6), (1, 7)]]


def test_merge_reduce_state_follows_the_figure_and_weights_summarise_the_batches(tmp_path):
    sizes = [120 + 10 * t for t in range(7)]
    paths, Xs = make_batches(tmp_path, sizes, D=6, seed=7)
    state, k = tmp_path / "state.h5", 30
    starts = np.concatenate([[0], np.cumsum(sizes)])
    for t, path in enumerate(paths):
        stream([path], state, ["--method", "craig", "--slots", 3, "--k", k])
        st = read_state(state)
        assert list(zip(st["slots/beta"], st["slots/created"])) == FIGURE[t]
        first = 0  # slots are oldest first and each summarises consecutive batches
        for s, beta in enumerate(st["slots/beta"]):
            mine = st["members/slot"] == s
            assert 0 < mine.sum() <= k // 3
            lo, hi = starts[first], starts[first + beta]
            ids = st["members/id"][mine]
            assert np.all((ids >= lo) & (ids < hi))
            # facility-location weights are cluster sizes: a slot's weights count its batches' rows
            assert st["members/weight"][mine].sum() == pytest.approx(hi - lo, abs=1e-9)
            first += beta
        assert first == t + 1


def test_weighted_omp_merge_equals_numpy(tmp_path):
    """s = 2, 3 batches: slots 0 and 1 (OMP on each batch against its sum) merge at step 3 by OMP on
    their union (sorted by id) against Σ wᵢ eᵢ."""
    paths, Xs = make_batches(tmp_path, [200, 260, 230], D=40, seed=11)
    k, m = 24, 12
    state = tmp_path / "state.h5"
    stream(paths, state, ["--method", "gmc", "--slots", 2, "--k", k], np_=2)
    st = read_state(state)
    starts = [0, 200, 460]
    slots = []
    for t, X in enumerate(Xs):
        order, w = omp(X, X.sum(axis=0), m)
        slots.append((starts[t] + order, X[order], w))
    ids = np.concatenate([slots[0][0], slots[1][0]])
    E = np.vstack([slots[0][1], slots[1][1]])
    w = np.concatenate([slots[0][2], slots[1][2]])
    by_id = np.argsort(ids)
    ids, E, w = ids[by_id], E[by_id], w[by_id]
    order, gamma = omp(E, E.T @ w, m)
    assert list(st["slots/beta"]) == [2, 1]
    merged = st["members/slot"] == 0
    np.testing.assert_array_equal(st["members/id"][merged], ids[order])
    assert relative(st["members/weight"][merged], gamma) <= 1e-8
    np.testing.assert_array_equal(st["members/id"][~merged], slots[2][0])
    assert relative(st["members/weight"][~merged], slots[2][2]) <= 1e-8


def test_state_of_other_options_is_refused_and_left_alone(tmp_path):
    paths, _ = make_batches(tmp_path, [100, 100], D=16, seed=2)
    state = tmp_path / "state.h5"
    stream(paths[:1], state, ["--k", 10])
    before = read_state(state)
    proc = stream(paths[1:], state, ["--k", 12], check=False)
    assert proc.returncode == 2
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert lines == [f"gradcore: error: --state {state} was made with other options (method, k, slots, model, "
                     "embedding or seed): continue it with the same options or start another state file"], proc.stderr
    np.testing.assert_array_equal(read_state(state)["members/id"], before["members/id"])
    assert read_state(state)["attrs"]["batches"] == 1


def test_a_failing_batch_leaves_the_state_of_the_batches_before_it(tmp_path):
    paths, Xs = make_batches(tmp_path, [120, 130], D=16, seed=6)
    bad = tmp_path / "bad.h5"
    write_dataset(bad, np.ones((40, 16), np.float32), np.full(40, 9, np.int32))  # no num_classes: C stays 4
    state = tmp_path / "state.h5"
    proc = stream([paths[0], bad], state, ["--k", 10], check=False)
    assert proc.returncode == 3
    assert proc.stderr.strip() == f"gradcore: error: --batches {bad}: row 0 has label 9 outside [0, 4)"
    st = read_state(state)
    assert st["attrs"]["batches"] == 1 and st["attrs"]["seen"] == 120
    np.testing.assert_array_equal(st["members/id"], continual_gmc(Xs[:1], 10)[0][0])
    # a batch the state already holds after a new one is a usage error, and nothing changes
    proc = stream([paths[1], paths[0]], state, ["--k", 10], check=False)
    assert proc.returncode == 2 and "is already in --state" in proc.stderr
    assert read_state(state)["attrs"]["batches"] == 1


def test_bico_slots_weights_summarise_their_batches(tmp_path):
    """BiCo compresses a batch with weights N_c/k_c and a merged union with (Σ w over class c)/k_c
    (the outer objective weighted by the members' weights): every slot's weights add up to the rows
    of the batches it summarises, through merges too (s = 2, 4 batches: merges at steps 3 and 4)."""
    sizes = [130, 150, 140, 160]
    paths, _ = make_batches(tmp_path, sizes, D=5, seed=9)
    state = tmp_path / "state.h5"
    starts = np.concatenate([[0], np.cumsum(sizes)])
    for t, path in enumerate(paths):
        stream([path], state, ["--method", "bico", "--slots", 2, "--k", 24, "--landmarks", 60], np_=2)
        st = read_state(state)
        first = 0
        for s_, beta in enumerate(st["slots/beta"]):
            mine = st["members/slot"] == s_
            assert 0 < mine.sum() <= 12
            assert st["members/weight"][mine].sum() == pytest.approx(starts[first + beta] - starts[first], rel=1e-12)
            first += beta
        assert first == t + 1
    assert list(st["slots/beta"]) == [2, 2]


# ---- restart: a job killed between or during batches loses nothing ----

KILL_ARGS = ["--method", "gmc", "--k", 40, "--hidden", 64, "--sketch", 64]


def test_sigkill_during_a_batch_then_rerun_gives_the_state_of_an_uninterrupted_job(tmp_path):
    rng = np.random.default_rng(4)
    paths = []
    for t, n in enumerate([3000, 3000, 60000]):  # the last batch is slow enough to be killed in
        path = tmp_path / f"b{t}.h5"
        write_dataset(path, rng.normal(size=(n, 24)).astype(np.float32), rng.integers(0, 5, n).astype(np.int32),
                      num_classes=5)
        paths.append(path)
    batches = ",".join(str(p) for p in paths)
    reference = tmp_path / "ref.h5"
    run_gradcore(["stream", "--batches", batches, "--state", reference, "--quiet", *KILL_ARGS], np_=2)

    state = tmp_path / "state.h5"
    cmd = ["mpirun", "-q", "--oversubscribe", "-np", "2", BIN, "stream", "--batches", batches, "--state", str(state),
           "--quiet", *[str(a) for a in KILL_ARGS]]
    proc = subprocess.Popen(cmd, env=dict(os.environ, **MPI_ENV), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        try:
            with h5py.File(state, "r") as f:
                if f.attrs["batches"] >= 2:
                    break
        except (OSError, KeyError):
            pass
        time.sleep(0.01)
    assert proc.poll() is None, "the job finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    for _ in range(200):  # ranks outlive a killed mpirun briefly
        try:
            os.killpg(proc.pid, 0)
            time.sleep(0.05)
        except ProcessLookupError:
            break
    killed = read_state(state)  # intact: the last finished batch's state, never a partial file
    assert killed["attrs"]["batches"] == 2
    subprocess.run(cmd, env=dict(os.environ, **MPI_ENV), check=True, capture_output=True, timeout=600)
    a, b = read_state(state), read_state(reference)
    assert a["attrs"]["batches"] == 3
    for key in ("members/id", "members/weight", "members/embedding", "target", "reservoir/id"):
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
