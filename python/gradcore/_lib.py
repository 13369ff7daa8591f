"""ctypes binding of libgradcore, the C library the `gradcore` CLI is built from (python/capi.c and
src/commands/select_api.h). Nothing here selects: every coreset comes from gc_select_embeddings.

The library is the one installed beside this file, or $GRADCORE_LIBRARY (a build tree's
libgradcore.so, for development). It is loaded RTLD_GLOBAL so that Open MPI's plugins, which it
dlopens at MPI_Init and which resolve symbols of libmpi, find them.

MPI: the first call starts MPI unless mpi4py (or anything else) already did; a process that started
it here finalizes it at exit. Communicators cross as Fortran handles (mpi4py's Comm.py2f())."""
import atexit
import ctypes
import os
from pathlib import Path

import numpy as np

STATUS_NAMES = {2: "usage", 3: "bad input", 4: "output not writable", 5: "no usable GPU", 6: "out of memory",
                7: "library failure", 8: "another rank failed"}


class GradcoreError(RuntimeError):
    """A failed gradcore call: `status` is the CLI's exit code for the same failure (2 usage, 3 bad
    input, 4 output not writable, 5 no usable GPU, 6 out of memory, 7 library failure, 8 another rank
    failed) and the message is the CLI's one line, without its "gradcore: error: " prefix."""

    def __init__(self, status, message):
        self.status = status
        super().__init__(message or f"gradcore failed with status {status} ({STATUS_NAMES.get(status, '?')})")


class _SelectResult(ctypes.Structure):
    """gc_select_result (src/commands/select_api.h), field for field."""
    _fields_ = [("k", ctypes.c_int64),
                ("index", ctypes.POINTER(ctypes.c_int64)),
                ("weight", ctypes.POINTER(ctypes.c_double)),
                ("label", ctypes.POINTER(ctypes.c_int32)),
                ("gain", ctypes.POINTER(ctypes.c_double)),
                ("loss", ctypes.POINTER(ctypes.c_float)),
                ("objective", ctypes.c_double),
                ("gradient_error", ctypes.c_double),
                ("random_gradient_error", ctypes.c_double),
                ("attributes_json", ctypes.c_char_p)]


def library_path():
    """Where libgradcore is loaded from: $GRADCORE_LIBRARY, else the copy installed in the package."""
    override = os.environ.get("GRADCORE_LIBRARY")
    return Path(override) if override else Path(__file__).resolve().parent / "libgradcore.so"


_lib = None
_started_mpi = False


def _load():
    global _lib
    if _lib is not None:
        return _lib
    path = library_path()
    if not path.exists():
        raise ImportError(f"gradcore: the C library {path} is missing (install the package with pip, or set "
                          "GRADCORE_LIBRARY to a build tree's libgradcore.so)")
    lib = ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
    c_int_p = ctypes.POINTER(ctypes.c_int)
    lib.gc_python_init.argtypes = [c_int_p]
    lib.gc_python_finalize.argtypes = []
    lib.gc_python_comm_self.restype = ctypes.c_int64
    lib.gc_python_comm_shape.argtypes = [ctypes.c_int64, c_int_p, c_int_p]
    lib.gc_python_row_range.argtypes = [ctypes.c_int64, ctypes.c_int64, ctypes.POINTER(ctypes.c_int64),
                                        ctypes.POINTER(ctypes.c_int64)]
    lib.gc_python_select.argtypes = [ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_int,
                                     ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                                     ctypes.c_int, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(_SelectResult)]
    lib.gc_select_result_free.argtypes = [ctypes.POINTER(_SelectResult)]
    lib.gc_select_result_free.restype = None
    lib.gc_error_message.restype = ctypes.c_char_p
    _lib = lib
    return lib


def _check(status):
    if status != 0:
        raise GradcoreError(status, _lib.gc_error_message().decode("utf-8", "replace"))


def ensure_mpi():
    """Starts MPI in this process if nothing has; returns the library."""
    global _started_mpi
    lib = _load()
    started = ctypes.c_int(0)
    _check(lib.gc_python_init(ctypes.byref(started)))
    if started.value and not _started_mpi:
        _started_mpi = True
        atexit.register(lambda: lib.gc_python_finalize())
    return lib


def comm_handle(comm):
    """The Fortran handle of an mpi4py communicator, or of MPI_COMM_SELF for None."""
    lib = ensure_mpi()
    if comm is None:
        return lib.gc_python_comm_self()
    if not hasattr(comm, "py2f"):
        raise TypeError(f"comm must be an mpi4py communicator (mpi4py.MPI.Comm), not {type(comm).__name__}")
    return comm.py2f()


def comm_shape(handle):
    """(rank, size) of a communicator handle."""
    rank, size = ctypes.c_int(0), ctypes.c_int(0)
    _check(_load().gc_python_comm_shape(handle, ctypes.byref(rank), ctypes.byref(size)))
    return rank.value, size.value


def row_range(handle, n):
    """[lo, hi) of n rows that this rank owns in the selectors' split."""
    lo, hi = ctypes.c_int64(0), ctypes.c_int64(0)
    _check(_load().gc_python_row_range(handle, n, ctypes.byref(lo), ctypes.byref(hi)))
    return lo.value, hi.value


class DeviceRows:
    """Rows in a CUDA device's memory: a C-contiguous float32 [n, D] tensor's data pointer and device
    ordinal, with the tensor kept alive for the call."""

    def __init__(self, tensor):
        self.tensor, self.shape = tensor, tuple(tensor.shape)
        self.pointer, self.device = tensor.data_ptr(), tensor.device.index


def select_embeddings(handle, n_global, lo, e, y, loss, classes, argv):
    """gc_select_embeddings on this rank's rows [lo, lo + len(e)); returns (columns, scalars, json):
    the coreset's arrays copied out of C memory, its three scalars and its attributes as JSON text.
    e: a C-contiguous float32 NumPy array, or a DeviceRows (a CUDA tensor's memory)."""
    lib = ensure_mpi()
    n_local, D = e.shape
    args = (ctypes.c_char_p * len(argv))(*[a.encode() for a in argv])
    result = _SelectResult()
    pointer, device = (e.pointer, e.device) if isinstance(e, DeviceRows) else (e.ctypes.data, -1)
    status = lib.gc_python_select(handle, n_global, lo, n_local, D, classes, pointer, device, y.ctypes.data,
                                  None if loss is None else loss.ctypes.data, len(argv), args,
                                  ctypes.byref(result))
    _check(status)
    try:
        k = result.k
        columns = {}
        for name, dtype in (("index", np.int64), ("weight", np.float64), ("label", np.int32), ("gain", np.float64),
                            ("loss", np.float32)):
            pointer = getattr(result, name)  # loss may be NULL: the rows came without one
            columns[name] = (np.ctypeslib.as_array(pointer, shape=(k,)).copy() if k > 0 and pointer
                             else np.zeros(k, dtype))
        scalars = (result.objective, result.gradient_error, result.random_gradient_error)
        text = result.attributes_json.decode() if result.attributes_json else "{}"
    finally:
        lib.gc_select_result_free(ctypes.byref(result))
    return columns, scalars, text
