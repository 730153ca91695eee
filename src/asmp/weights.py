"""Weight files of pretrained networks: a configured local path, else the official file.

An official file is downloaded once into torch hub's checkpoint directory
(``$TORCH_HOME/hub/checkpoints``, as ``torch.hub.load_state_dict_from_url`` does) and
reused from there. Outputs record the file's SHA-256, so a result names the exact weights.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch

from asmp.errors import AsmpError
from asmp.io.hdf5 import sha256_file


@dataclass(frozen=True)
class WeightFile:
    """A resolved weight file and the hex SHA-256 of its bytes."""

    path: Path
    sha256: str


def hub_cache_path(url: str) -> Path:
    """Where torch hub keeps the download of ``url``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name


def fetch_weights(configured: str | os.PathLike[str] | None, url: str) -> WeightFile:
    """The configured file if given, else the hub-cached download of ``url``.

    Raises:
        AsmpError: naming the file when a configured path does not exist, or when the
            official file is not cached and cannot be downloaded (e.g. no network).
    """
    if configured is not None:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise AsmpError("weight file not found", path)
    else:
        path = hub_cache_path(url)
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                torch.hub.download_url_to_file(url, str(path))  # atomic: temp file, then rename
            except OSError as exc:
                cause = (
                    f"not cached and downloading {url} failed ({exc}); put the file here "
                    "or set a local weights path in the config"
                )
                raise AsmpError(cause, path) from None
    return WeightFile(path, sha256_file(path))


def load_state_dict(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The mapping saved in a ``torch.save`` file, tensors on CPU (``weights_only`` loading).

    Raises:
        AsmpError: naming the file when it cannot be read or holds no mapping.
    """
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as exc:
        raise AsmpError(f"cannot read as a torch checkpoint ({type(exc).__name__})", path) from None
    if not isinstance(obj, Mapping):
        raise AsmpError(f"checkpoint holds a {type(obj).__name__}, not a state dict", path)
    return dict(obj)
