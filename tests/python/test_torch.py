"""gradcore.torch against plain autograd (one backward pass per example, never torch.func): the
last layer's gradient and ∂ℓ/∂z exactly, the projected gradient equal to R·∇θℓ for the documented R
and preserving inner products within the Johnson–Lindenstrauss bound; embeddings files the CLI
reads; training helpers whose weighted loss is the coreset's estimate of the mean loss."""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import gradcore  # noqa: E402
import gradcore.torch as gt  # noqa: E402

N, C = 48, 5


def mlp():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, C))


def cnn():
    """Batch norm and dropout: eval mode must make each row depend on its own example only."""
    torch.manual_seed(1)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                               torch.nn.Dropout(0.5), torch.nn.Flatten(), torch.nn.Linear(4 * 4 * 4, C))


def data(model):
    g = torch.Generator().manual_seed(2)
    shape = (N, 8) if isinstance(model[0], torch.nn.Linear) else (N, 1, 6, 6)
    return torch.randn(shape, generator=g), torch.randint(0, C, (N,), generator=g)


def loader(x, y, batch_size=10):
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=batch_size)


def autograd_gradients(model, x, y):
    """Per-example gradients of every parameter (named_parameters order), one backward each."""
    model.eval()
    rows = []
    for i in range(len(x)):
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(x[i:i + 1]), y[i:i + 1]).backward()
        rows.append({n: p.grad.detach().clone() for n, p in model.named_parameters()})
    model.train()
    return rows


@pytest.mark.parametrize("make", [mlp, cnn])
def test_lastlayer_equals_autograd(make):
    model = make()
    x, y = data(model)
    E, labels, loss = gt.embeddings(model, loader(x, y), kind="lastlayer")
    last = [n for n, m in model.named_modules() if m is gt.last_linear(model)][0]
    want = np.stack([torch.cat([g[f"{last}.weight"], g[f"{last}.bias"][:, None]], dim=1).reshape(-1).numpy()
                     for g in autograd_gradients(model, x, y)])
    assert E.shape == want.shape and E.dtype == np.float32
    np.testing.assert_allclose(E, want, rtol=1e-5, atol=1e-6 * np.abs(want).max())
    np.testing.assert_array_equal(labels, y.numpy())
    model.eval()
    np.testing.assert_allclose(loss, torch.nn.functional.cross_entropy(model(x), y, reduction="none")
                               .detach().numpy(), rtol=1e-6)


def test_logits_is_p_minus_onehot():
    model = mlp()
    x, y = data(model)
    E, _, _ = gt.embeddings(model, loader(x, y), kind="logits")
    p = torch.softmax(model(x), dim=1).detach().numpy()
    np.testing.assert_allclose(E, p - np.eye(C)[y.numpy()], rtol=1e-5, atol=1e-7)


def flat(gradients, model):
    return np.stack([torch.cat([g[n].reshape(-1) for n, _ in model.named_parameters()]).numpy()
                     for g in gradients])


@pytest.mark.parametrize("make", [mlp, cnn])
def test_projection_is_R_times_the_autograd_gradient(make):
    model = make()
    x, y = data(model)
    dim, seed = 64, 11
    E, _, _ = gt.embeddings(model, loader(x, y), kind="projected", dim=dim, seed=seed)
    shapes = {n: tuple(p.shape) for n, p in model.named_parameters()}
    R = gt.Projector(shapes, dim, seed).matrix().numpy()
    G = flat(autograd_gradients(model, x, y), model)
    assert R.shape == (G.shape[1], dim)
    np.testing.assert_allclose(E, G @ R, rtol=1e-4, atol=1e-5 * np.abs(G @ R).max())


def test_projection_preserves_inner_products_within_the_jl_bound():
    """For R with N(0, 1/dim) entries, with probability ≥ 1 − δ every pair of the n rows has
    |⟨Ru, Rv⟩ − ⟨u, v⟩| ≤ ε‖u‖‖v‖ with ε = sqrt(8 ln(n²/δ) / dim) (JL for inner products)."""
    model = cnn()
    x, y = data(model)
    dim, delta = 4096, 0.01
    E, _, _ = gt.embeddings(model, loader(x, y), kind="projected", dim=dim, seed=3)
    G = flat(autograd_gradients(model, x, y), model).astype(np.float64)
    assert G.shape[1] > 300  # a real reduction would need dim ≪ P; here the bound itself is the check
    eps = math.sqrt(8 * math.log(N * N / delta) / dim)
    norms = np.linalg.norm(G, axis=1)
    err = np.abs(E.astype(np.float64) @ E.T - G @ G.T) / np.outer(norms, norms)
    assert err.max() <= eps, (err.max(), eps)
    # and the projection is not a trivial one: the errors are of the size JL predicts, not zero
    assert err.max() > 0.1 * eps


