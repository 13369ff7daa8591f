"""Never lose a user's data (DESIGN §6, README "Errors and guarantees"): no command writes over one of
its inputs or over anything but a regular file; the stream state and the checkpoint directory are
locked and bound to their inputs' contents; sizes beyond what the code represents, non-finite model
weights and HDF5 failures are refused with one line naming the file and the cause.

Every refusal is checked the same way: the exit code, exactly one 'gradcore: error: …' line with the
expected words and no source location, every file of the test directory byte-identical before and
after (sha256), no output created and no temporary left behind."""
import fcntl
import hashlib
import os
import signal
import stat
import subprocess
import time

import h5py
import numpy as np
import pytest

from conftest import BIN, MPI_ENV, read_coreset, run_gradcore, write_dataset

USAGE, INPUT, IO = 2, 3, 4


def snapshot(d):
    """sha256 of every regular file under d (FIFOs and devices by their kind). Lock files are left
    out: a job that takes a lock writes its pid there (io/lock.h), which is all it may touch."""
    out = {}
    for root, _, files in os.walk(d):
        for name in files:
            if name == "lock" or name.endswith(".lock"):
                continue
            p = os.path.join(root, name)
            mode = os.lstat(p).st_mode
            if stat.S_ISREG(mode):
                with open(p, "rb") as f:
                    out[p] = hashlib.sha256(f.read()).hexdigest()
            else:
                out[p] = stat.S_IFMT(mode)
    return out


def temporaries(d):
    return [os.path.join(r, n) for r, _, files in os.walk(d) for n in files if ".tmp." in n]


def assert_refused(proc, code, words):
    assert proc.returncode == code, proc.stderr
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    errors = [l for l in lines if l.startswith("gradcore: error: ")]
    assert len(errors) == 1, proc.stderr
    assert not any("Segmentation" in l or "MPI_ABORT" in l for l in lines), proc.stderr
    assert ".c:" not in errors[0] and "HDF5 error at" not in errors[0], errors[0]  # never a source location
    for w in words:
        assert w in errors[0], f"{w!r} not in {errors[0]!r}"


def refused(tmp_path, args, code, words, np_=1, absent=()):
    """Runs gradcore, checks the refusal and that nothing under tmp_path changed."""
    before = snapshot(tmp_path)
    proc = run_gradcore([str(a) for a in args], np_=np_, check=False, timeout=180)
    assert_refused(proc, code, words)
    assert snapshot(tmp_path) == before
    assert not temporaries(tmp_path)
    for p in absent:
        assert not os.path.lexists(p)
    return proc


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(3)
    write_dataset(tmp_path / "a.h5", rng.normal(size=(60, 3)).astype(np.float32), np.arange(60) % 3, num_classes=3)
    return tmp_path / "a.h5"


def write_model(path, d=3, hidden=8, classes=3, bias=None):
    rng = np.random.default_rng(1)
    with h5py.File(path, "w") as f:
        f["layers/0/W"] = rng.normal(size=(hidden, d)).astype(np.float32)
        f["layers/0/b"] = np.zeros(hidden, np.float32)
        f["layers/1/W"] = rng.normal(size=(classes, hidden)).astype(np.float32)
        f["layers/1/b"] = np.zeros(classes, np.float32) if bias is None else bias
        f.attrs["activation"] = "relu"
    return path


def select(data, *extra):
    return ["select", "--data", data, "--k", "5", "--quiet", *extra]


# ---- outputs never replace inputs ----

def test_out_naming_the_data_is_refused(tmp_path, data):
    refused(tmp_path, select(data, "--out", data), USAGE, ["--out", "same file as the input --data"])


def test_out_through_a_relative_path_is_refused(tmp_path, data, monkeypatch):
    monkeypatch.chdir(tmp_path)
    refused(tmp_path, select("a.h5", "--out", f"../{tmp_path.name}/./a.h5"), USAGE, ["same file", "--data"])


@pytest.mark.parametrize("np_", [1, 2])
def test_out_naming_a_glob_or_list_member_is_refused(tmp_path, data, np_):
    write_dataset(tmp_path / "part-1.h5", np.ones((30, 3), np.float32), np.zeros(30, np.int32), num_classes=3)
    write_dataset(tmp_path / "part-2.h5", np.ones((30, 3), np.float32), np.zeros(30, np.int32), num_classes=3)
    refused(tmp_path, select(tmp_path / "part-*.h5", "--out", tmp_path / "part-2.h5"), USAGE, ["part-2.h5"], np_=np_)
    refused(tmp_path, select(f"{data},{tmp_path / 'part-1.h5'}", "--out", tmp_path / "part-1.h5"), USAGE,
            ["part-1.h5", "--data"], np_=np_)


