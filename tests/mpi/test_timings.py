"""--timings FILE: per-phase min ≤ mean ≤ max over ranks, the bytes every rank moved summed, GB/s
where bytes were counted; written only when the run succeeds."""
import json

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


def test_no_timings_file_after_a_failed_run(tmp_path):
    timings = tmp_path / "t.json"
    proc = run_gradcore(["select", "--data", "synthetic:n=30,d=2,classes=2,seed=1", "--k", 31,
                         "--out", tmp_path / "cs.h5", "--timings", timings], np_=2, check=False)
    assert proc.returncode != 0 and not timings.exists()
