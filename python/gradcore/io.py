"""gradcore's HDF5 files from Python (the formats of the README's "Files" section):

- dataset: /X float32 [N, d], /y int32 [N], optional /ids int64, optional attribute num_classes;
- embeddings: /E float32 [N, D], /y int32 [N], /loss float32 [N] (`gradcore select --embeddings`);
- coreset: /coreset/{index, weight, label, gain, loss} and root attributes (what `select --out` writes).

Every writer fills "<path>.tmp.<pid>" and renames it, like the CLI: an interrupted write never
leaves a partial file and never touches an existing one."""
import os
from dataclasses import dataclass, field

import h5py
import numpy as np


@dataclass
class Coreset:
    """A weighted coreset: global rows in selection order and their weights (which sum to N), labels,
    marginal gains and losses, the run's objective and relative gradient errors (of the coreset, and
    the mean over 5 uniform random subsets of the same size), and every attribute of the run."""
    index: np.ndarray
    weight: np.ndarray
    label: np.ndarray
    gain: np.ndarray
    loss: np.ndarray
    objective: float
    gradient_error: float
    random_gradient_error: float
    attrs: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # other datasets of the file: "crest/batch_index", "bico/landmark_index"

    def __len__(self):
        return len(self.index)


def _decode(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.shape == ():
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    return value


def read_coreset(path):
    """The coreset file that `gradcore select --out` or `gradcore stream --out` wrote."""
    with h5py.File(path, "r") as f:
        if "coreset" not in f:
            raise ValueError(f"{path}: no /coreset group (not a gradcore coreset file)")
        cols = {name: f["coreset"][name][()] for name in ("index", "weight", "label", "gain", "loss")}
        attrs = {name: _decode(value) for name, value in f.attrs.items()}
        extra = {}
        f.visititems(lambda name, obj: extra.__setitem__(name, obj[()])
                     if isinstance(obj, h5py.Dataset) and not name.startswith("coreset/") else None)
    return Coreset(index=cols["index"].astype(np.int64), weight=cols["weight"].astype(np.float64),
                   label=cols["label"].astype(np.int32), gain=cols["gain"].astype(np.float64),
                   loss=cols["loss"].astype(np.float32), objective=float(attrs.get("objective", np.nan)),
                   gradient_error=float(attrs.get("relative_gradient_error", np.nan)),
                   random_gradient_error=float(attrs.get("random_subset_gradient_error", np.nan)),
                   attrs=attrs, extra=extra)


def _rows(name, a, dtype, n=None, ndim=1):
    a = np.ascontiguousarray(a, dtype=dtype)
    if a.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), not shape {a.shape}")
    if n is not None and a.shape[0] != n:
        raise ValueError(f"{name} has {a.shape[0]} rows but X/E has {n}")
    return a


def _labels(y, n):
    y = np.asarray(y)
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be integers, not {y.dtype}")
    if y.size and (y.min() < 0 or y.max() > np.iinfo(np.int32).max):
        raise ValueError("labels must lie in [0, 2^31)")
    return _rows("y", y, np.int32, n)


class _AtomicFile:
    """An h5py file written under "<path>.tmp.<pid>" and renamed over path when closed without error."""

    def __init__(self, path):
        self.path = os.fspath(path)
        self.tmp = f"{self.path}.tmp.{os.getpid()}"
        self.file = h5py.File(self.tmp, "w")

    def commit(self, ok=True):
        self.file.close()
        if ok:
            os.replace(self.tmp, self.path)
        elif os.path.exists(self.tmp):
            os.unlink(self.tmp)

    def __enter__(self):
        return self.file

    def __exit__(self, exc_type, exc, tb):
        self.commit(exc_type is None)


def write_dataset(path, X, y, num_classes=None, ids=None, chunk_rows=None, compression=None):
    """A dataset file for `gradcore select --data`: X [N, d] as float32, y [N] as int32 in [0, C)."""
    X = _rows("X", X, np.float32, ndim=2)
    y = _labels(y, X.shape[0])
    chunks = None if chunk_rows is None else (min(chunk_rows, max(1, X.shape[0])), X.shape[1])
    with _AtomicFile(path) as f:
        f.create_dataset("X", data=X, chunks=chunks, compression=compression)
        f.create_dataset("y", data=y, chunks=None if chunks is None else chunks[:1], compression=compression)
        if ids is not None:
            f.create_dataset("ids", data=_rows("ids", ids, np.int64, X.shape[0]))
        if num_classes is not None:
            f.attrs["num_classes"] = int(num_classes)


class EmbeddingsWriter:
    """Writes an embeddings file batch by batch: rows are appended in global order, so at no time is
    more than one batch held. `close()` (or leaving a `with` block without an error) renames the
    finished file into place; an error leaves no file."""

    def __init__(self, path, dim, chunk_rows=4096):
        self._atomic = _AtomicFile(path)
        f = self._atomic.file
        self.dim, self.rows = int(dim), 0
        self._E = f.create_dataset("E", shape=(0, self.dim), maxshape=(None, self.dim), dtype=np.float32,
                                   chunks=(chunk_rows, self.dim))
        self._y = f.create_dataset("y", shape=(0,), maxshape=(None,), dtype=np.int32, chunks=(chunk_rows,))
        self._loss = f.create_dataset("loss", shape=(0,), maxshape=(None,), dtype=np.float32, chunks=(chunk_rows,))

    def append(self, E, y, loss=None):
        E = _rows("E", E, np.float32, ndim=2)
        if E.shape[1] != self.dim:
            raise ValueError(f"E has {E.shape[1]} columns, the file {self.dim}")
        n = E.shape[0]
        y = _labels(y, n)
        loss = np.zeros(n, np.float32) if loss is None else _rows("loss", loss, np.float32, n)
        lo, hi = self.rows, self.rows + n
        for dset, rows in ((self._E, E), (self._y, y), (self._loss, loss)):
            dset.resize(hi, axis=0)
            dset[lo:hi] = rows
        self.rows = hi

    def close(self, ok=True):
        self._atomic.commit(ok)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close(exc_type is None)


def write_embeddings(path, E, y, loss=None):
    """An embeddings file for `gradcore select --embeddings` (rows = the --data file's rows)."""
    E = _rows("E", E, np.float32, ndim=2)
    with EmbeddingsWriter(path, E.shape[1], chunk_rows=max(1, min(4096, E.shape[0]))) as w:
        w.append(E, y, loss)


def read_embeddings(path):
    """(E, y, loss) of an embeddings file (loss is zeros when the file has none)."""
    with h5py.File(path, "r") as f:
        E = f["E"][()].astype(np.float32)
        y = f["y"][()].astype(np.int32)
        loss = f["loss"][()].astype(np.float32) if "loss" in f else np.zeros(len(y), np.float32)
    return E, y, loss
