"""HDF5 helpers every writer in the project uses: atomic output, provenance, safe open.

Every file the project writes carries root attributes ``kind`` (what it is, e.g.
``"shard"``, ``"stage/depth"``, ``"synth/gt"``), ``asmp_version`` and ``versions`` (JSON of
library versions); writers add ``config`` (JSON), ``config_hash``, ``backend`` and
``weights_sha256`` as they apply.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from asmp.errors import AsmpError

#: Distributions whose versions are recorded in every file.
_RECORDED = (
    "asmp",
    "numpy",
    "h5py",
    "torch",
    "torchvision",
    "timm",
    "opencv-python-headless",
    "open3d-cpu",
    "torch-geometric",
    "av",
    "scipy",
)


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that shape the outputs."""
    out = {}
    for name in _RECORDED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; rename it to ``path`` only on success.

    An interrupted or failing writer leaves neither a partial ``path`` nor the temporary
    file behind, and an existing ``path`` is untouched until the final rename.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        # A failed writer leaves nothing; after os.replace tmp no longer exists.
        tmp.unlink(missing_ok=True)


def set_attrs(obj: h5py.HLObject, attrs: Mapping[str, Any]) -> None:
    """Store attributes; mappings and lists of mappings are stored as JSON strings."""
    for key, value in attrs.items():
        if value is None:
            continue
        if isinstance(value, Mapping) or (
            isinstance(value, list | tuple) and value and isinstance(value[0], Mapping)
        ):
            value = json.dumps(value, sort_keys=True)
        obj.attrs[key] = value


def provenance(kind: str, **extra: Any) -> dict[str, Any]:
    """Root attributes for a new file of ``kind`` (see module docstring)."""
    versions = library_versions()
    return {
        "kind": kind,
        "asmp_version": versions.get("asmp", "unknown"),
        "versions": versions,
        **extra,
    }


@contextlib.contextmanager
def write_h5(path: str | os.PathLike[str], kind: str, **attrs: Any) -> Iterator[h5py.File]:
    """Open a new HDF5 file atomically (see :func:`atomic_path`) with provenance attrs."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w", track_order=True) as f:
        set_attrs(f, provenance(kind, **attrs))
        yield f


def open_h5(path: str | os.PathLike[str], mode: str = "r") -> h5py.File:
    """Open an HDF5 file, turning every failure into an :class:`AsmpError` naming it."""
    path = Path(path)
    if not path.exists():
        raise AsmpError("no such file", path)
    if mode == "r" and not h5py.is_hdf5(path):
        raise AsmpError("not an HDF5 file (or truncated)", path)
    try:
        return h5py.File(path, mode, locking=False)
    except OSError as exc:
        raise AsmpError(f"cannot open as HDF5 ({exc})", path) from None


def json_attr(obj: h5py.HLObject, key: str, default: Any = None) -> Any:
    """Read an attribute written by :func:`set_attrs`, decoding JSON strings."""
    if key not in obj.attrs:
        return default
    value = obj.attrs[key]
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str) and value[:1] in "[{":
        return json.loads(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def put(
    group: h5py.Group, name: str, data: np.ndarray, unit: str, doc: str, per_row: bool = False
) -> h5py.Dataset:
    """Create dataset ``name`` with the ``unit`` and ``doc`` attributes every dataset the
    project writes carries; ``per_row`` chunks it one row (frame, window, crop) per chunk."""
    data = np.asarray(data)
    chunks = (1, *data.shape[1:]) if per_row and data.ndim > 1 else None
    ds = group.create_dataset(name, data=data, chunks=chunks)
    ds.attrs["unit"], ds.attrs["doc"] = unit, doc
    return ds