def test_out_naming_a_read_only_input_is_refused(tmp_path, data):
    os.chmod(data, 0o444)
    refused(tmp_path, select(data, "--out", data), USAGE, ["same file"])


def test_out_through_a_hard_or_symbolic_link_is_refused(tmp_path, data):
    os.link(data, tmp_path / "hard.h5")
    os.symlink(data, tmp_path / "soft.h5")
    refused(tmp_path, select(data, "--out", tmp_path / "hard.h5"), USAGE, ["hard.h5", "--data"])
    refused(tmp_path, select(data, "--out", tmp_path / "soft.h5"), USAGE, ["soft.h5", "--data"])


def test_outputs_naming_the_model_embeddings_or_job_file_are_refused(tmp_path, data):
    model = write_model(tmp_path / "m.h5")
    refused(tmp_path, select(data, "--model", model, "--out", model), USAGE, ["--out", "--model"])
    run_gradcore(select(data, "--out", tmp_path / "c.h5", "--save-embeddings", tmp_path / "e.h5"))
    os.unlink(tmp_path / "c.h5")
    refused(tmp_path, select(data, "--embeddings", tmp_path / "e.h5", "--out", tmp_path / "e.h5"), USAGE,
            ["--embeddings"])
    job = tmp_path / "job.ini"
    job.write_text("method = craig\n")
    refused(tmp_path, select(data, "--config", job, "--out", job), USAGE, ["--out", "--config", "job.ini"])


@pytest.mark.parametrize("option", ["--save-embeddings", "--timings"])
def test_side_outputs_naming_an_input_or_the_out_file_are_refused(tmp_path, data, option):
    out = tmp_path / "c.h5"
    refused(tmp_path, select(data, "--out", out, option, data), USAGE, [option, "--data"], absent=[out])
    refused(tmp_path, select(data, "--out", out, option, out), USAGE, ["--out", option, "same file"], absent=[out])


def test_eval_plot_and_gen_out_naming_an_input_are_refused(tmp_path, data):
    run_gradcore(select(data, "--out", tmp_path / "c.h5"))
    refused(tmp_path, ["eval", "--data", data, "--coreset", tmp_path / "c.h5", "--test", data, "--plot", data],
            USAGE, ["--plot", "same file"])
    refused(tmp_path, ["eval", "--data", data, "--coreset", tmp_path / "c.h5", "--test", data,
                       "--plot", tmp_path / "c.h5"], USAGE, ["--plot", "--coreset"])
    job = tmp_path / "gen.ini"
    job.write_text("n = 10\nd = 2\n")
    refused(tmp_path, ["gen", "--config", job, "--out", job], USAGE, ["--out", "--config"])


# ---- outputs replace regular files only ----

SPECIALS = {"fifo": "a FIFO", "device": "a character device", "directory": "a directory"}


def make_special(tmp_path, kind):
    path = tmp_path / kind
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":  # a node of our own with the null device's numbers, never a system one
        try:
            os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        except PermissionError:
            pytest.skip("not root: no device node (the FIFO case stands for special files)")
    else:
        path.mkdir()
    return path


@pytest.mark.parametrize("kind", sorted(SPECIALS))
@pytest.mark.parametrize("option", ["--out", "--timings", "--save-embeddings"])
def test_special_files_are_never_replaced(tmp_path, data, option, kind):
    special = make_special(tmp_path, kind)
    out = [] if option == "--out" else ["--out", tmp_path / "c.h5"]
    refused(tmp_path, select(data, *out, option, special), IO, [option, kind, SPECIALS[kind], "refusing to replace"],
            absent=[tmp_path / "c.h5"])
    assert not stat.S_ISREG(os.lstat(special).st_mode)


def test_checkpoint_naming_a_regular_file_is_refused(tmp_path, data):
    (tmp_path / "ck").write_text("not a directory\n")
    refused(tmp_path, select(data, "--out", tmp_path / "c.h5", "--checkpoint", tmp_path / "ck"), IO,
            ["--checkpoint", "not a directory"])


