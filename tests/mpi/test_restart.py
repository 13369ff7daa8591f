"""Restart (--checkpoint DIR): a 4-rank run killed mid-selection (SIGTERM, as SLURM sends at the time
limit, or SIGKILL of the whole job) leaves no output file; the same command run again resumes from
the checkpoint (embeddings read back, finished partitions reused) and writes a coreset identical to
an uninterrupted run's. A checkpoint of another run is refused."""
import os
import signal
import subprocess
import time

import numpy as np
import pytest

from conftest import BIN, MPI_ENV, read_coreset, run_gradcore

ARGS = ["select", "--data", "synthetic:n=120000,d=16,classes=10,seed=9", "--k", "1%", "--partition-size", 3000]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "ref.h5"
    run_gradcore(ARGS + ["--out", out, "--quiet"], np_=4)
    return read_coreset(out)


def kill_mid_selection(args, checkpoint, sig):
    """Starts the run in its own process group and kills the group once rank 0 logged a partition."""
    env = dict(os.environ, **MPI_ENV)
    proc = subprocess.Popen(["mpirun", "-q", "--oversubscribe", "-np", "4", BIN] + [str(a) for a in args],
                            env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = checkpoint / "fl-partitions-r0.log"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not (log.exists() and log.stat().st_size > 0):
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    if sig == signal.SIGTERM:
        proc.send_signal(signal.SIGTERM)  # mpirun forwards it to the ranks, as under SLURM
    else:
        os.killpg(proc.pid, signal.SIGKILL)  # the whole job at once: nothing runs any cleanup
    proc.wait(timeout=120)
    if sig == signal.SIGKILL:  # ranks outlive a killed mpirun briefly; wait for the group to go
        for _ in range(200):
            try:
                os.killpg(proc.pid, 0)
                time.sleep(0.05)
            except ProcessLookupError:
                break
    return proc.returncode


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_killed_run_resumes_to_the_identical_coreset(tmp_path, reference, sig):
    checkpoint, out = tmp_path / "ck", tmp_path / "cs.h5"
    args = ARGS + ["--out", out, "--checkpoint", checkpoint]
    assert kill_mid_selection(args, checkpoint, sig) != 0
    assert not out.exists()
    proc = run_gradcore(args, np_=4)
    assert "resumed logits embeddings" in proc.stderr
    resumed = [l for l in proc.stderr.splitlines() if "finished partitions from the checkpoint" in l]
    assert resumed, proc.stderr
    total = 10 * 4  # 10 classes of ~12,000 rows cut into pieces of <= 3000: 4 each (or 5 for larger classes)
    assert 0 < int(resumed[0].split()[2]) < total
    cs = read_coreset(out)
    for key in ("index", "weight", "label", "gain"):
        np.testing.assert_array_equal(cs[key], reference[key], err_msg=key)


def test_checkpoint_of_another_run_is_refused(tmp_path):
    checkpoint = tmp_path / "ck"
    run_gradcore(["select", "--data", "synthetic:n=2000,d=4,classes=2,seed=1", "--k", 20, "--out", tmp_path / "a.h5",
                  "--checkpoint", checkpoint, "--quiet"], np_=2)
    proc = run_gradcore(["select", "--data", "synthetic:n=2000,d=4,classes=2,seed=2", "--k", 20,
                         "--out", tmp_path / "b.h5", "--checkpoint", checkpoint], np_=2, check=False)
    assert proc.returncode == 2 and "another run" in proc.stderr and not (tmp_path / "b.h5").exists()
    proc = run_gradcore(["select", "--data", "synthetic:n=2000,d=4,classes=2,seed=1", "--k", 20,
                         "--out", tmp_path / "c.h5", "--checkpoint", checkpoint], np_=3, check=False)
    assert proc.returncode == 2 and "2 ranks" in proc.stderr


OMP_ARGS = ["select", "--data", "synthetic:n=300000,d=64,classes=10,seed=4", "--embedding", "features",
            "--selector", "omp", "--k", 3000, "--ridge", "1e-3"]


def test_killed_omp_run_replays_its_atoms_to_the_identical_coreset(tmp_path):
    """OMP logs each pass's atoms; a resumed run replays them (owners broadcast, every rank refits,
    no scoring) and continues: the coreset equals an uninterrupted run's."""
    ref = tmp_path / "ref.h5"
    run_gradcore(OMP_ARGS + ["--out", ref, "--quiet"], np_=4)
    checkpoint, out = tmp_path / "ck", tmp_path / "cs.h5"
    args = OMP_ARGS + ["--out", out, "--checkpoint", checkpoint]
    env = dict(os.environ, **MPI_ENV)
    proc = subprocess.Popen(["mpirun", "-q", "--oversubscribe", "-np", "4", BIN] + [str(a) for a in args], env=env,
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = checkpoint / "omp-atoms-r0.log"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not (log.exists() and log.stat().st_size > 0):
        time.sleep(0.01)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=120)
    assert not out.exists()
    resumed = run_gradcore(args, np_=4)
    lines = [l for l in resumed.stderr.splitlines() if "logged atoms replayed" in l]
    assert lines, resumed.stderr
    replayed = int(lines[0].split(":")[2].split()[0])
    assert 0 < replayed < 3000
    a, b = read_coreset(ref), read_coreset(out)
    for key in ("index", "weight", "label", "gain"):
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
