"""Per-example gradient embeddings of your own PyTorch model, and training on a weighted coreset.

    E, y, loss = gradcore.torch.embeddings(model, loader, kind="projected", dim=512)
    cs = gradcore.select(E, y, k=200, method="craig")
    for x, t, w in gradcore.torch.coreset_loader(train_set, cs, batch_size=32, shuffle=True):
        gradcore.torch.weighted_loss(model(x), t, w).backward(); ...

Embedding kinds (row i is example i of the loader, in order):
- "logits": ∂ℓᵢ/∂z of the last nn.Linear's output z — for softmax cross entropy p − onehot(y), the
  CRAIG proxy (the CLI's `logits` embedding, of your network instead of an MLP proxy);
- "lastlayer": ∂ℓᵢ/∂(W, b) of the last nn.Linear, component c·(H+1) + j = ∂ℓᵢ/∂W_cj, j = H the bias
  (the CLI's `lastlayer` layout: (p − y) ⊗ [h; 1] for cross entropy);
- "projected": R·∇θℓᵢ, the gradient of every trainable parameter projected to `dim` columns by a
  Gaussian R with N(0, 1/dim) entries drawn from the seed (TRAK, Park et al. 2023; LoGra/LESS use the
  same random-projection idea), so ⟨Ru, Rv⟩ ≈ ⟨u, v⟩ within the Johnson–Lindenstrauss bound.
  Per-example gradients come from torch.func (vmap of grad) over chunks of examples and R is applied
  block by block on the model's device, so memory stays within `memory_bytes` whatever the model size.

Embeddings are computed with the model in eval mode (batch norm uses its running statistics, dropout
is off: a row must depend on its own example only) and the model's mode is restored afterwards.
With `out=PATH` they are written batch by batch to an embeddings file (/E, /y, /loss) that
`gradcore select --embeddings PATH` reads; otherwise they are returned as NumPy arrays."""
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call, grad_and_value, vmap

from .io import EmbeddingsWriter

KINDS = ("logits", "lastlayer", "projected")


def cross_entropy_per_example(output, target):
    """The default loss: softmax cross entropy of each example (reduction "none")."""
    return F.cross_entropy(output, target, reduction="none")


def last_linear(model):
    """The last nn.Linear among model.modules() (registration order): the layer that makes the logits."""
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    if not linears:
        raise ValueError("the model has no nn.Linear layer: pass layer= for the logits and lastlayer kinds")
    return linears[-1]


def _split(batch):
    if isinstance(batch, dict):
        return batch["x"] if "x" in batch else batch["input"], batch["y"] if "y" in batch else batch["label"]
    x, t = batch[0], batch[1]
    return x, t