def test_chunks_and_batches_do_not_change_the_rows():
    model = cnn()
    x, y = data(model)
    whole, _, _ = gt.embeddings(model, loader(x, y, batch_size=N), kind="projected", dim=32)
    pieces, _, _ = gt.embeddings(model, loader(x, y, batch_size=7), kind="projected", dim=32, memory_bytes=1)
    # float32 sums over P parameters in another blocking: equal to rounding, relative to the rows' scale
    np.testing.assert_allclose(pieces, whole, rtol=1e-5, atol=1e-5 * np.abs(whole).max())
    one, _, _ = gt.embeddings(model, loader(x, y, batch_size=1), kind="lastlayer")
    all_, _, _ = gt.embeddings(model, loader(x, y, batch_size=N), kind="lastlayer")
    np.testing.assert_allclose(one, all_, rtol=1e-5, atol=1e-7)
    assert model.training  # the caller's mode is restored


def test_embeddings_file_is_what_the_cli_selects_on(tmp_path, cli):
    model = mlp()
    x, y = data(model)
    path = gt.embeddings(model, loader(x, y), kind="projected", dim=16, out=tmp_path / "e.h5")
    E, labels, loss = gt.embeddings(model, loader(x, y), kind="projected", dim=16)
    got = gradcore.read_embeddings(path)
    for a, b in zip(got, (E, labels, loss)):
        np.testing.assert_array_equal(a, b)
    gradcore.write_dataset(tmp_path / "d.h5", x.numpy(), y.numpy(), num_classes=C)
    cli(["select", "--data", tmp_path / "d.h5", "--embeddings", path, "--method", "gmc", "--k", "10",
         "--per-class", "off", "--out", tmp_path / "c.h5", "--quiet"])
    cs = gradcore.select(E, labels, k=10, method="gmc", per_class=False)
    np.testing.assert_array_equal(cs.index, gradcore.read_coreset(tmp_path / "c.h5").index)


@pytest.mark.parametrize("method", ["craig", "gmc"])
def test_weighted_loss_on_the_coreset_estimates_the_mean_loss(method):
    """Over all coreset rows, the weighted mean loss is (1/N) Σⱼ γⱼ ℓⱼ: the coreset's estimate of the
    mean loss (gmc's least-squares weights do not sum to N, so the scale is checked too)."""
    model = mlp()
    x, y = data(model)
    dataset = torch.utils.data.TensorDataset(x, y)
    cs = gradcore.select(*gt.embeddings(model, loader(x, y), kind="logits")[:2], k=12, method=method)
    batches = list(gt.coreset_loader(dataset, cs, batch_size=len(cs), shuffle=False))
    assert len(batches) == 1
    xb, yb, wb = batches[0]
    np.testing.assert_array_equal(xb.numpy(), x[cs.index].numpy())
    np.testing.assert_array_equal(yb.numpy(), y[cs.index].numpy())
    model.eval()
    losses = torch.nn.functional.cross_entropy(model(x[cs.index]), y[cs.index], reduction="none").detach().numpy()
    want = float((cs.weight * losses).sum() / N)
    assert float(gt.weighted_loss(model(xb), yb, wb).detach()) == pytest.approx(want, rel=1e-5)


def test_tensors_in_and_out_select_what_the_arrays_select():
    """as_tensors=True gives the NumPy rows as tensors, and gradcore.select takes tensors (here on the
    CPU; tests/gpu/test_select_cuda.py takes them from a GPU) for the same coreset."""
    model = mlp()
    x, y = data(model)
    arrays = gt.embeddings(model, loader(x, y), kind="projected", dim=16)
    tensors = gt.embeddings(model, loader(x, y), kind="projected", dim=16, as_tensors=True)
    for a, t, dtype in zip(arrays, tensors, (torch.float32, torch.int32, torch.float32)):
        assert isinstance(t, torch.Tensor) and t.dtype == dtype
        np.testing.assert_array_equal(t.numpy(), a)
    want = gradcore.select(arrays[0], arrays[1], k=10, method="craig", loss=arrays[2])
    got = gradcore.select(tensors[0], tensors[1], k=10, method="craig", loss=tensors[2])
    np.testing.assert_array_equal(got.index, want.index)
    np.testing.assert_array_equal(got.weight, want.weight)
