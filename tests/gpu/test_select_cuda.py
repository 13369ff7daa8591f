"""Whole `gradcore select` runs on a GPU where E lives on the device alone (docs/design.md §3.2)
against runs that read host E and against the CPU backend: the same coreset, bit for bit.

Every selector (OMP, facility location, CREST, BiCo) reads E only through the backend, so `select
--device cuda` keeps no host copy; --save-embeddings keeps one as the device stores it (2 bytes a
value in bf16) only to write it, the passes still reading the device's; that file read back with
--embeddings goes up batch by batch and lives on the device alone too, and with --device-memory 0
it stays in host memory and every pass copies it up (the host path). The Python package's
gradcore.select (libgradcore, $GRADCORE_LIBRARY) takes a process's arrays the same two ways. The features embedding of synthetic rows is
the generator's bits on either backend, so there the CPU run is an independent check of the GPU's,
its saved file of the GPU's; the gmc embedding differs from the CPU's in its last bits, so it is
compared between the GPU's runs.

Runs only with GRADCORE_DEVICE=cuda (scripts/gpu.sh tests); skipped elsewhere."""
import os

import h5py
import numpy as np
import pytest

from conftest import MPI_ENV, assert_fp16_overflow_named, read_coreset, run_gradcore

pytestmark = pytest.mark.skipif(os.environ.get("GRADCORE_DEVICE") != "cuda", reason="needs GRADCORE_DEVICE=cuda")

DATA = "synthetic:n=200000,d=32,classes=10,seed=3,modes=4"
FL_DATA = DATA + ",duplicates=0"  # no near-copies: fewer near-ties in the greedies


def select(tmp_path, name, args, ranks=1, data=DATA):
    out = tmp_path / f"{name}.h5"
    proc = run_gradcore(["select", "--data", data, "--out", out] + args, np_=ranks)
    return read_coreset(out), proc.stderr


def assert_same(a, b):
    for field in ("index", "weight", "gain", "label"):
        np.testing.assert_array_equal(a[field], b[field], err_msg=field)


def embeddings_file(path):
    with h5py.File(path, "r") as f:
        return {name: f[name][()] for name in ("E", "y", "loss")}


WAYS = ("alone", "written", "file", "host")


def four_ways(tmp_path, name, args, ranks=1, data=DATA):
    """The job with E on the device alone; writing E (--save-embeddings: a host copy as stored, the
    passes on the device's); on that file's E, read up to the device alone; and on the file's E kept
    in host memory (--device-memory 0). All four the same coreset; returns the first and the file's
    path."""
    alone, log = select(tmp_path, f"{name}-alone", args, ranks, data)
    assert "kept there alone" in log
    e = tmp_path / f"{name}-e.h5"
    written, log = select(tmp_path, f"{name}-written", args + ["--save-embeddings", e], ranks, data)
    assert "a host copy as stored to write" in log
    file, log = select(tmp_path, f"{name}-file", args + ["--embeddings", e], ranks, data)
    assert "read from" in log and "kept on the device alone" in log
    host, log = select(tmp_path, f"{name}-host", args + ["--embeddings", e, "--device-memory", "0"], ranks, data)
    assert "read from" in log and "kept on the device alone" not in log
    for other in (written, file, host):
        assert_same(alone, other)
        assert alone["attrs"]["relative_gradient_error"] == other["attrs"]["relative_gradient_error"]
    return alone, e


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("ranks", [1, 2])
def test_features_on_the_device_alone_equal_the_cpu(tmp_path, precision, ranks):
    args = ["--embedding", "features", "--selector", "omp", "--k", "300", "--batch", "3", "--precision", precision]
    alone, written = four_ways(tmp_path, "gpu", args + ["--device", "cuda"], ranks)
    cpu, _ = select(tmp_path, "cpu", args + ["--device", "cpu", "--save-embeddings", tmp_path / "cpu-e.h5"], ranks)
    assert_same(alone, cpu)
    assert alone["attrs"]["relative_gradient_error"] == cpu["attrs"]["relative_gradient_error"]
    # The GPU's copy kept as stored (2 bytes a value in bf16), widened as it is written: the CPU's
    # float E of the same rounded values.
    gpu_file, cpu_file = embeddings_file(written), embeddings_file(tmp_path / "cpu-e.h5")
    for name in gpu_file:
        np.testing.assert_array_equal(gpu_file[name], cpu_file[name], err_msg=name)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_facility_location_on_the_device_alone_equals_host_e(tmp_path, precision):
    # Partitions of 1,500 rows: several a class, some straddling a rank boundary (three ranks cut
    # classes of ~20,000 rows off their partition grid), and the safeguard's sample below a class.
    args = ["--embedding", "features", "--selector", "fl", "--k", "1%", "--partition-size", "1500",
            "--safeguard-sample", "2000", "--precision", precision]
    first = None
    for ranks in (1, 2, 3):
        alone, _ = four_ways(tmp_path, f"np{ranks}", args + ["--device", "cuda"], ranks, FL_DATA)
        first = first or alone
        assert_same(alone, first)  # rank invariance
        assert alone["attrs"]["relative_gradient_error"] == first["attrs"]["relative_gradient_error"]
    # The CPU twin: the similarity constant (the radius pass) to the bit; the greedies' choices rest
    # on cuBLAS's and OpenBLAS's DGEMM rounding in near-ties (tests/gpu/test_fl_cuda.c compares them
    # where there are none), so the objective to its rounding.
    cpu, _ = select(tmp_path, "cpu", args + ["--device", "cpu"], 1, FL_DATA)
    assert first["attrs"]["similarity_constant"] == cpu["attrs"]["similarity_constant"]
    assert first["attrs"]["objective"] == pytest.approx(cpu["attrs"]["objective"], rel=1e-6)


