"""The shard format, version 1 (docs/shards.md): many video records in one HDF5 file.

A shard stores each kind of row in a *table* (an HDF5 group whose datasets share their
first dimension). Ragged per-video data use a CSR layout: every table but ``videos`` has
an ``offsets`` dataset ``[V+1]`` so that video ``i`` owns rows ``offsets[i]:offsets[i+1]``.
A record file (one video) is a shard with ``V = 1``.

:data:`FIELDS` is the single description of the format; the writer, the reader, the
validator and the documentation test all follow it.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from asmp.errors import AsmpError
from asmp.io.hdf5 import atomic_path, json_attr, open_h5, write_h5

SCHEMA_VERSION = 1
KIND = "shard"

#: Node roles.
AUDITORY, CONTEXT, BACKGROUND = 0, 1, 2

_STR = h5py.string_dtype()


@dataclass(frozen=True)
class Field:
    """One dataset of the format.

    ``shape`` gives the trailing dimensions after the row dimension; letters name root
    attributes (:data:`SYMBOLS`): ``L`` window length, ``D`` feature size, ``F`` and ``T``
    STFT bins and frames per crop.
    """

    table: str
    name: str
    dtype: Any
    shape: tuple[int | str, ...]
    unit: str
    doc: str

    @property
    def path(self) -> str:
        return f"{self.table}/{self.name}"


FIELDS: tuple[Field, ...] = (
    Field("videos", "id", _STR, (), "", "video id (the manifest's clip_id)"),
    Field("videos", "sha256", "S64", (), "", "SHA-256 of the source video file (hex)"),
    Field("videos", "split", _STR, (), "", "train, val or test"),
    Field("videos", "sound_classes", _STR, (), "", "the video's sound classes, ';'-separated"),
    Field("videos", "fps", np.float32, (), "1/s", "frame rate after resampling"),
    Field("videos", "source_fps", np.float32, (), "1/s", "frame rate of the source file"),
    Field("videos", "duration", np.float64, (), "s", "duration of the decoded video"),
    Field("videos", "frame_size", np.int32, (2,), "px", "decoded frame height, width"),
    Field("windows", "start_frame", np.int32, (), "frame", "first (reference) frame of the window"),
    Field(
        "windows",
        "cam_T",
        np.float32,
        ("L", 4, 4),
        "pseudo-3D",
        "per frame of the window: its camera coordinates -> the reference frame's",
    ),
    Field("windows", "icp_fitness", np.float32, ("L",), "1", "ICP inlier fraction per frame"),
    Field("windows", "icp_rmse", np.float32, ("L",), "pseudo-3D", "ICP inlier RMSE per frame"),
    Field("nodes", "box", np.float32, (4,), "px", "x1, y1, x2, y2 in the node's frame"),
    Field("nodes", "frame", np.int32, (), "frame", "frame the box was detected in"),
    Field(
        "nodes", "det_class", np.int32, (), "", "detector class (index into attr detector_classes)"
    ),
    Field("nodes", "score", np.float32, (), "1", "detection score"),
    Field("nodes", "feature", np.float16, ("D",), "", "detector feature vector"),
    Field("nodes", "role", np.int8, (), "", "0 auditory, 1 context, 2 background"),
    Field(
        "nodes",
        "object",
        np.int16,
        (),
        "",
        "auditory object the node belongs to (index in objects), -1 for background",
    ),
    Field(
        "nodes",
        "sound_class",
        np.int16,
        (),
        "",
        "sound class of an auditory node (index into attr sound_classes), else -1",
    ),
    Field("edges", "index", np.int32, (2,), "", "node pair (i < j), local to the video"),
    Field("edges", "chamfer", np.float32, (), "pseudo-3D", "symmetric Chamfer distance"),
    Field("edges", "weight", np.float32, (), "1", "edge weight of attr edge_mode, in [0, 1]"),
    Field("objects", "node", np.int32, (), "", "the auditory object's node, local to the video"),
    Field("objects", "sound_class", np.int16, (), "", "index into attr sound_classes"),
    Field(
        "motion",
        "displacement",
        np.float32,
        (3,),
        "1",
        "(u, v, d) relative 3D displacement per window (docs/motion.md); rows object-major",
    ),
    Field("motion", "direction10", np.int8, (), "", "10-class direction label (9 = padding)"),
    Field("motion", "direction28", np.int8, (), "", "28-class direction label (27 = padding)"),
    Field("audio", "waveform", np.float32, (), "1", "mono audio at attr sample_rate"),
    Field("crops", "start", np.int64, (), "sample", "first sample of a training crop"),
    Field(
        "crops",
        "stft",
        np.complex64,
        ("F", "T"),
        "1",
        "exact STFT of the crop (docs/audio.md): bins x frames",
    ),
)

TABLES: tuple[str, ...] = tuple(dict.fromkeys(f.table for f in FIELDS))

#: Shape letters -> the root attribute holding their size.
SYMBOLS = {"L": "window_frames", "D": "feature_dim", "F": "stft_bins", "T": "stft_frames"}

#: Root attributes every shard must carry.
REQUIRED_ATTRS = (
    *SYMBOLS.values(),
    "sample_rate",
    "n_fft",
    "hop_length",
    "crop_samples",
    "sound_classes",
    "detector_classes",
    "edge_mode",
)


def trailing_shape(f: Field, attrs: Any) -> tuple[int, ...]:
    """A field's trailing shape with its letters resolved from root attributes ``attrs``."""
    return tuple(int(attrs[SYMBOLS[d]]) if isinstance(d, str) else d for d in f.shape)


