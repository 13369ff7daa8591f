"""examples/digits_cnn.py end to end at a small size (2 epochs, 1 seed): every arm trains, the
JSON and PNG are written, and the coresets' gradient errors (in the network's own projected
gradients) are below those of random subsets of the same size, which is what the method promises."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits_cnn.py"


def test_digits_cnn_example_runs(tmp_path):
    out = tmp_path / "digits"
    proc = subprocess.run([sys.executable, EXAMPLE, "--epochs", "2", "--seeds", "1", "--select-every", "1",
                           "--dim", "64", "--out", out], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(Path(f"{out}.json").read_text())
    assert set(result["results"]) == {"full", "craig", "gmc", "random"}
    for arm, runs in result["results"].items():
        assert len(runs) == 1 and len(runs[0]["curve"]) == 2
        assert runs[0]["rows"] == (1437 if arm == "full" else 144)
        assert all(0.0 <= acc <= 1.0 for _, acc in runs[0]["curve"])
    for arm in ("craig", "gmc"):
        for coreset_error, random_error in result["results"][arm][0]["gradient_errors"]:
            assert coreset_error < random_error
    assert Path(f"{out}.png").stat().st_size > 10_000
    assert "| craig | 144 |" in proc.stdout
