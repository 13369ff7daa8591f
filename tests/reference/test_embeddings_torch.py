"""Every embedding kind (docs/design.md §3) against per-example gradients from PyTorch, in float64:
logits = ∂ℓ/∂z, lastlayer = ∂ℓ/∂(W_L, b_L) flattened as component c·(H+1) + j, adacore = ∂ℓ/∂z ⊘
(p(1−p) + δ), and the Kronecker sketch (lastlayer --sketch, gmc) = (R1 ⊗ R2)·lastlayer with R1, R2
rebuilt here from the documented RNG counters. Per-example gradients come from torch.func.grad +
vmap, never from gradcore's formulas. The model reaches gradcore through tools/export_model.py, the
embeddings come back through --save-embeddings written by 2 ranks, and gmc's init draws are rebuilt
here from gradcore's documented initialisation (PyTorch's default U(±1/sqrt(fan_in))).

Environment: GRADCORE_BIN (default <repo>/build/gradcore), GRADCORE_DEVICE (default cpu; cuda on
a GPU machine checks the CUDA backend against the same oracles)."""
import copy
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch.func import functional_call, grad, vmap  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
BIN = os.environ.get("GRADCORE_BIN", str(REPO / "build" / "gradcore"))
DEVICE = os.environ.get("GRADCORE_DEVICE", "cpu")
sys.path.insert(0, str(REPO / "tools"))
from export_model import export_sequential  # noqa: E402

N, D_IN, C, SEED, DAMPING = 96, 8, 5, 7, 0.01
# gradcore computes in float32: float32 rounding through three layers (seen: ≤ 6e-7), relative to a row's scale.
RTOL = 1e-5


def run_gradcore(args, ranks=2):
    mpirun = shutil.which("mpirun")
    launcher = []  # without mpirun: one rank, started directly
    if mpirun:
        launcher = [mpirun, "-q", "--oversubscribe", "-np", str(ranks)]
        launcher += ["--allow-run-as-root"] if os.geteuid() == 0 else []
    cmd = launcher + [BIN] + [str(a) for a in args]
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"


# --- gradcore's counter-based RNG (core/rng.h), for the sketch signs and the init draws ---------
MASK = (1 << 64) - 1
STREAM_MODEL, STREAM_SKETCH = 7, 10


def mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def rng_u64(seed, stream, counter):
    key = mix64((seed * 0x9E3779B97F4A7C15 + stream * 0xD1B54A32D192ED03 + 1) & MASK)
    return mix64(key ^ mix64((counter + 0x632BE59BD9B4E019) & MASK))


def rng_uniform(seed, stream, counter):
    return ((rng_u64(seed, stream, counter) >> 11) + 0.5) / 9007199254740992.0


def sketch_factors(D, classes, width_b):
    """D1 = the divisor of D nearest sqrt(D·C/(H+1)) on a log scale, ties to the smaller (backend.h)."""
    target, best, D1 = 0.5 * math.log(D * classes / width_b), math.inf, 1
    for f in range(1, D + 1):
        if D % f == 0 and abs(math.log(f) - target) < best - 1e-12:
            best, D1 = abs(math.log(f) - target), f
    return D1, D // D1


def kronecker_sketch(seed, draw, D, classes, width_b):
    """The materialised R1 ⊗ R2 [D × C·(H+1)]: R1[p][c] = ±1/sqrt(D1) from counter
    draw<<40 | p·C + c, R2[q][j] = ±1/sqrt(D2) from draw<<40 | 1<<39 | q·(H+1) + j."""
    D1, D2 = sketch_factors(D, classes, width_b)

    def factor(rows, cols, tag):
        signs = [[-1.0 if rng_u64(seed, STREAM_SKETCH, (draw << 40) | tag | (r * cols + c)) >> 63 else 1.0
                  for c in range(cols)] for r in range(rows)]
        return np.array(signs) / math.sqrt(rows)

    return np.kron(factor(D1, classes, 0), factor(D2, width_b, 1 << 39))