def test_an_unwritable_side_output_fails_before_out_is_replaced(tmp_path, data):
    out = tmp_path / "c.h5"
    out.write_bytes(b"previous coreset")
    refused(tmp_path, select(data, "--out", out, "--timings", tmp_path / "missing" / "t.json"), IO,
            ["--timings", "does not exist"])


# ---- temporaries ----

def test_stale_temporary_of_a_dead_process_is_removed_and_a_live_ones_kept(tmp_path, data):
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f"c.h5.tmp.{dead.pid}"
    live = tmp_path / f"c.h5.tmp.{os.getpid()}"
    stale.write_bytes(b"left by a killed run")
    live.write_bytes(b"being written")
    run_gradcore(select(data, "--out", tmp_path / "c.h5"))
    assert not stale.exists() and live.exists()


def test_sigterm_while_writing_leaves_no_temporary(tmp_path):
    """gen writes its temporary for a while; SIGTERM then removes it before the process dies."""
    out = tmp_path / "big.h5"
    env = dict(os.environ, **MPI_ENV)
    proc = subprocess.Popen([BIN, "gen", "--out", str(out), "--n", "4000000", "--d", "16", "--quiet"], env=env)
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None and not temporaries(tmp_path):
        time.sleep(0.01)
    assert proc.poll() is None and temporaries(tmp_path), "gen finished before it could be interrupted"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == -signal.SIGTERM
    assert not temporaries(tmp_path) and not out.exists()


# ---- stream: outputs, locks, batches by content, reruns ----

def batch(path, seed, n=40):
    rng = np.random.default_rng(seed)
    write_dataset(path, rng.normal(size=(n, 3)).astype(np.float32), rng.integers(0, 3, n).astype(np.int32),
                  num_classes=3)
    return path


def stream(batches, state, *extra):
    return ["stream", "--batches", ",".join(str(b) for b in batches), "--state", state, "--k", "6",
            "--embedding", "features", "--quiet", *extra]


def batches_of(state):
    with h5py.File(state, "r") as f:
        return bytes(f["batches/paths"][()]).decode().split("\n")[:-1]


def test_stream_out_naming_the_state_a_batch_or_the_model_is_refused(tmp_path):
    b1, b2 = batch(tmp_path / "b1.h5", 1), batch(tmp_path / "b2.h5", 2)
    state = tmp_path / "s.h5"
    run_gradcore(stream([b1], state))
    refused(tmp_path, stream([b2], state, "--out", state), USAGE, ["--state", "--out", "same file"])
    refused(tmp_path, stream([b2], state, "--out", b2), USAGE, ["--out", "--batches"])
    model = write_model(tmp_path / "m.h5")
    refused(tmp_path, stream([b2], tmp_path / "s2.h5", "--model", model, "--out", model), USAGE, ["--model"])
    assert batches_of(state) == [str(b1)]


