"""Checkpoints: one ``torch.save`` file of plain tensors and containers (docs/training.md).

A checkpoint holds ``format``, ``version``, ``step``, ``preset``, ``config`` (the resolved
config the run used), ``config_hash``, ``model_spec``, ``model``, ``optimizer``,
``scheduler``, ``rng`` (CPU and CUDA generator states), ``best_sdr`` and ``best_step``. It
is written atomically and read with ``torch.load(weights_only=True)``, which refuses any
pickled object other than tensors and plain containers; the stored config is validated and
keys added to the schema since the run get their defaults.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from asmp.config import validate_config
from asmp.errors import AsmpError
from asmp.io.hdf5 import atomic_path

FORMAT = "asmp-checkpoint"
VERSION = 1


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (plus format and version) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, "version": VERSION, **state}, tmp)
    return Path(path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint safely (``weights_only=True``).

    Raises:
        AsmpError: naming ``path``: missing, not a torch file, holding a pickled object
            other than tensors and plain containers, or not an asmp checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise AsmpError("checkpoint not found", path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        reason = str(err).strip().splitlines()
        hint = next((s for s in reason if "GLOBAL" in s or "Unsupported" in s), reason[0])
        raise AsmpError(
            f"refused: the checkpoint holds a pickled object that is not a tensor or plain "
            f"container ({hint.strip()}); only weights-only checkpoints are loaded",
            path,
        ) from None
    except (RuntimeError, EOFError, OSError) as err:
        raise AsmpError(f"not a readable torch checkpoint ({err})", path) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise AsmpError("not an asmp checkpoint (no 'format: asmp-checkpoint' entry)", path)
    if state.get("version") != VERSION:
        raise AsmpError(
            f"checkpoint version {state.get('version')}, this asmp reads {VERSION}", path
        )
    if "config" in state:  # keys added to the schema since the run get their defaults
        state["config"] = validate_config(state["config"], path)
    return state


def rng_state() -> dict[str, Any]:
    """The CPU and CUDA generator states."""
    state: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore :func:`rng_state`'s output (CUDA states only where CUDA is present)."""
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
