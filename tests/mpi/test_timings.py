"""--timings FILE: per-phase min ≤ mean ≤ max over ranks, the bytes every rank moved summed, GB/s
where bytes were counted, and the run around the phases; written only when the run succeeds. And
what a run says of its long phases on stderr: once (rank 0), nothing under --quiet."""
import json

import pytest

from conftest import run_gradcore


def test_timings_json_reduces_over_ranks(tmp_path):
    out, timings = tmp_path / "cs.h5", tmp_path / "t.json"
    run_gradcore(["select", "--data", "synthetic:n=3000,d=8,classes=3,seed=2", "--k", 30, "--out", out,
                  "--timings", timings, "--quiet"], np_=3)
    t = json.loads(timings.read_text())
    assert t["ranks"] == 3 and t["N"] == 3000 and t["k"] == 30
    phases = {p["name"]: p for p in t["phases"]}
    assert {"read", "embed", "select", "quality"} <= set(phases)
    for p in phases.values():
        assert 0 <= p["min_s"] <= p["mean_s"] <= p["max_s"]
    # labels first; X (d = 8) streams through the embedding engine, which writes E (craig: logits, C = 3)
    assert phases["read"]["bytes"] == 3000 * 4
    assert phases["embed"]["bytes"] == 3000 * (8 + 3) * 4
    assert phases["read"]["GBps"] > 0 and phases["embed"]["GBps"] > 0
    assert phases["select"]["GBps"] is None
    # floors (docs/design.md §7.1): every rank measured its ceilings; a phase that counted bytes has a
    # floor at its bound; a parent's floor lies between its largest child's and the sum of its children's
    assert t["ceilings"]["memory_GBps"] > 0 and t["ceilings"]["gemm_GFLOPps"] > 0
    assert t["ceilings"]["host_fp64_GFLOPps"] > 0
    assert phases["read"]["bound"] == "host" and phases["read"]["floor_s"] > 0
    assert phases["quality"]["bound"] == "memory" and phases["quality"]["floor_s"] > 0
    assert phases["quality"]["of_floor"] == pytest.approx(phases["quality"]["floor_s"] / phases["quality"]["max_s"],
                                                          rel=1e-3)
    kids = [p["floor_s"] for name, p in phases.items() if name.startswith("select/") and p["floor_s"] is not None]
    assert kids and phases["select"]["bound"] == "children"
    assert max(kids) <= phases["select"]["floor_s"] <= sum(kids) * (1 + 1e-6)
    # the run around the phases (rank 0's clock): its start-up (MPI_Init), the ceilings' measurement
    # and the coreset file's write lie outside them, and the seconds since main's entry hold them all
    assert t["startup_s"] > 0 and t["ceilings_s"] > 0 and t["write_s"] > 0
    outside = t["startup_s"] + t["ceilings_s"] + t["write_s"]
    assert outside + sum(p["min_s"] for p in phases.values() if p["depth"] == 0) <= t["elapsed_s"]


def test_no_timings_file_after_a_failed_run(tmp_path):
    timings = tmp_path / "t.json"
    proc = run_gradcore(["select", "--data", "synthetic:n=30,d=2,classes=2,seed=1", "--k", 31,
                         "--out", tmp_path / "cs.h5", "--timings", timings], np_=2, check=False)
    assert proc.returncode != 0 and not timings.exists()


def test_nested_phases_of_omp_count_every_pass(tmp_path):
    """select/score is entered once per pass and reads the rank's rows once per pass, at every rank."""
    out, timings = tmp_path / "cs.h5", tmp_path / "t.json"
    n, d, k = 2000, 12, 8  # k < d: the atoms cannot span the target before the budget is spent
    run_gradcore(["select", "--data", f"synthetic:n={n},d={d},classes=3,seed=5", "--embedding", "features",
                  "--selector", "omp", "--per-class", "off", "--k", k, "--out", out, "--timings", timings,
                  "--quiet"], np_=2)
    t = json.loads(timings.read_text())
    phases = {p["name"]: p for p in t["phases"]}
    assert {"select/row-setup", "select/score", "select/merge", "select/refit"} <= set(phases)
    score = phases["select/score"]
    assert score["depth"] == 1 and score["calls"] == k  # one atom a pass
    assert score["bytes"] == k * n * d * 4  # every rank reads its rows once a pass: N·D floats in all
    assert score["flops"] == k * n * d * 2
    # the refit, replicated on both ranks: each atom appended to m atoms costs its <a, g> and Gram
    # column (2d + 2md), the factor's row (m²), the solve (2(m + 1)²) and the residual (2(m + 1)d) in
    # FP64 on the host; the merge reads its lists and writes the merged ones through host memory
    refit = phases["select/refit"]
    assert refit["bound"] == "host-fp64" and refit["floor_s"] > 0
    assert refit["flops"] == pytest.approx(2 * sum(2 * d + 2 * m * d + m * m + 2 * (m + 1) ** 2 + 2 * (m + 1) * d
                                                   for m in range(k)))
    assert phases["select/merge"]["bound"] == "host" and phases["select/merge"]["floor_s"] > 0
    for p in phases.values():
        assert 0 <= p["min_s"] <= p["mean_s"] <= p["max_s"]
        assert p["max_s"] <= phases[p["name"].split("/")[0]]["max_s"] + 1e-6  # a child within its parent


