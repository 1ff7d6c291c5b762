"""Decompress a gzipped image straight into its final array (isal).

``nibabel.load(p).get_fdata()`` decompresses into a bytes buffer and then copies (and widens);
here the bytes land once in a preallocated numpy array, so peak memory is about the array
itself, and isal (about twice as fast as zlib) decompresses in a reader thread of its own.
"""

from __future__ import annotations

import sys
import threading

import numpy as np
from isal import igzip_threaded

MADV_POPULATE_WRITE = 23  # Linux 5.14; Python's mmap module names it from 3.13 on


def read_into(path, offset: int, shape, dtype, *, order: str = "F") -> np.ndarray:
    """Read ``prod(shape)`` items of ``dtype`` starting at byte ``offset`` of the
    *decompressed* stream of ``path``. The result is in ``order`` ('F' for NIfTI/MGH)."""
    streamed = StreamedRead(path, offset, shape, dtype, order=order)
    streamed.wait()
    return streamed.array


def populated(shape, dtype, order: str = "C") -> np.ndarray:
    """An uninitialised array for volumes over 16 MiB whose pages a background thread maps
    ahead of the decompressor (``MADV_POPULATE_WRITE``, 4 MiB at a time, without the GIL).
    On a virtual machine whose host hands out pages lazily (this project's CI machines) a page
    fault costs ~10 µs: the faults of a 200 MiB volume can cost as much as decompressing it,
    and here they are taken on the other core meanwhile. Same memory, same zero-filling."""
    import mmap

    nbytes = int(np.prod(shape)) * dtype.itemsize
    if nbytes < (1 << 24) or sys.platform != "linux":
        return np.empty(shape, dtype=dtype, order=order)
    m = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    threading.Thread(target=_populate, args=(m,), daemon=True, name="nora-populate").start()
    return np.frombuffer(m, dtype=dtype).reshape(shape, order=order)


def _populate(m, chunk=1 << 22) -> None:
    import ctypes

    madvise = ctypes.CDLL(None, use_errno=True).madvise  # ctypes releases the GIL
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
    for off in range(0, len(m), chunk):
        if madvise(addr + off, min(chunk, len(m) - off), MADV_POPULATE_WRITE):
            return  # a kernel before 5.14: the decompressor takes the page faults itself


class StreamedRead:
    """A gzip stream decompressed into ``array`` by a background thread.

    ``wait(nbytes)`` blocks until the first ``nbytes`` of the array are filled, and raises the
    thread's error (a truncated or corrupt file) if it stopped before that.
    """

    def __init__(self, path, offset: int, shape, dtype, *, order: str = "F", chunk=1 << 22):
        self.path = str(path)
        self.array = populated(shape, np.dtype(dtype), order)
        self._buf = memoryview(self.array.reshape(-1, order="A")).cast("B")
        self.nbytes = len(self._buf)
        self.done = 0
        self.error: Exception | None = None
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, args=(offset, chunk), daemon=True,
                                        name=f"nora-gunzip-{self.path}")
        self._thread.start()

    def _run(self, offset, chunk):
        try:
            with igzip_threaded.open(self.path, "rb", threads=1) as f:
                skip = offset
                while skip > 0:
                    got = len(f.read(min(skip, 1 << 20)))
                    if got == 0:
                        raise EOFError(f"{self.path}: file ends inside its header")
                    skip -= got
                pos = 0
                while pos < self.nbytes:
                    got = f.readinto(self._buf[pos: min(pos + chunk, self.nbytes)])
                    if not got:
                        raise EOFError(f"{self.path}: data truncated: expected {self.nbytes} "
                                       f"bytes of voxels, found {pos}")
                    pos += got
                    with self._cond:
                        self.done = pos
                        self._cond.notify_all()
        except Exception as exc:  # noqa: BLE001 - handed to the reader of the data
            with self._cond:
                self.error = exc
                self._cond.notify_all()

    def wait(self, nbytes: int | None = None) -> None:
        nbytes = self.nbytes if nbytes is None else min(int(nbytes), self.nbytes)
        with self._cond:
            while self.done < nbytes and self.error is None:
                self._cond.wait()
            if self.done < nbytes:
                raise self.error