RAGGED: tuple[str, ...] = tuple(t for t in TABLES if t != "videos")


@dataclass
class VideoRecord:
    """Everything the trainer needs about one video (shapes: W windows, L frames per window,
    N nodes, E edges, O auditory objects, D feature size, S audio samples)."""

    id: str
    sha256: str
    split: str
    sound_classes: list[str]
    fps: float
    source_fps: float
    duration: float
    frame_size: tuple[int, int]
    window_start_frame: np.ndarray  # [W] int
    window_cam_T: np.ndarray  # [W,L,4,4]
    window_icp_fitness: np.ndarray  # [W,L]
    window_icp_rmse: np.ndarray  # [W,L]
    node_box: np.ndarray  # [N,4]
    node_frame: np.ndarray  # [N]
    node_det_class: np.ndarray  # [N]
    node_score: np.ndarray  # [N]
    node_feature: np.ndarray  # [N,D]
    node_role: np.ndarray  # [N]
    node_object: np.ndarray  # [N]
    node_sound_class: np.ndarray  # [N]
    edge_index: np.ndarray  # [E,2]
    edge_chamfer: np.ndarray  # [E]
    edge_weight: np.ndarray  # [E]
    object_node: np.ndarray  # [O]
    object_sound_class: np.ndarray  # [O]
    motion_displacement: np.ndarray  # [O,W,3]
    motion_direction10: np.ndarray  # [O,W]
    motion_direction28: np.ndarray  # [O,W]
    waveform: np.ndarray  # [S]
    crop_start: np.ndarray  # [C]
    crop_stft: np.ndarray  # [C,F,T] complex
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def n_windows(self) -> int:
        return len(self.window_start_frame)


_PREFIX = {
    "windows": "window_",
    "nodes": "node_",
    "edges": "edge_",
    "objects": "object_",
    "motion": "motion_",
    "crops": "crop_",
    "videos": "",
}


def field_name(table: str, name: str) -> str:
    """The :class:`VideoRecord` attribute holding dataset ``table/name``."""
    return "waveform" if table == "audio" else _PREFIX[table] + name


def _attr_name(f: Field) -> str:
    return field_name(f.table, f.name)


def _rows(rec: VideoRecord, f: Field) -> np.ndarray:
    """The record's rows for field ``f`` (motion flattened object-major)."""
    value = getattr(rec, _attr_name(f))
    if f.name == "sound_classes" and f.table == "videos":
        value = ";".join(value)
    arr = np.asarray(value)
    if f.table == "motion":
        arr = arr.reshape((-1, *arr.shape[2:]))
    return arr


def _check_record(rec: VideoRecord, attrs: dict[str, Any]) -> None:
    """Raise AsmpError if a record is internally inconsistent (before anything is written)."""
    n_win, n_nodes, n_obj = rec.n_windows, len(rec.node_box), len(rec.object_node)

    def bad(msg: str) -> AsmpError:
        return AsmpError(f"record {rec.id!r}: {msg}")

    for f in FIELDS:
        if f.table == "videos":
            continue
        arr = _rows(rec, f)
        want = trailing_shape(f, attrs)
        if arr.shape[1:] != want:
            raise bad(f"{f.path} has trailing shape {arr.shape[1:]}, expected {want}")
        if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
            raise bad(f"{f.path} holds NaN or inf")
    counts = {"windows": n_win, "nodes": n_nodes, "objects": n_obj, "motion": n_obj * n_win}
    for f in FIELDS:
        if f.table in counts and len(_rows(rec, f)) != counts[f.table]:
            raise bad(f"{f.path} has {len(_rows(rec, f))} rows, expected {counts[f.table]}")
    if len(rec.edge_index) and not (0 <= rec.edge_index.min() and rec.edge_index.max() < n_nodes):
        raise bad("edges/index out of range")
    if n_obj and not (0 <= rec.object_node.min() and rec.object_node.max() < n_nodes):
        raise bad("objects/node out of range")
    if len(rec.edge_weight) and not ((rec.edge_weight >= 0) & (rec.edge_weight <= 1)).all():
        raise bad("edges/weight outside [0, 1]")