def test_facility_location_phases_and_union_over_ranks(tmp_path):
    """Only partition owners greedy; the reduction is over the union of the ranks' phases."""
    out, timings = tmp_path / "cs.h5", tmp_path / "t.json"
    run_gradcore(["select", "--data", "synthetic:n=3000,d=8,classes=3,seed=2", "--k", 30, "--partition-size", 400,
                  "--out", out, "--timings", timings, "--quiet"], np_=3)
    names = [p["name"] for p in json.loads(timings.read_text())["phases"]]
    assert {"select/exchange", "select/partitions", "select/merge", "select/weights"} <= set(names)
    assert len(names) == len(set(names))
    # the exchange's parts: the rows of the pieces straddling a rank boundary gathered (D = 3 logits a
    # row, 4 bytes each), then sent and received with their headers, each part within the exchange
    phases = {p["name"]: p for p in json.loads(timings.read_text())["phases"]}
    parts = {n for n in names if n.startswith("select/exchange/")}
    assert parts == {"select/exchange/pack", "select/exchange/gather", "select/exchange/send"}
    gathered, sent = phases["select/exchange/gather"]["bytes"], phases["select/exchange/send"]["bytes"]
    assert gathered > 0 and gathered % (3 * 4) == 0
    assert sent > 2 * gathered
    for n in parts:
        assert phases[n]["max_s"] <= phases["select/exchange"]["max_s"] + 1e-6
    # the merge's parts, each with its floor: candidates to their class's merger, the merge's
    # greedies (similarity block flops), the merged sets shared
    for n in ("send", "greedy", "share"):
        assert phases[f"select/merge/{n}"]["floor_s"] > 0
    assert phases["select/merge/greedy"]["flops"] > 0


def test_stream_writes_its_phases(tmp_path):
    batches = []
    for i in range(2):
        b = tmp_path / f"b{i}.h5"
        run_gradcore(["gen", "--out", b, "--n", 500, "--d", 5, "--classes", 3, "--seed", 10 + i])
        batches.append(str(b))
    timings = tmp_path / "t.json"
    run_gradcore(["stream", "--batches", ",".join(batches), "--k", 20, "--state", tmp_path / "s.h5",
                  "--timings", timings, "--quiet"], np_=2)
    t = json.loads(timings.read_text())
    phases = {p["name"]: p for p in t["phases"]}
    assert t["command"] == "stream" and t["batches"] == 2 and t["seen"] == 1000
    assert phases["load"]["calls"] == 2 and phases["select"]["calls"] == 2 and phases["write"]["calls"] == 2
    assert "select/score" in phases  # continual GMC's OMP, nested under the batch's select


def test_long_phases_say_what_runs(tmp_path):
    args = ["select", "--data", "synthetic:n=6000,d=8,classes=3,seed=4", "--method", "craig", "--k", 60]
    told = run_gradcore(args + ["--out", tmp_path / "a.h5"], np_=3).stderr.splitlines()
    for phase in ("select: facility location,", "select: partitions: 100%", "select: merge:", "select: weights:",
                  "select: assignment: 100% (2000/2000 rows"):
        assert sum(line.startswith(phase) for line in told) == 1, (phase, told)
    weights = next(line for line in told if line.startswith("select: weights:"))
    assert "of the 2000 rows on rank 0" in weights and "60 selected of its class" in weights
    quiet = run_gradcore(args + ["--out", tmp_path / "b.h5", "--quiet"], np_=3).stderr
    assert "select:" not in quiet