def crest_batches(path):
    with h5py.File(path, "r") as f:
        return {name: f["crest"][name][()] for name in f["crest"]}


# CREST's subsets take their members' rows from the device, BiCo its landmarks, features and
# winners' rows: the same coreset (and CREST's batches) as on host E, at any rank count.
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("method, extra", [
    ("crest", ["--subsets", "12", "--subset-size", "3000", "--batch-size", "40"]),
    ("bico", ["--k", "60", "--landmarks", "300", "--batch", "4"]),
])
def test_crest_and_bico_on_the_device_alone_equal_host_e(tmp_path, precision, method, extra):
    args = ["--method", method, "--embedding", "features", "--precision", precision, "--device", "cuda"] + extra
    first = None
    for ranks in (1, 2):
        alone, _ = four_ways(tmp_path, f"np{ranks}", args, ranks)
        if method == "crest":
            a = crest_batches(tmp_path / f"np{ranks}-alone.h5")
            for way in WAYS[1:]:
                b = crest_batches(tmp_path / f"np{ranks}-{way}.h5")
                for name in a:
                    np.testing.assert_array_equal(a[name], b[name], err_msg=f"{way} {name}")
        first = first or alone
        assert_same(alone, first)  # rank invariance
        assert alone["attrs"]["relative_gradient_error"] == first["attrs"]["relative_gradient_error"]


def test_gmc_on_the_device_alone_equals_host_e(tmp_path):
    four_ways(tmp_path, "gmc", ["--method", "gmc", "--k", "200", "--device", "cuda"], 2)


def test_fp16_overflow_names_the_row_on_the_device(tmp_path):
    assert_fp16_overflow_named(tmp_path, 5000, 4321, ("--device", "cuda"))


def test_a_non_finite_value_in_an_embeddings_file_is_named_on_the_device(tmp_path):
    """The file's rows go to the device batch by batch: a NaN in one is one line naming the file, its
    row and column, exit 3, and no coreset."""
    _, e = four_ways(tmp_path, "ok", ["--method", "gmc", "--k", "50", "--device", "cuda"])
    with h5py.File(e, "a") as f:
        f["E"][123456, 7] = np.nan
    out = tmp_path / "bad.h5"
    proc = run_gradcore(["select", "--data", DATA, "--embeddings", e, "--method", "gmc", "--k", "50", "--device",
                         "cuda", "--out", out, "--quiet"], check=False)
    assert proc.returncode == 3
    assert "/E row 123456 column 7 is not finite" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists()


@pytest.fixture
def package():
    """The Python package over the bundle's libgradcore ($GRADCORE_LIBRARY, scripts/gpu.sh tests)."""
    if not os.environ.get("GRADCORE_LIBRARY"):
        pytest.skip("needs GRADCORE_LIBRARY (a CUDA build's libgradcore.so)")
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python"))
    import gradcore
    return gradcore


