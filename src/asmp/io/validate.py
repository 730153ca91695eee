"""``asmp validate``: check that a shard (or record) file is sound.

:func:`validate_file` returns one line per problem and never raises on a bad file, so a
user sees everything that is wrong at once.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import h5py
import numpy as np

from asmp.errors import AsmpError
from asmp.io.hdf5 import json_attr, open_h5
from asmp.io.shards import (
    FIELDS,
    KIND,
    RAGGED,
    REQUIRED_ATTRS,
    SCHEMA_VERSION,
    TABLES,
    trailing_shape,
)

_BLOCK = 1 << 20  # rows scanned at a time for NaN/inf, bounding memory


def _finite(ds: h5py.Dataset) -> bool:
    for start in range(0, ds.shape[0], _BLOCK):
        if not np.isfinite(ds[start : start + _BLOCK]).all():
            return False
    return True


def _check_structure(f: h5py.File) -> list[str]:
    problems = []
    for fl in FIELDS:
        if fl.path not in f:
            problems.append(f"{fl.path}: missing dataset")
            continue
        ds = f[fl.path]
        want = trailing_shape(fl, f.attrs)
        if ds.shape[1:] != want:
            problems.append(f"{fl.path}: trailing shape {ds.shape[1:]}, expected {want}")
        if ds.dtype.kind != np.dtype(fl.dtype).kind:
            problems.append(f"{fl.path}: dtype {ds.dtype}, expected {np.dtype(fl.dtype)}")
        elif ds.dtype.kind in "fc" and not _finite(ds):
            problems.append(f"{fl.path}: holds NaN or inf")
    return problems


def _check_offsets(f: h5py.File, n_videos: int) -> tuple[list[str], dict[str, np.ndarray]]:
    problems, offsets = [], {}
    for table in RAGGED:
        if f"{table}/offsets" not in f:
            problems.append(f"{table}/offsets: missing dataset")
            continue
        off = f[f"{table}/offsets"][()]
        rows = {f[fl.path].shape[0] for fl in FIELDS if fl.table == table and fl.path in f}
        if len(off) != n_videos + 1:
            problems.append(f"{table}/offsets: length {len(off)}, expected {n_videos + 1}")
        elif off[0] != 0 or (np.diff(off) < 0).any():
            problems.append(f"{table}/offsets: not monotone from 0")
        elif len(rows) != 1 or off[-1] != rows.pop():
            problems.append(f"{table}/offsets: ends at {off[-1]}, tables rows differ")
        else:
            offsets[table] = off
    return problems, offsets


def _check_videos(f: h5py.File, offsets: dict[str, np.ndarray]) -> list[str]:
    """Cross-table consistency, per video."""
    problems: list[str] = []
    if set(offsets) != set(RAGGED):
        return problems
    n = {t: np.diff(offsets[t]) for t in RAGGED}
    ids = f["videos/id"].asstr()[()]
    for v in np.flatnonzero(n["motion"] != n["objects"] * n["windows"]):
        problems.append(f"video {ids[v]}: motion rows != objects x windows")
    for table, name, ref in (
        ("edges", "index", "nodes"),
        ("objects", "node", "nodes"),
        ("nodes", "object", "objects"),
    ):
        data, lo = f[f"{table}/{name}"][()], -1 if name == "object" else 0
        local_max = np.repeat(n[ref], n[table])
        if data.ndim == 2:
            local_max = local_max[:, None]
        bad = (data < lo) | (data >= local_max)
        for row in np.flatnonzero(bad.reshape(len(bad), -1).any(axis=1))[:1]:
            video = np.searchsorted(offsets[table], row, side="right") - 1
            problems.append(f"{table}/{name}: row {row} (video {ids[video]}) out of range")
    n_sound = len(json_attr(f, "sound_classes"))
    n_det = len(json_attr(f, "detector_classes"))
    for name, lo, hi in (
        ("nodes/sound_class", -1, n_sound),
        ("objects/sound_class", 0, n_sound),
        ("nodes/det_class", 0, n_det),
        ("nodes/role", 0, 3),
    ):
        data = f[name][()]
        if len(data) and (data.min() < lo or data.max() >= hi):
            problems.append(f"{name}: values outside [{lo}, {hi})")
    w = f["edges/weight"][()]
    if ((w < 0) | (w > 1)).any():
        problems.append("edges/weight: values outside [0, 1]")
    return problems


def validate_file(path: str | Path) -> list[str]:
    """Every problem found in a shard file, one human-readable line each (empty if sound)."""
    try:
        f = open_h5(path)
    except AsmpError as exc:
        return [exc.cause]
    with f:
        kind, version = json_attr(f, "kind"), json_attr(f, "schema_version")
        if kind != KIND:
            return [f"not a shard (kind {kind!r})"]
        if version != SCHEMA_VERSION:
            return [f"schema_version {version!r}, expected {SCHEMA_VERSION}"]
        problems = [f"{t}: missing group" for t in TABLES if t not in f]
        problems += [f"attribute {key}: missing" for key in REQUIRED_ATTRS if key not in f.attrs]
        if problems:
            return problems
        problems += _check_structure(f)
        n_videos = f["videos/id"].shape[0] if "videos/id" in f else 0
        off_problems, offsets = _check_offsets(f, n_videos)
        problems += off_problems
        if not problems:
            problems += _check_videos(f, offsets)
        return problems


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", type=Path, help="shard or record files")


def run(args: argparse.Namespace) -> int:
    status = 0
    for path in args.files:
        problems = validate_file(path)
        for problem in problems:
            print(f"{path}: {problem}", file=sys.stderr)
        if problems:
            status = 1
        else:
            print(f"{path}: ok")
    return status
