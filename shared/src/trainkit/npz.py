"""Loading ``.npz`` files a user hands us without trusting the sizes they declare.

``np.load`` allocates an array of the declared shape before it reads a byte of data, so a 132-byte file
that declares shape (1e11, 4) asks for 1.46 TiB. :func:`load_npz` reads every member's header first and
refuses one whose data would be larger than the member holds, or larger than ``max_bytes``; it never
unpickles (``allow_pickle=False``, object arrays refused).
"""

from __future__ import annotations

import math
import os
import zipfile
from pathlib import Path

import numpy as np

from trainkit.errors import DataError

__all__ = ["DEFAULT_MAX_BYTES", "load_npz"]

DEFAULT_MAX_BYTES = 4 * 2**30  # 4 GiB: far above any data set here, far below what would exhaust memory
_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def _check_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, max_bytes: int) -> None:
    with archive.open(info) as member:
        try:
            version = np.lib.format.read_magic(member)
            reader = _HEADER_READERS.get(version)
            if reader is None:
                raise DataError(f"{path}: {info.filename} uses .npy format {version}, which is not read here")
            shape, _, dtype = reader(member)
        except ValueError as exc:
            raise DataError(f"{path}: {info.filename} has no valid .npy header ({exc})") from None
    if dtype.hasobject:
        raise DataError(f"{path}: {info.filename} holds Python objects; only numeric arrays are read")
    declared = math.prod(shape) * dtype.itemsize
    if declared > max_bytes:
        raise DataError(f"{path}: {info.filename} declares shape {shape} ({declared:.3g} bytes), over {max_bytes:.3g}")
    if declared > info.file_size:
        raise DataError(
            f"{path}: {info.filename} declares shape {shape} ({declared:.3g} bytes) but holds only "
            f"{info.file_size} bytes; the file is truncated or forged"
        )


def load_npz(path: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_BYTES) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` at ``path`` by name, after checking each declared size; one-line
    :class:`DataError` for a missing, truncated, forged or oversized file."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.filename.endswith(".npy"):
                    _check_member(archive, info, path, max_bytes)
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:  # empty, truncated, not a zip
        raise DataError(f"{path}: not a readable .npz file ({type(exc).__name__}: {exc})") from None