@pytest.mark.parametrize("method, extra", [("gmc", {}), ("craig", {"partition_size": 1500})])
def test_python_arrays_on_the_device_equal_the_cli(tmp_path, package, method, extra):
    """gradcore.select on a process's arrays, kept on the device alone and in host memory
    (device_memory=0): the coreset of `select --embeddings` on the same rows, bit for bit."""
    args = ["--method", method, "--k", "1%", "--device", "cuda"] + [f"--{k.replace('_', '-')}={v}"
                                                                     for k, v in extra.items()]
    cli, e = four_ways(tmp_path, method, args, data=FL_DATA)
    rows = embeddings_file(e)
    for where in ({}, {"device_memory": 0}):
        cs = package.select(rows["E"], rows["y"], k="1%", method=method, device="cuda", quiet=True,
                            timings=tmp_path / "t.json", **extra, **where)
        np.testing.assert_array_equal(cs.index, cli["index"])
        np.testing.assert_array_equal(cs.weight, cli["weight"])
        assert cs.gradient_error == cli["attrs"]["relative_gradient_error"]
    bad = rows["E"].copy()
    bad[4321, 5] = np.inf
    with pytest.raises(package.GradcoreError) as err:
        package.select(bad, rows["y"], k="1%", method=method, device="cuda", quiet=True)
    assert err.value.status == 3 and "row 4321" in str(err.value)


def test_python_tensors_on_the_gpu_equal_the_cli(tmp_path, package):
    """A CUDA tensor of embeddings is copied within the GPU (no host copy): the coreset of `select
    --embeddings` on the same rows; with device="cpu" it comes home and equals the NumPy arrays' CPU
    run; an infinity in it is named by its row."""
    torch = pytest.importorskip("torch")
    cli, e = four_ways(tmp_path, "gmc", ["--method", "gmc", "--k", "1%", "--device", "cuda"])
    rows = embeddings_file(e)
    E, y = torch.from_numpy(rows["E"]).cuda(), torch.from_numpy(rows["y"]).cuda()
    cs = package.select(E, y, k="1%", method="gmc", device="cuda", quiet=True, timings=tmp_path / "t.json")
    np.testing.assert_array_equal(cs.index, cli["index"])
    np.testing.assert_array_equal(cs.weight, cli["weight"])
    on_cpu = package.select(E, y, k="1%", method="gmc", device="cpu", quiet=True)
    want = package.select(rows["E"], rows["y"], k="1%", method="gmc", device="cpu", quiet=True)
    np.testing.assert_array_equal(on_cpu.index, want.index)
    np.testing.assert_array_equal(on_cpu.weight, want.weight)
    bad = E.clone()
    bad[4321, 5] = float("inf")
    with pytest.raises(package.GradcoreError) as err:
        package.select(bad, y, k="1%", method="gmc", device="cuda", quiet=True)
    assert err.value.status == 3 and "row 4321" in str(err.value)


@pytest.mark.parametrize("split", ["shard", "uneven"])
def test_python_tensors_on_each_ranks_gpu(tmp_path, package, split):
    """Two ranks, each with its rows as a tensor on its own GPU (mpi4py): in gradcore.shard's split
    they are copied within each GPU, in another they come home and move; either way the coreset of
    one process's arrays."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("mpi4py")
    if torch.cuda.device_count() < 2:
        pytest.skip("needs two GPUs")
    import json
    import subprocess
    import sys
    rng = np.random.default_rng(5)
    n = 60_000
    E = rng.normal(size=(n, 24)).astype(np.float32)
    y = rng.integers(0, 6, n).astype(np.int32)
    loss = rng.random(n).astype(np.float32)
    options = {"k": 300, "method": "gmc", "device": "cuda", "quiet": True}
    want = package.select(E, y, loss=loss, **options)
    np.savez(tmp_path / "in.npz", E=E, y=y, loss=loss)
    (tmp_path / "options.json").write_text(json.dumps(dict(options, tensor=True)))
    script = os.path.join(os.path.dirname(__file__), "..", "python", "select_ranks.py")
    proc = subprocess.run(["mpirun", "-q", "--oversubscribe", "-np", "2", sys.executable, script, tmp_path / "in.npz",
                           tmp_path / "out.npz", tmp_path / "options.json", split],
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, **MPI_ENV,
                                   PYTHONPATH=os.path.join(os.path.dirname(__file__), "..", "..", "python")))
    assert proc.returncode == 0, proc.stderr
    got = np.load(tmp_path / "out.npz")
    np.testing.assert_array_equal(got["index"], want.index)
    np.testing.assert_array_equal(got["weight"], want.weight)
