"""gradcore from Python: weighted gradient coresets of NumPy arrays, computed in this process by the
C library the `gradcore` command line is built from (no selector is implemented in Python).

    import gradcore
    cs = gradcore.select(E, y, k=100, method="gmc")      # E: [N, D] embeddings, y: [N] labels
    cs.index, cs.weight                                   # global rows and weights (sum = N)

`gradcore.torch` computes per-example gradient embeddings of a PyTorch model and trains on a coreset.
Under `mpirun`, pass `comm=MPI.COMM_WORLD` (mpi4py) and each rank's own rows: every rank gets the
same global coreset, the one `mpirun -np P gradcore select` writes for the same rows."""
import json

import numpy as np

from ._lib import DeviceRows, GradcoreError, comm_handle, comm_shape, row_range, select_embeddings
from .io import Coreset, EmbeddingsWriter, read_coreset, read_embeddings, write_dataset, write_embeddings

__version__ = "0.1.0"
__all__ = ["select", "shard", "Coreset", "GradcoreError", "read_coreset", "read_embeddings", "write_dataset",
           "write_embeddings", "EmbeddingsWriter", "METHODS"]

METHODS = ("craig", "adacore", "gmc", "gradmatch", "crest", "bico")


def _option_text(value):
    """A Python value as the CLI writes it: booleans on/off, floats in their shortest exact form."""
    if isinstance(value, (bool, np.bool_)):
        return "on" if value else "off"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return str(value)


def command_line(k=None, method="craig", **options):
    """The `gradcore select` long options of a select() call, in order: --k, --method, then the
    keyword options (underscores become dashes; None leaves an option at its default)."""
    argv = []
    for name, value in (("k", k), ("method", method), *options.items()):
        if value is not None:
            argv.append(f"--{name.replace('_', '-')}={_option_text(value)}")
    return argv


def select(embeddings, labels=None, k=None, method="craig", *, loss=None, classes=0, comm=None, **options):
    """A weighted coreset of the rows of `embeddings` ([n, D], float32), selected by the CLI's code.

    labels: [n] integers in [0, classes) (None: one class); classes: C (0: 1 + the largest label over
    all ranks); loss: [n] per-example losses (CREST's --exclude-loss; None: zeros); k: rows (int) or a
    percentage of N ("5%"); method: craig | adacore | gmc | gradmatch | crest | bico (the embedding half
    of the preset does not apply: these are the embeddings). Every other keyword is a long option of
    `gradcore select` with underscores for dashes, the same defaults and the same checks: per_class,
    partition_size, oversample, merge, stochastic, epsilon, subsets, subset_size, batch_size,
    exclude_loss, ridge, nonneg, tol, batch, refit, landmarks, gamma, bico_ridge, bico_weights, eig,
    seed, device, quiet, verbose, … Booleans may be given as True/False.

    comm: an mpi4py communicator. Collective: each rank passes its own contiguous rows, in rank order
    (rank r's rows follow rank r−1's in the global index), and every rank gets the same global coreset.
    Shards of any sizes work; those of shard(N, comm) are used where they are, others are moved there first.
    Without comm the arrays are the whole data (MPI_COMM_SELF), also in a process started by mpirun.

    The arrays may be NumPy arrays or PyTorch tensors. A tensor of embeddings on a CUDA device stays
    there: gradcore copies it within that GPU (it must be the GPU this rank selects on, cuda:0 of a
    plain process) and never through host memory, after waiting for the device's queued work
    (torch.cuda.synchronize); with device="cpu", or a shard that must move, it comes home first.

    Returns a Coreset (index: int64 global rows in selection order, weight: float64, label, gain,
    loss, objective, gradient_error, random_gradient_error, attrs). Raises GradcoreError carrying the
    CLI's one-line message and exit status on any failure (bad option, k > N, NaN in the rows, …)."""
    e = _cuda_rows(embeddings) if options.get("device") != "cpu" else None
    if e is None:
        e = np.ascontiguousarray(_host(embeddings), dtype=np.float32)
    if len(e.shape) != 2:
        raise ValueError(f"embeddings must be a 2-D array [n, D], not shape {e.shape}")
    n_local = e.shape[0]
    if labels is None:
        y = np.zeros(n_local, np.int32)
    else:
        labels = np.asarray(_host(labels))
        if not (np.issubdtype(labels.dtype, np.integer) and labels.shape == (n_local,)):
            raise ValueError(f"labels must be {n_local} integers (one per row), not {labels.dtype} {labels.shape}")
        if n_local and (labels.min() < 0 or labels.max() > np.iinfo(np.int32).max):
            raise ValueError("labels must lie in [0, 2^31)")
        y = np.ascontiguousarray(labels, dtype=np.int32)
    if loss is not None:
        loss = np.ascontiguousarray(_host(loss), dtype=np.float32)
        if loss.shape != (n_local,):
            raise ValueError(f"loss must be {n_local} values (one per row), not shape {loss.shape}")
    handle = comm_handle(comm)
    if comm is None:
        lo, n_global = 0, n_local
    else:
        lo = comm.exscan(n_local) or 0  # exscan leaves rank 0's result undefined (None in mpi4py)
        n_global = comm.allreduce(n_local)
        # Rows that must move to shard()'s split travel through host memory, on every rank alike.
        if comm.allreduce(int((lo, lo + n_local) != row_range(handle, n_global)), op=_max_op()):
            e = np.ascontiguousarray(_host(e.tensor), dtype=np.float32) if isinstance(e, DeviceRows) else e
    argv = command_line(k=k, method=method, **options)
    columns, (objective, gradient_error, random_error), text = select_embeddings(
        handle, n_global, lo, e, y, loss, int(classes), argv)
    return Coreset(objective=objective, gradient_error=gradient_error, random_gradient_error=random_error,
                   attrs=json.loads(text), **columns)


def _host(x):
    """A PyTorch tensor (on any device) as a NumPy array; anything else as it is."""
    if type(x).__module__.split(".")[0] == "torch":
        return x.detach().cpu().numpy()
    return x


def _cuda_rows(x):
    """DeviceRows of a PyTorch tensor on a CUDA device (float32, C-contiguous: converted on the device
    if need be), its queued work finished; None for anything else."""
    if type(x).__module__.split(".")[0] != "torch" or not x.is_cuda:
        return None
    import torch
    t = x.detach().to(torch.float32).contiguous()
    torch.cuda.synchronize(t.device)
    return DeviceRows(t)


def _max_op():
    from mpi4py import MPI
    return MPI.MAX


def shard(n, comm=None):
    """(lo, hi): the rows of n that this rank of comm holds in the selectors' own split (sizes differ by
    at most one, in rank order): shards laid out this way are selected on without being moved."""
    return row_range(comm_handle(comm), int(n))


def rank_and_size(comm=None):
    """(rank, size) of an mpi4py communicator as libgradcore sees it ((0, 1) for None)."""
    return comm_shape(comm_handle(comm))