def test_stream_state_held_by_another_job_is_refused_at_once(tmp_path):
    b1 = batch(tmp_path / "b1.h5", 1)
    state = tmp_path / "s.h5"
    with open(f"{state}.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        start = time.time()
        refused(tmp_path, stream([b1], state), IO, ["--state", "in use by another gradcore job"])
        assert time.time() - start < 30
    run_gradcore(stream([b1], state))  # released: the stream goes on
    assert batches_of(state) == [str(b1)]


def test_two_concurrent_stream_jobs_never_lose_a_batch(tmp_path):
    """Started together on one state: either both run (one after the other) and the state holds both
    batches, or one is refused with the lock's line and the state holds exactly the other's."""
    b1, b2 = batch(tmp_path / "b1.h5", 1, n=3000), batch(tmp_path / "b2.h5", 2, n=3000)
    state = tmp_path / "s.h5"
    env = dict(os.environ, **MPI_ENV)
    procs = [subprocess.Popen(["mpirun", "-q", "--oversubscribe", "-np", "1", BIN] + [str(a) for a in
                              stream([b], state, "--method", "craig", "--slots", "2")], env=env,
                              stderr=subprocess.PIPE, text=True) for b in (b1, b2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    held = batches_of(state)
    ok = [b for b, (rc, _) in zip((b1, b2), results) if rc == 0]
    for rc, err in results:
        assert rc == 0 or (rc == IO and "in use by another gradcore job" in err), err
    assert sorted(held) == sorted(str(b) for b in ok) and ok


def test_a_batch_listed_twice_is_refused_even_as_a_copy(tmp_path):
    b1 = batch(tmp_path / "b1.h5", 1)
    copy = tmp_path / "copy.h5"
    copy.write_bytes(b1.read_bytes())
    state = tmp_path / "s.h5"
    refused(tmp_path, stream([b1, b1], state), USAGE, ["listed twice"], absent=[state])
    refused(tmp_path, stream([b1, copy], state), USAGE, ["listed twice", "copy.h5"], absent=[state])


def test_batches_are_recognised_by_contents_not_path(tmp_path):
    b1 = batch(tmp_path / "b1.h5", 1)
    state = tmp_path / "s.h5"
    run_gradcore(stream([b1], state))
    copy = tmp_path / "copy.h5"
    copy.write_bytes(b1.read_bytes())
    run_gradcore(stream([copy], state))  # the same contents: already in the stream
    assert batches_of(state) == [str(b1)]
    batch(b1, 7)  # the same path with new rows is a new batch
    run_gradcore(stream([b1], state))
    assert batches_of(state) == [str(b1), str(b1)]
    with h5py.File(state, "r") as f:
        assert f.attrs["seen"] == 80 and len(set(f["batches/content"][()])) == 2


def test_rerunning_a_finished_stream_rewrites_the_identical_coreset(tmp_path):
    b1, b2 = batch(tmp_path / "b1.h5", 1), batch(tmp_path / "b2.h5", 2)
    state, out = tmp_path / "s.h5", tmp_path / "c.h5"
    run_gradcore(stream([b1, b2], state, "--out", out))
    first = read_coreset(out)
    assert first["attrs"]["relative_gradient_error"] > 0
    run_gradcore(stream([b1, b2], state, "--out", out))  # nothing new
    again = read_coreset(out)
    for name in ("index", "weight", "label", "gain", "loss"):
        np.testing.assert_array_equal(again[name], first[name])
    for attr in ("relative_gradient_error", "random_subset_gradient_error", "objective", "N", "k"):
        assert again["attrs"][attr] == first["attrs"][attr], attr


def test_stream_state_is_bound_to_the_model_contents(tmp_path):
    b1, b2 = batch(tmp_path / "b1.h5", 1), batch(tmp_path / "b2.h5", 2)
    state = tmp_path / "s.h5"
    model = write_model(tmp_path / "m.h5")
    run_gradcore(stream([b1], state, "--embedding", "logits", "--model", model))
    moved = tmp_path / "moved.h5"
    moved.write_bytes(model.read_bytes())  # a copy elsewhere is the same model
    run_gradcore(stream([b1], state, "--embedding", "logits", "--model", moved))
    write_model(model, bias=np.ones(3, np.float32))  # new weights are another model
    refused(tmp_path, stream([b2], state, "--embedding", "logits", "--model", model), USAGE, ["--state", "other"])


# ---- checkpoints: bound to the data, locked ----

def test_checkpoint_of_changed_data_is_refused_not_resumed(tmp_path, data):
    ck, out = tmp_path / "ck", tmp_path / "c.h5"
    run_gradcore(select(data, "--out", out, "--checkpoint", ck))
    write_dataset(data, np.random.default_rng(9).normal(size=(60, 3)).astype(np.float32), np.arange(60) % 3,
                  num_classes=3)  # same shape, same options, other rows
    refused(tmp_path, select(data, "--out", out, "--checkpoint", ck), USAGE,
            ["--checkpoint", "other contents of the input files"])


def test_checkpoint_held_by_another_job_is_refused(tmp_path, data):
    ck = tmp_path / "ck"
    ck.mkdir()
    with open(ck / "lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        refused(tmp_path, select(data, "--out", tmp_path / "c.h5", "--checkpoint", ck), IO,
                ["--checkpoint", "in use by another gradcore job"], np_=2)


# ---- sizes, non-finite models, thread counts ----

def test_sizes_beyond_int_are_refused_naming_what(tmp_path, data):
    with h5py.File(tmp_path / "wide.h5", "w") as f:  # chunked and never written: no disk used
        f.create_dataset("X", shape=(4, 2**31 + 3), dtype=np.float32, chunks=(1, 1024))
        f["y"] = np.zeros(4, np.int32)
    refused(tmp_path, select(tmp_path / "wide.h5", "--out", tmp_path / "c.h5"), INPUT, ["/X", "2147483651 columns"])
    write_dataset(tmp_path / "c.h5.in", np.ones((4, 3), np.float32), np.zeros(4, np.int32), num_classes=2**31 + 5)
    refused(tmp_path, select(tmp_path / "c.h5.in", "--k", "2", "--out", tmp_path / "c.h5"), INPUT,
            ["num_classes", "2147483653"])
    with h5py.File(tmp_path / "huge_model.h5", "w") as f:
        f.create_dataset("layers/0/W", shape=(2**31 + 1, 3), dtype=np.float32, chunks=(1024, 3))
        f.create_dataset("layers/0/b", shape=(2**31 + 1,), dtype=np.float32, chunks=(1024,))
    refused(tmp_path, select(data, "--model", tmp_path / "huge_model.h5", "--out", tmp_path / "c.h5"), INPUT,
            ["/layers/0/W", "2147483649"])
    refused(tmp_path, ["select", "--data", data, "--k", "1e30", "--out", tmp_path / "c.h5"], USAGE,
            ["--k", "too large"])
    refused(tmp_path, select(data, "--partition-size", "99999999999999999999999", "--out", tmp_path / "c.h5"),
            USAGE, ["--partition-size", "outside"])


@pytest.mark.parametrize("where", ["W", "b"])
def test_a_model_with_a_non_finite_value_is_refused(tmp_path, data, where):
    model = write_model(tmp_path / "m.h5")
    with h5py.File(model, "r+") as f:
        f[f"layers/1/{where}"][0, ...] = np.nan if where == "W" else np.inf
    refused(tmp_path, select(data, "--model", model, "--out", tmp_path / "c.h5"), INPUT,
            ["m.h5", f"/layers/1/{where}", "not finite"])


def test_a_huge_thread_count_is_clamped_with_a_warning(tmp_path, data):
    env = dict(os.environ, **dict(MPI_ENV, OMP_NUM_THREADS="100000000"))
    proc = subprocess.run([BIN] + [str(a) for a in select(data, "--out", tmp_path / "c.h5")], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "OMP_NUM_THREADS" in proc.stderr and (tmp_path / "c.h5").exists()


# ---- HDF5 failures in words ----

def test_missing_filter_is_named(tmp_path):
    with h5py.File(tmp_path / "lzf.h5", "w") as f:  # h5py's own filter, absent from the C library
        f.create_dataset("X", data=np.ones((60, 3), np.float32), compression="lzf", chunks=(20, 3))
        f["y"] = np.zeros(60, np.int32)
    refused(tmp_path, select(tmp_path / "lzf.h5", "--out", tmp_path / "c.h5"), INPUT, ["lzf.h5", "/X", "'lzf'"])


def test_checksum_failure_is_named(tmp_path):
    X = np.random.default_rng(0).normal(size=(400, 4)).astype(np.float32)
    with h5py.File(tmp_path / "sum.h5", "w") as f:
        f.create_dataset("X", data=X, fletcher32=True, chunks=(100, 4))
        f["y"] = np.zeros(400, np.int32)
    raw = bytearray((tmp_path / "sum.h5").read_bytes())
    at = raw.find(X[150].tobytes())
    assert at > 0
    raw[at] ^= 0xFF
    (tmp_path / "sum.h5").write_bytes(bytes(raw))
    refused(tmp_path, select(tmp_path / "sum.h5", "--out", tmp_path / "c.h5"), INPUT,
            ["sum.h5", "/X", "checksum"], np_=2)


@pytest.fixture
def small_tmpfs(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN): the disk-full cases are not run")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=True)


def test_disk_full_is_named_and_leaves_the_previous_output(tmp_path, data, small_tmpfs):
    out = small_tmpfs / "c.h5"
    out.write_bytes(b"previous coreset")
    with open(small_tmpfs / "fill", "wb", buffering=0) as fill:  # every block taken
        try:
            while True:
                fill.write(b"\0" * 4096)
        except OSError:
            pass
    refused(tmp_path, select(data, "--out", out), IO, ["c.h5", "No space left on device"])
    refused(tmp_path, select(data, "--out", tmp_path / "c.h5", "--save-embeddings", small_tmpfs / "e.h5"), IO,
            ["--save-embeddings", "No space left on device"], np_=2, absent=[tmp_path / "c.h5"])
    refused(tmp_path, ["gen", "--out", small_tmpfs / "g.h5", "--n", "100000", "--d", "8"], IO,
            ["--out", "No space left on device"])
    assert out.read_bytes() == b"previous coreset"