def write_shard(
    path: str | os.PathLike[str],
    records: Sequence[VideoRecord],
    attrs: dict[str, Any],
    compression: str = "none",
) -> Path:
    """Write ``records`` to a new shard atomically.

    Args:
        path: output file.
        records: the videos, in order.
        attrs: root attributes; must include :data:`REQUIRED_ATTRS`, usually also
            ``config``, ``config_hash``, ``backends`` and ``weights_sha256``.
        compression: ``"none"``, ``"lzf"`` or ``"gzip"`` (docs/shards.md has measurements).
    """
    missing = set(REQUIRED_ATTRS) - set(attrs)
    if missing:
        raise AsmpError(f"shard attributes missing: {sorted(missing)}", path)
    if not records:
        raise AsmpError("no records to write", path)
    for rec in records:
        _check_record(rec, attrs)
    comp = None if compression == "none" else compression
    with write_h5(path, KIND, schema_version=SCHEMA_VERSION, **attrs) as f:
        for table in TABLES:
            f.create_group(table)
        for fl in FIELDS:
            parts = [_rows(r, fl) for r in records]
            if fl.table == "videos":
                data = np.array([p.item() if p.ndim == 0 else p for p in parts], dtype=fl.dtype)
            else:
                data = np.concatenate(parts).astype(fl.dtype, copy=False)
            big = data.ndim > 0 and data.size > 1024
            ds = f.create_dataset(
                fl.path, data=data, compression=comp if big else None, chunks=True if big else None
            )
            ds.attrs["unit"], ds.attrs["doc"] = fl.unit, fl.doc
        for table in RAGGED:
            fl = next(x for x in FIELDS if x.table == table)
            counts = [len(_rows(r, fl)) for r in records]
            f[table].create_dataset("offsets", data=np.concatenate([[0], np.cumsum(counts)]))
    return Path(path)


class ShardReader:
    """Random access to the records of a shard, safe inside DataLoader workers.

    The HDF5 handle is opened lazily on first access in each process (a handle opened
    before a fork is never reused by the child), so one reader object can be pickled
    into workers.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._file: h5py.File | None = None
        self._pid = -1
        with open_h5(self.path) as f:
            _check_kind(f, self.path)
            self.ids: list[str] = [
                s.decode() if isinstance(s, bytes) else s for s in f["videos/id"][()]
            ]
            self.attrs: dict[str, Any] = {k: json_attr(f, k) for k in f.attrs}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_file": None, "_pid": -1}

    def _handle(self) -> h5py.File:
        if self._file is None or self._pid != os.getpid():
            self._file, self._pid = open_h5(self.path), os.getpid()
        return self._file

    def close(self) -> None:
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = None

    def __len__(self) -> int:
        return len(self.ids)

    def _index(self, i: int) -> int:
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        return i % len(self)

    def read(self, i: int, names: Iterable[str] | None = None) -> dict[str, Any]:
        """Some :class:`VideoRecord` attributes of video ``i`` (all when ``names`` is None),
        reading only their datasets."""
        i = self._index(i)
        f = self._handle()
        wanted = None if names is None else set(names)
        values: dict[str, Any] = {}
        spans: dict[str, np.ndarray] = {}
        for fl in FIELDS:
            name = _attr_name(fl)
            if wanted is not None and name not in wanted:
                continue
            if fl.table == "videos":
                v = f[fl.path][i]
                v = v.decode() if isinstance(v, bytes) else v
            else:
                if fl.table not in spans:
                    spans[fl.table] = f[f"{fl.table}/offsets"][i : i + 2]
                a, b = spans[fl.table]
                v = f[fl.path][a:b]
            values[name] = v
        if "motion" in spans:
            a, b = f["windows/offsets"][i : i + 2]
            W = int(b - a)
            for name in ("motion_displacement", "motion_direction10", "motion_direction28"):
                if name in values:
                    arr = values[name]
                    values[name] = arr.reshape((-1, W, *arr.shape[1:])) if W else arr[:0]
        if "sound_classes" in values:
            values["sound_classes"] = [c for c in values["sound_classes"].split(";") if c]
        if "frame_size" in values:
            values["frame_size"] = tuple(int(x) for x in values["frame_size"])
        for k in ("fps", "source_fps", "duration"):
            if k in values:
                values[k] = float(values[k])
        return values

    def read_crop(self, i: int, crop: int) -> np.ndarray:
        """The cached STFT ``[F, T]`` complex64 of crop ``crop`` of video ``i`` (one chunk)."""
        a, b = self._handle()["crops/offsets"][self._index(i) : self._index(i) + 2]
        if not 0 <= crop < b - a:
            raise IndexError(crop)
        return self._handle()["crops/stft"][a + crop]

    def __getitem__(self, i: int) -> VideoRecord:
        return VideoRecord(**self.read(i))

    def __iter__(self) -> Iterable[VideoRecord]:
        return (self[i] for i in range(len(self)))


def read_shard(path: str | os.PathLike[str]) -> list[VideoRecord]:
    """Every record of a shard, in order."""
    reader = ShardReader(path)
    try:
        return list(reader)
    finally:
        reader.close()


def _check_kind(f: h5py.File, path: Path) -> None:
    kind = json_attr(f, "kind")
    if kind != KIND:
        raise AsmpError(f"not a shard (kind {kind!r})", path)
    version = json_attr(f, "schema_version")
    if version != SCHEMA_VERSION:
        raise AsmpError(f"shard schema_version {version!r}, this asmp reads {SCHEMA_VERSION}", path)


def _check_compatible(paths: Sequence[str | os.PathLike[str]]) -> None:
    """Raise AsmpError unless every file is a valid shard made with the first file's
    configuration (hash) and root attributes."""
    from asmp.io.validate import validate_file

    first: dict[str, Any] | None = None
    for path in paths:
        problems = validate_file(path)
        if problems:
            raise AsmpError(f"not a valid record: {problems[0]}", path)
        with open_h5(path) as f:
            attrs = {k: json_attr(f, k) for k in (*REQUIRED_ATTRS, "config_hash")}
        first = first or attrs
        if attrs != first:
            key = next(k for k in attrs if attrs[k] != first[k])
            raise AsmpError(f"attribute {key} differs from {paths[0]}'s", path)


def merge(
    records: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    compression: str = "none",
) -> Path:
    """Write the videos of ``records`` (record or shard files, checked compatible) into one
    new shard ``out``, keeping the first file's root attributes."""
    if not records:
        raise AsmpError("no records given")
    _check_compatible(records)
    recs = [r for path in records for r in read_shard(path)]
    with open_h5(records[0]) as f:
        own = ("kind", "schema_version", "asmp_version", "versions")
        attrs = {k: json_attr(f, k) for k in f.attrs if k not in own}
    return write_shard(out, recs, attrs, compression)


