"""``asmp inspect``: a readable tree of any HDF5 file the project writes.

Works on every kind of file (shards, stage outputs, synthetic ground truth): it walks
groups and datasets, printing shapes, dtypes, storage and attributes. For a shard it first
prints one line per video with its node, edge and window counts.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import h5py
import numpy as np

from asmp.io.hdf5 import json_attr, open_h5
from asmp.io.shards import KIND, RAGGED

_ATTR_WIDTH = 100


def _fmt_attr(value: object) -> str:
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if isinstance(value, np.ndarray):
        value = np.array2string(value, threshold=8)
    text = str(value).replace("\n", " ")
    return text if len(text) <= _ATTR_WIDTH else text[: _ATTR_WIDTH - 3] + "..."


def _dataset_line(ds: h5py.Dataset) -> str:
    storage = []
    if ds.chunks:
        storage.append(f"chunks={ds.chunks}")
    if ds.compression:
        storage.append(ds.compression)
    unit = ds.attrs.get("unit")
    parts = [f"{ds.shape} {ds.dtype}", *storage, f"[{unit}]" if unit else ""]
    return " ".join(p for p in parts if p)


def tree(f: h5py.File, max_attrs: int = 20) -> list[str]:
    """Lines describing every group and dataset of ``f`` with their attributes."""
    lines = [f"/  ({len(f.attrs)} attributes)"]
    lines += [f"  @{k} = {_fmt_attr(v)}" for k, v in list(f.attrs.items())[:max_attrs]]

    def visit(name: str, obj: h5py.HLObject) -> None:
        depth = name.count("/") + 1
        pad = "  " * depth
        if isinstance(obj, h5py.Dataset):
            lines.append(f"{pad}{name.rsplit('/', 1)[-1]}: {_dataset_line(obj)}")
        else:
            lines.append(f"{pad}{name.rsplit('/', 1)[-1]}/")
        for k, v in obj.attrs.items():
            if k not in ("unit", "doc"):
                lines.append(f"{pad}  @{k} = {_fmt_attr(v)}")

    f.visititems(visit)
    return lines


def shard_summary(f: h5py.File, max_videos: int = 20) -> list[str]:
    """One line per video of a shard: id, split, classes, windows, nodes, edges, objects."""
    ids = f["videos/id"].asstr()[()]
    splits = f["videos/split"].asstr()[()]
    classes = f["videos/sound_classes"].asstr()[()]
    counts = {t: np.diff(f[f"{t}/offsets"][()]) for t in RAGGED}
    sr = json_attr(f, "sample_rate")
    lines = [
        f"shard v{json_attr(f, 'schema_version')}: {len(ids)} videos, "
        f"{int(counts['nodes'].sum())} nodes, {int(counts['edges'].sum())} edges"
    ]
    for i in range(min(len(ids), max_videos)):
        lines.append(
            f"  {ids[i]} [{splits[i]}] classes={classes[i] or '-'} "
            f"windows={counts['windows'][i]} nodes={counts['nodes'][i]} "
            f"edges={counts['edges'][i]} objects={counts['objects'][i]} crops={counts['crops'][i]} "
            f"audio={counts['audio'][i] / sr:.2f}s"
        )
    if len(ids) > max_videos:
        lines.append(f"  ... {len(ids) - max_videos} more")
    return lines


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, help="any HDF5 file written by asmp")
    p.add_argument("--videos", type=int, default=20, help="shard: videos listed (default 20)")


def run(args: argparse.Namespace) -> int:
    with open_h5(args.file) as f:
        print(f"{args.file}  kind={_fmt_attr(f.attrs.get('kind', '?'))}")
        if f.attrs.get("kind") == KIND and all(f"{t}/offsets" in f for t in RAGGED):
            print("\n".join(shard_summary(f, args.videos)))
        print("\n".join(tree(f)))
    return 0