class Projector:
    """y = R·g for flattened gradients g of the named parameters: R [P, dim] has N(0, 1/dim) entries,
    generated in blocks of rows (one generator seeded by (seed, block) per block, on `device`), so R
    never needs to exist whole; blocks are kept when all of R fits in `cache_bytes`."""

    def __init__(self, shapes, dim, seed=0, device="cpu", block_bytes=64 << 20, cache_bytes=1 << 30):
        self.dim, self.seed, self.device = int(dim), int(seed), torch.device(device)
        if self.dim < 1:
            raise ValueError(f"dim must be positive, not {dim}")
        rows = max(1, block_bytes // (4 * self.dim))
        self.blocks = []  # (parameter name, first row, last row, block number)
        for name, shape in shapes.items():
            size = math.prod(shape)
            for lo in range(0, size, rows):
                self.blocks.append((name, lo, min(size, lo + rows), len(self.blocks)))
        self.parameters = sum(math.prod(s) for s in shapes.values())
        self._cache = {} if self.parameters * self.dim * 4 <= cache_bytes else None

    def block(self, number, rows):
        if self._cache is not None and number in self._cache:
            return self._cache[number]
        gen = torch.Generator(device=self.device)
        gen.manual_seed((self.seed * 1_000_003 + number) % (1 << 63))
        r = torch.randn(rows, self.dim, generator=gen, device=self.device) / math.sqrt(self.dim)
        if self._cache is not None:
            self._cache[number] = r
        return r

    def matrix(self):
        """R itself [P, dim] (parameters in named order, each flattened): for tests on small models."""
        return torch.cat([self.block(n, hi - lo) for _, lo, hi, n in self.blocks])

    def __call__(self, grads):
        """grads: name → [B, *shape] per-example gradients; returns [B, dim]."""
        first = next(iter(grads.values()))
        out = torch.zeros(first.shape[0], self.dim, device=self.device, dtype=torch.float32)
        for name, lo, hi, number in self.blocks:
            g = grads[name].reshape(first.shape[0], -1)[:, lo:hi].to(torch.float32)
            out += g @ self.block(number, hi - lo)
        return out


def embeddings(model, loader, kind="projected", dim=1024, *, out=None, loss_fn=cross_entropy_per_example,
               layer=None, seed=0, device=None, memory_bytes=256 << 20, as_tensors=False):
    """Per-example gradient embeddings of `model` over `loader` (batches of (inputs, targets), or dicts
    with "x"/"y"), in the loader's order. kind: "logits", "lastlayer" or "projected" (module docstring);
    dim: columns of "projected"; loss_fn(output, target) → per-example losses [B]; layer: the nn.Linear
    of "logits"/"lastlayer" (default: the last one); device: where to compute (default: the model's);
    memory_bytes: bound on the per-example gradients held at once ("projected").

    Returns (E float32 [N, D], y int32 [N], loss float32 [N]) as NumPy arrays, or with as_tensors=True
    as tensors on the device they were computed on (gradcore.select then takes E from that GPU without
    a trip through host memory), or with out=PATH writes them batch by batch to that embeddings file
    and returns PATH."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    writer, parts = None, []
    try:
        if kind == "projected":
            compute = _ProjectedGradients(model, dim, seed, device, loss_fn, memory_bytes)
        else:
            compute = _LastLayerGradients(model, layer or last_linear(model), kind, loss_fn)
        for batch in loader:
            x, t = _split(batch)
            e, losses = compute(x.to(device), t.to(device))
            if as_tensors and out is None:
                parts.append((e.detach(), t.to(device), losses.detach()))
                continue
            rows = (e.detach().cpu().numpy(), t.cpu().numpy(), losses.detach().cpu().numpy())
            if out is not None:
                if writer is None:
                    writer = EmbeddingsWriter(out, rows[0].shape[1])
                writer.append(*rows)
            else:
                parts.append(rows)
    except BaseException:
        if writer is not None:
            writer.close(ok=False)
        raise
    finally:
        model.train(was_training)
    if out is not None:
        if writer is None:
            raise ValueError("the loader yielded no batch")
        writer.close()
        return out
    if not parts:
        raise ValueError("the loader yielded no batch")
    if as_tensors:
        return tuple(torch.cat([p[i] for p in parts]).to(dt)
                     for i, dt in enumerate((torch.float32, torch.int32, torch.float32)))
    return tuple(np.concatenate([p[i] for p in parts]).astype(dt)
                 for i, dt in enumerate((np.float32, np.int32, np.float32)))


class _LastLayerGradients:
    """∂ℓᵢ/∂z (and ⊗ [h; 1]) of one nn.Linear for a batch, from one backward pass: in eval mode row i
    of z influences only ℓᵢ, so the gradient of Σᵢ ℓᵢ with respect to z holds every ∂ℓᵢ/∂zᵢ."""

    def __init__(self, model, layer, kind, loss_fn):
        self.model, self.layer, self.kind, self.loss_fn = model, layer, kind, loss_fn

    def __call__(self, x, t):
        seen = {}

        def hook(module, inputs, output):
            seen["h"], seen["z"] = inputs[0], output

        handle = self.layer.register_forward_hook(hook)
        try:
            with torch.enable_grad():
                output = self.model(x)
                if "z" not in seen:
                    raise ValueError("the chosen nn.Linear was not called in the forward pass")
                losses = self.loss_fn(output, t)
                (g,) = torch.autograd.grad(losses.sum(), seen["z"])
        finally:
            handle.remove()
        g = g.reshape(g.shape[0], -1)
        if self.kind == "logits":
            return g, losses
        h = seen["h"].detach().reshape(g.shape[0], -1)
        if self.layer.bias is not None:
            h = torch.cat([h, torch.ones(h.shape[0], 1, device=h.device, dtype=h.dtype)], dim=1)
        return (g[:, :, None] * h[:, None, :]).reshape(g.shape[0], -1), losses


class _ProjectedGradients:
    """R·∇θℓᵢ for a batch, in chunks of examples whose per-example gradients fit memory_bytes."""

    def __init__(self, model, dim, seed, device, loss_fn, memory_bytes):
        self.params = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
        self.buffers = {n: b.detach() for n, b in model.named_buffers()}
        shapes = {n: tuple(p.shape) for n, p in self.params.items()}
        self.project = Projector(shapes, dim, seed, device)
        self.chunk = max(1, memory_bytes // (4 * max(1, self.project.parameters)))

        def example_loss(params, x, t):
            output = functional_call(model, (params, self.buffers), (x.unsqueeze(0),))
            return loss_fn(output, t.unsqueeze(0)).sum()

        self.per_example = vmap(grad_and_value(example_loss), in_dims=(None, 0, 0))

    def __call__(self, x, t):
        es, losses = [], []
        for lo in range(0, x.shape[0], self.chunk):
            grads, loss = self.per_example(self.params, x[lo:lo + self.chunk], t[lo:lo + self.chunk])
            es.append(self.project(grads))
            losses.append(loss)
        return torch.cat(es), torch.cat(losses)


class CoresetDataset(torch.utils.data.Dataset):
    """The coreset's rows of `dataset` (all N rows) with their weights: item j is (x, y, w) for global
    row coreset.index[j], w = γⱼ·k/N. Then the mean of wⱼℓⱼ over a uniformly drawn batch of coreset
    rows estimates (1/N) Σⱼ γⱼ ℓⱼ, whose gradient the coreset makes match the mean gradient over all N
    rows. (Facility-location weights sum to N, so there w has mean 1; OMP's least-squares weights
    need not, and keep their scale.)"""

    def __init__(self, dataset, coreset):
        self.dataset = dataset
        self.index = np.asarray(coreset.index, dtype=np.int64)
        self.weight = (np.asarray(coreset.weight, dtype=np.float64) * len(self.index) / len(dataset)).astype(
            np.float32)

    def __len__(self):
        return len(self.index)

    def __getitem__(self, j):
        x, t = _split(self.dataset[int(self.index[j])])
        return x, t, torch.tensor(self.weight[j])


def coreset_loader(dataset, coreset, batch_size=32, shuffle=True, **loader_options):
    """A DataLoader over CoresetDataset(dataset, coreset): batches of (x, y, w)."""
    return torch.utils.data.DataLoader(CoresetDataset(dataset, coreset), batch_size=batch_size, shuffle=shuffle,
                                       **loader_options)


def weighted_loss(output, target, weight, loss_fn=cross_entropy_per_example):
    """mean over the batch of wᵢ·ℓᵢ: the loss to minimise on coreset batches (CRAIG's weighted steps)."""
    return (weight.to(output.dtype) * loss_fn(output, target)).mean()