def init_draw(widths, seed, draw):
    """gc_model_init_draw: ReLU MLP, W then b of each layer ~ U(−1/sqrt(fan_in), 1/sqrt(fan_in))."""
    draw_seed = mix64((seed + 0x5851F42D4C957F2D * (draw + 1)) & MASK)
    counter, modules = 0, []
    for fan_in, fan_out in zip(widths[:-1], widths[1:]):
        lin = torch.nn.Linear(fan_in, fan_out)
        bound = 1.0 / math.sqrt(fan_in)
        values = []
        for _ in range(fan_out * fan_in + fan_out):
            values.append((2.0 * rng_uniform(draw_seed, STREAM_MODEL, counter) - 1.0) * bound)
            counter += 1
        values = np.float32(values)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(values[: fan_out * fan_in].reshape(fan_out, fan_in)))
            lin.bias.copy_(torch.from_numpy(values[fan_out * fan_in:]))
        modules += [lin, torch.nn.ReLU()]
    return torch.nn.Sequential(*modules[:-1])


# --- the oracle: per-example gradients by torch.func ------------------------------------------------
def torch_embeddings(model, X, y):
    """float64 per-example logits gradient, last-layer gradient [N, C·(H+1)], softmax and loss."""
    m64 = copy.deepcopy(model).to(torch.float64)
    params = {k: v.detach() for k, v in m64.named_parameters()}
    last = [name for name, mod in m64.named_modules() if isinstance(mod, torch.nn.Linear)][-1]
    X64, y64 = torch.from_numpy(X).double(), torch.from_numpy(y).long()

    def loss_params(p, x, t):
        return torch.nn.functional.cross_entropy(functional_call(m64, p, (x[None],)), t[None])

    def loss_logits(z, t):
        return torch.nn.functional.cross_entropy(z[None], t[None])

    g = vmap(grad(loss_params), in_dims=(None, 0, 0))(params, X64, y64)
    lastlayer = torch.cat([g[f"{last}.weight"], g[f"{last}.bias"][:, :, None]], dim=2).reshape(len(X), -1)
    with torch.no_grad():
        z = m64(X64)
    logits = vmap(grad(loss_logits))(z, y64)
    p = torch.softmax(z, dim=1)
    loss = torch.nn.functional.cross_entropy(z, y64, reduction="none")
    return {k: v.numpy() for k, v in dict(logits=logits, lastlayer=lastlayer, p=p, loss=loss).items()}


def assert_rows_close(E, ref, rtol=RTOL):
    scale = np.maximum(np.abs(ref).max(axis=1, keepdims=True), 1e-30)
    worst = (np.abs(E - ref) / scale).max()
    assert worst <= rtol, f"max row-relative error {worst:.3g} > {rtol}"


@pytest.fixture(scope="module")
def problem(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("embed")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(D_IN, 16), torch.nn.Tanh(), torch.nn.Linear(16, 12), torch.nn.Tanh(),
                                torch.nn.Linear(12, C))
    rng = np.random.default_rng(3)
    X = (rng.normal(size=(N, D_IN)) * 1.5).astype(np.float32)
    y = rng.integers(0, C, N).astype(np.int32)
    with h5py.File(tmp / "data.h5", "w") as f:
        f["X"], f["y"] = X, y
        f.attrs["num_classes"] = C
    assert export_sequential(model, tmp / "model.h5") == "tanh"
    return dict(tmp=tmp, model=model, X=X, y=y, ref=torch_embeddings(model, X, y))


def gradcore_embeddings(problem, name, *options):
    tmp = problem["tmp"]
    out = tmp / f"{name}.h5"
    run_gradcore(["select", "--data", tmp / "data.h5", "--k", 5, "--seed", SEED, "--device", DEVICE,
                  "--hessian-damping", DAMPING, "--out", tmp / f"{name}-coreset.h5", "--save-embeddings", out,
                  "--quiet", *options])
    with h5py.File(out, "r") as f:
        return f["E"][()], f["y"][()], f["loss"][()]


