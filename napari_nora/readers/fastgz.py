"""Decompress a gzipped image straight into its final array (isal, multithreaded).

``nibabel.load(p).get_fdata()`` decompresses into a bytes buffer and then copies (and widens);
here the bytes land once in a preallocated numpy array, so peak memory is about the array
itself, and isal's threaded reader decompresses while we copy.
"""

from __future__ import annotations

import numpy as np
from isal import igzip_threaded


def read_into(path, offset: int, shape, dtype, *, order: str = "F") -> np.ndarray:
    """Read ``prod(shape)`` items of ``dtype`` starting at byte ``offset`` of the
    *decompressed* stream of ``path``. The result is in ``order`` ('F' for NIfTI/MGH)."""
    dtype = np.dtype(dtype)
    out = np.empty(shape, dtype=dtype, order=order)
    buf = memoryview(out.reshape(-1, order="A")).cast("B")
    with igzip_threaded.open(path, "rb", threads=1) as f:
        skip = offset
        while skip > 0:
            got = len(f.read(min(skip, 1 << 20)))
            if got == 0:
                raise EOFError(f"{path}: file ends inside its header")
            skip -= got
        pos, n = 0, len(buf)
        while pos < n:
            got = f.readinto(buf[pos:])
            if not got:
                raise EOFError(
                    f"{path}: data truncated: expected {n} bytes of voxels, found {pos}"
                )
            pos += got
    return out