def write_manifest(shards: Sequence[str | os.PathLike[str]], path: str | os.PathLike[str]) -> Path:
    """Write the CSV index of ``shards`` (atomically): one row per video,
    ``shard,index,video_id,split,sound_classes`` (shard = file name, index within it)."""
    import csv

    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["shard", "index", "video_id", "split", "sound_classes"])
        for shard in shards:
            with open_h5(shard) as h:
                ids = h["videos/id"].asstr()[()]
                splits = h["videos/split"].asstr()[()]
                classes = h["videos/sound_classes"].asstr()[()]
            w.writerows(
                (Path(shard).name, i, *row)
                for i, row in enumerate(zip(ids, splits, classes, strict=True))
            )
    return Path(path)


def pack(
    records: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    records_per_shard: int,
    compression: str = "none",
) -> list[Path]:
    """Pack record (or shard) files into ``out_dir/shard-NNNNN.h5`` of at most
    ``records_per_shard`` videos each and write ``out_dir/manifest.csv``
    (:func:`write_manifest`).

    Raises:
        AsmpError: a file that is not a valid shard, or whose configuration (hash) or root
            attributes differ from the first file's; nothing is written then.
    """
    if not records:
        raise AsmpError("no records given")
    _check_compatible(records)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    shards = [
        merge(records[i : i + records_per_shard], out / f"shard-{n:05d}.h5", compression)
        for n, i in enumerate(range(0, len(records), records_per_shard))
    ]
    write_manifest(shards, out / "manifest.csv")
    return shards


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", type=Path, help="record (or shard) files")
    p.add_argument(
        "--out",
        required=True,
        type=Path,
        help="a directory (shards + manifest.csv), a FILE.h5 (one shard of every "
        "record), or with --manifest the CSV to write",
    )
    p.add_argument("--records-per-shard", type=int, default=256, help="videos per shard")
    p.add_argument("--compression", choices=["none", "lzf", "gzip"], default="none")
    p.add_argument(
        "--manifest", action="store_true", help="only write the manifest CSV of existing shards"
    )


def run(args: argparse.Namespace) -> int:
    if args.manifest:
        write_manifest(args.files, args.out)
    elif args.out.suffix == ".h5":
        merge(args.files, args.out, args.compression)
    else:
        shards = pack(args.files, args.out, args.records_per_shard, args.compression)
        print(f"{args.out}: {len(shards)} shards")
    return 0