def test_features_are_the_inputs(problem):
    E, y, _ = gradcore_embeddings(problem, "features", "--embedding", "features")
    np.testing.assert_array_equal(E, problem["X"])
    np.testing.assert_array_equal(y, problem["y"])


@pytest.mark.parametrize("kind", ["logits", "lastlayer", "adacore"])
def test_gradient_embeddings_equal_torch_per_example_gradients(problem, kind):
    E, y, loss = gradcore_embeddings(problem, kind, "--model", problem["tmp"] / "model.h5", "--embedding", kind)
    ref = problem["ref"]
    expected = {"logits": ref["logits"], "lastlayer": ref["lastlayer"],
                "adacore": ref["logits"] / (ref["p"] * (1 - ref["p"]) + DAMPING)}[kind]
    assert E.shape == expected.shape
    assert_rows_close(E, expected)
    np.testing.assert_allclose(loss, ref["loss"], rtol=RTOL)
    np.testing.assert_array_equal(y, problem["y"])


def test_sketched_lastlayer_is_the_kronecker_projection_of_the_gradient(problem):
    D = 20  # C·(H+1) = 65: factors 2 × 10
    E, _, _ = gradcore_embeddings(problem, "sketch", "--model", problem["tmp"] / "model.h5", "--embedding",
                                  "lastlayer", "--sketch", D)
    K = kronecker_sketch(SEED, 0, D, C, 13)
    assert_rows_close(E, problem["ref"]["lastlayer"] @ K.T)


def test_gmc_concatenates_sketched_gradients_of_the_init_draws(problem):
    draws, d = 3, 24
    E, _, loss = gradcore_embeddings(problem, "gmc", "--init-draws", draws, "--hidden", 16, "--embedding", "gmc",
                                     "--sketch", d)
    assert E.shape == (N, draws * d)
    mean_loss = np.zeros(N)
    for s in range(draws):
        ref = torch_embeddings(init_draw([D_IN, 16, C], SEED, s), problem["X"], problem["y"])
        assert_rows_close(E[:, s * d:(s + 1) * d], ref["lastlayer"] @ kronecker_sketch(SEED, s, d, C, 17).T)
        mean_loss += ref["loss"] / draws
    np.testing.assert_allclose(loss, mean_loss, rtol=RTOL)


def test_saved_embeddings_read_back_give_the_same_coreset(problem):
    tmp = problem["tmp"]
    gradcore_embeddings(problem, "again", "--model", tmp / "model.h5", "--embedding", "lastlayer")
    run_gradcore(["select", "--data", tmp / "data.h5", "--k", 5, "--seed", SEED, "--embeddings", tmp / "again.h5",
                  "--out", tmp / "from-file.h5", "--quiet"], ranks=3)
    with h5py.File(tmp / "again-coreset.h5", "r") as a, h5py.File(tmp / "from-file.h5", "r") as b:
        np.testing.assert_array_equal(a["coreset/index"][()], b["coreset/index"][()])
        np.testing.assert_array_equal(a["coreset/weight"][()], b["coreset/weight"][()])


@pytest.mark.parametrize("layers, message", [
    (lambda nn: [nn.Linear(4, 3), nn.Sigmoid(), nn.Linear(3, 2)], "not Linear"),
    (lambda nn: [nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 3), nn.Tanh(), nn.Linear(3, 2)], "mixes activations"),
    (lambda nn: [nn.Linear(4, 3), nn.GELU(approximate="tanh"), nn.Linear(3, 2)], "exact erf"),
    (lambda nn: [nn.Linear(4, 3), nn.ReLU()], "ends in an activation"),
])
def test_export_refuses_what_gradcore_cannot_run(tmp_path, layers, message):
    with pytest.raises(ValueError, match=message):
        export_sequential(torch.nn.Sequential(*layers(torch.nn)), tmp_path / "m.h5")
