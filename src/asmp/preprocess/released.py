"""Video records from the authors' released ASIW data, without running any stage (docs/released.md).

The release (official-impl-facts 2.1-2.6) holds, under ``Audiocaps_Dataset/``:

* ``Extracted_Audio/<split>/<ytid>.aac``: the clip's audio;
* ``Extracted_Frames/<split>/<ytid>/``: ``Image_info_20obj.json``, ``Image_feature_20obj.h5``
  (Visual Genome detections and 2048-d features per frame, read by
  :func:`asmp.preprocess.detect.read_released`) and ``Vision_Text_Labels.csv``;
* ``Rectified_Frames/<split>/<ytid>/``: ``Chamfer_Info.pickle`` (the graph's nodes and
  Chamfer distances) and ``Comb_RAFTFlow_Displacement_Vectors_New.pickle`` (per Visual
  Genome class and 1-s window, a displacement ``(u, v, d)``).

:func:`import_record` turns one released video into a :class:`~asmp.io.shards.VideoRecord`
and :func:`import_attrs` gives the root attributes to write it with
:func:`~asmp.io.shards.write_shard`. The pickles are unpickled with :mod:`pickle`, which
runs code stored in them: use only the official files.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from asmp.config import Config, load_config
from asmp.errors import AsmpError
from asmp.graph import edge_weights
from asmp.io.audio import decode_audio
from asmp.io.hdf5 import sha256_file
from asmp.io.shards import AUDITORY, BACKGROUND, CONTEXT, VideoRecord, write_shard
from asmp.preprocess.audio import crop_starts, crop_stft
from asmp.preprocess.detect import (
    RELEASED_FEATURE_DIM,
    RELEASED_FEATURES,
    RELEASED_FPS,
    RELEASED_INFO,
    Detections,
    _released_frame,
    read_released,
    released_folder,
)
from asmp.preprocess.graph import candidate_classes
from asmp.preprocess.motion import DIRECTION_CLASSES, direction_class
from asmp.preprocess.record import shard_attrs
from asmp.preprocess.vocabulary import visual_genome_classes, vocabulary_file

log = logging.getLogger(__name__)

#: The release's sound classes in the order of its 0-13 indices (``Vision_Text_Labels.csv``
#: column 0). The release never writes the order down; this is the paper's appendix B
#: listing, the order ``workflow/config/asiw.yaml`` uses.
RELEASED_SOUND_CLASSES = (
    "baby",
    "bell",
    "bird",
    "camera",
    "clock",
    "dog",
    "toilet",
    "horse",
    "person",
    "telephone",
    "train",
    "sheep",
    "vehicle",
    "water",
)
#: Frames per window and windows per clip of the release (window k starts at frame file 8k+1).
RELEASED_WINDOW_FRAMES, RELEASED_WINDOWS = 8, 10
#: The released code's no-motion thresholds on |u|, |v| and |d|, in the released units.
RELEASED_STILL_UV, RELEASED_STILL_D = 0.6, 0.3
#: The released per-video files beside the features.
LABELS_FILE = "Vision_Text_Labels.csv"
#: The Chamfer pickle, and the file the released test code falls back to without it.
CHAMFER_FILES = ("Chamfer_Info.pickle", "Chamfer_Info_Prev.pickle")
DISPLACEMENT_FILE = "Comb_RAFTFlow_Displacement_Vectors_New.pickle"
#: Root attributes (and ``VideoRecord.extra``) of imported records: their displacements
#: keep the release's units, which the released thresholds quantise.
RELEASED_ATTRS: dict[str, Any] = {
    "displacement_units": "released",
    "still_uv": RELEASED_STILL_UV,
    "still_d": RELEASED_STILL_D,
}
#: ``read_released`` clips boxes to a frame size; this one leaves released boxes as they are.
_NO_CLIP = (2**31 - 1, 2**31 - 1)


@dataclass(frozen=True)
class ReleasedFiles:
    """Where one released video's files are.

    Attributes:
        split: the split folder holding the video (``train`` or ``test`` in the release).
        frames: ``Extracted_Frames/<split>/<ytid>/``.
        audio: ``Extracted_Audio/<split>/<ytid>.aac``.
        rectified: ``Rectified_Frames/<split>/<ytid>/``.
    """

    split: str
    frames: Path
    audio: Path
    rectified: Path


def released_files(clip: str, root: str | Path, split: str | None = None) -> ReleasedFiles:
    """The files of released video ``clip`` under ``root`` (the ``Audiocaps_Dataset/``
    folder), in ``split`` or, when None, in the split folder that holds its features.

    Raises:
        AsmpError: no ``Extracted_Frames/<split>/<clip>/`` folder with the features.
    """
    root = Path(root).expanduser()
    frames_root = root / "Extracted_Frames"
    frames = released_folder(frames_root if split is None else frames_root / split, clip)
    split = frames.parent.name
    return ReleasedFiles(
        split=split,
        frames=frames,
        audio=root / "Extracted_Audio" / split / f"{clip}.aac",
        rectified=root / "Rectified_Frames" / split / clip,
    )


def _check_config(cfg: Config) -> None:
    if cfg["dataset"]["detector_vocabulary"] != "visual_genome":
        raise AsmpError(
            "the released features label Visual Genome classes but "
            f"dataset.detector_vocabulary is {cfg['dataset']['detector_vocabulary']}"
        )
    if cfg["video"]["window_frames"] != RELEASED_WINDOW_FRAMES:
        raise AsmpError(
            f"the release has {RELEASED_WINDOW_FRAMES}-frame windows but "
            f"video.window_frames is {cfg['video']['window_frames']}"
        )


def detector_classes(root: str | Path) -> list[str]:
    """The 1600 Visual Genome class names (index = released class id), named by
    ``root/objects_vocab.txt`` when present (:func:`visual_genome_classes`)."""
    return visual_genome_classes(vocabulary_file(Path(root).expanduser()))


def import_attrs(cfg: Config, root: str | Path) -> dict[str, Any]:
    """Root attributes of a shard of records imported from ``root`` with ``cfg``: the
    record stage's (:func:`asmp.preprocess.record.shard_attrs`), 2048-d features, the Visual
    Genome ``detector_classes``, ``backends`` ``{"import": "released"}``, plus
    :data:`RELEASED_ATTRS`.

    Raises:
        AsmpError: ``cfg`` is not for Visual Genome detections in 8-frame windows.
    """
    _check_config(cfg)
    graph_attrs = {"feature_dim": RELEASED_FEATURE_DIM, "detector_classes": detector_classes(root)}
    return {**shard_attrs(cfg, graph_attrs, {"import": "released"}, {}), **RELEASED_ATTRS}


def load_pickle(path: Path) -> Any:
    """Unpickle a released file (this runs code stored in it: official files only).

    Raises:
        AsmpError: naming ``path`` when it is missing or cannot be unpickled.
    """
    if not path.is_file():
        raise AsmpError("no such file", path)
    try:
        with path.open("rb") as f:
            return pickle.load(f)
    except Exception as exc:  # unpickling can raise almost anything
        raise AsmpError(f"cannot unpickle ({exc.__class__.__name__}: {exc})", path) from None


def _read_info(info_path: Path) -> tuple[np.ndarray, list[int], tuple[int, int] | None]:
    """Per row of the released json: frame index ``[R]`` (8 fps, 0-based) and number of
    objects; the frame size ``(H, W)`` when entry 0 gives ``image_h`` and ``image_w``."""
    try:
        info = json.loads(info_path.read_text())
        frames = np.array([_released_frame(e["image"], RELEASED_FPS) for e in info], np.int64)
        counts = [len(e["objects"]) for e in info]
        size = (int(info[0]["image_h"]), int(info[0]["image_w"])) if "image_h" in info[0] else None
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise AsmpError(
            f"not a list of frames with 'image' and 'objects' ({exc!r})", info_path
        ) from None
    if len(set(frames.tolist())) != len(frames):
        raise AsmpError("several entries name the same frame image", info_path)
    return frames, counts, size


def _graph_entries(info: Any, n_rows: int, path: Path) -> tuple[list[tuple[int, int, bool]], Any]:
    """``object_context`` as (row, box, is_principal) without the final background entry,
    and ``dist_mat``, checked."""
    try:
        context, dist = info["object_context"], info["dist_mat"]
        entries = [(int(r), int(b), bool(p)) for r, b, p in context[:-1]]
    except (KeyError, TypeError, ValueError) as exc:
        raise AsmpError(
            f"expected a dict with 'object_context' (frame, box, is_principal) entries and "
            f"'dist_mat' ({exc!r})",
            path,
        ) from None
    if not entries or not entries[-1][2]:
        raise AsmpError(
            "object_context must list context entries before their principal, then the "
            "background; the entry before the background is not a principal",
            path,
        )
    bad = [i for i, (r, b, _) in enumerate(entries) if not (0 <= r < n_rows and b >= 0)]
    if bad:
        raise AsmpError(
            f"object_context entry {bad[0]} {entries[bad[0]][:2]} is not a (frame, box) of the "
            f"{n_rows} released frames",
            path,
        )
    return entries, dist


def _edges(dist: Any, n: int, cfg: Config, path: Path) -> tuple[np.ndarray, ...]:
    """Index ``[E,2]``, Chamfer ``[E]`` and weight ``[E]`` of every pair ``i < j`` from the
    upper triangle of ``dist`` ``[n,n]``; a NaN distance becomes the largest finite one."""
    d = np.asarray(dist, dtype=np.float64)
    if d.shape != (n, n):
        raise AsmpError(
            f"dist_mat has shape {d.shape}, expected ({n}, {n}) for object_context", path
        )
    iu = np.triu_indices(n, 1)
    pair = d[iu]
    if np.isinf(pair).any() or (pair < 0).any():
        raise AsmpError("dist_mat has negative or infinite distances", path)
    finite = pair[~np.isnan(pair)]
    pair = np.where(np.isnan(pair), finite.max() if finite.size else 0.0, pair)
    full = np.zeros((n, n))
    full[iu] = pair
    full.T[iu] = pair
    w = edge_weights(full, cfg["graph"]["edge_mode"], cfg["graph"]["sigma_percentile"])
    return np.stack(iu, axis=1).astype(np.int32), pair.astype(np.float32), w[iu].astype(np.float32)


def _sound_classes(
    vg_ids: Sequence[int], labels_path: Path, cfg: Config, classes: list[str]
) -> np.ndarray:
    """Sound class ``[O]`` (index into ``dataset.sound_classes``) of auditory objects of
    Visual Genome classes ``vg_ids``: column 0 of the first CSV row with that class (column
    1), else the class map."""
    try:
        rows = list(csv.reader(labels_path.read_text().splitlines()))
    except OSError:
        raise AsmpError("no such file", labels_path) from None
    released: dict[int, int] = {}
    for line, row in enumerate(rows, 1):
        if not "".join(row).strip():
            continue
        try:
            sound, vg = int(row[0]), int(row[1])
        except (IndexError, ValueError):
            raise AsmpError(
                f"line {line}: expected sound class, Visual Genome id, frame, box; got {row}",
                labels_path,
            ) from None
        if not 0 <= sound < len(RELEASED_SOUND_CLASSES):
            raise AsmpError(f"line {line}: sound class {sound} is not in 0-13", labels_path)
        released.setdefault(vg, sound)
    names = cfg["dataset"]["sound_classes"]
    out = []
    for vg in vg_ids:
        if vg in released:
            name = RELEASED_SOUND_CLASSES[released[vg]]
            if name not in names:
                raise AsmpError(
                    f"released sound class {released[vg]} ({name}) is not in dataset.sound_classes",
                    labels_path,
                )
            out.append(names.index(name))
        else:
            by_class_map = candidate_classes(classes, cfg, None)
            if vg not in by_class_map:
                raise AsmpError(
                    f"auditory object of Visual Genome class {vg} ({classes[vg]}) has no row "
                    "here and no sound class in dataset.class_map",
                    labels_path,
                )
            out.append(by_class_map[vg])
    return np.array(out, dtype=np.int16)


def _displacements(raw: Any, path: Path) -> dict[int, dict[int, Any]]:
    """The displacement pickle as class id -> window -> vector (a per-class value is a
    sequence indexed by window or a mapping window -> vector)."""
    if not isinstance(raw, Mapping):
        raise AsmpError(f"expected a dict keyed by Visual Genome class, got {type(raw)}", path)
    try:
        return {
            int(c): {
                int(w): v for w, v in (seq.items() if isinstance(seq, Mapping) else enumerate(seq))
            }
            for c, seq in raw.items()
        }
    except (TypeError, ValueError) as exc:
        raise AsmpError(f"expected class id -> per-window vectors ({exc!r})", path) from None


def _motion(
    disp: dict[int, dict[int, Any]], vg_ids: Sequence[int], n_windows: int, path: Path
) -> tuple[np.ndarray, np.ndarray]:
    """Displacement ``[O,W,3]`` (zero where missing) and its presence ``[O,W]`` for the
    objects of Visual Genome classes ``vg_ids``; ``None`` and non-finite vectors are missing."""
    out = np.zeros((len(vg_ids), n_windows, 3))
    has = np.zeros((len(vg_ids), n_windows), dtype=bool)
    for k, vg in enumerate(vg_ids):
        for w, vec in disp.get(vg, {}).items():
            if not 0 <= w < n_windows or vec is None:
                continue
            try:
                v = np.asarray(vec, dtype=np.float64).reshape(-1)
            except (TypeError, ValueError):
                v = np.zeros(0)
            if v.shape != (3,):
                raise AsmpError(f"class {vg}, window {w}: {vec!r} is not a (u, v, d)", path)
            if np.isfinite(v).all():
                out[k, w], has[k, w] = v, True
    return out, has


def _nodes(
    entries: list[tuple[int, int, bool]],
    dets: list[Detections],
    counts: list[int],
    chamfer: Path,
    features: Path,
) -> list[tuple[np.ndarray, int, float, np.ndarray]]:
    """(box ``[4]``, Visual Genome id, score, feature ``[2048]``) of the detection at each
    entry's (row, box), then of the background: box 0 of row 0."""
    out = []
    for row, box in [(r, b) for r, b, _ in entries] + [(0, 0)]:
        if box >= counts[row]:
            raise AsmpError(
                f"object_context names box {box} of frame row {row}, which has {counts[row]} "
                "objects",
                chamfer,
            )
        d = dets[row]
        if len(d) != counts[row]:
            raise AsmpError(
                f"frame row {row} has zero-area boxes, so its box indices cannot be matched",
                features,
            )
        out.append((d.boxes[box], int(d.labels[box]), float(d.scores[box]), d.features[box]))
    return out


def import_record(
    clip: str, root: str | Path, cfg: Config, split: str | None = None
) -> VideoRecord:
    """The record of released video ``clip`` under ``root`` (``Audiocaps_Dataset/``).

    Nodes follow ``object_context`` (context nodes, then their principal = auditory node,
    ..., the background last, from box 0 of feature row 0); edges are every pair ``i < j``
    of ``dist_mat``; motion has ``W = min(whole 8-frame windows of the audio, 10)`` windows
    of released displacements labelled with the released thresholds; crops and STFTs follow
    the config's ``audio``. docs/released.md has every rule.

    Args:
        clip: the YouTube id.
        root: the ``Audiocaps_Dataset/`` folder.
        cfg: a resolved config with ``dataset.detector_vocabulary: visual_genome``.
        split: the split folder; None finds the one holding the clip.

    Raises:
        AsmpError: naming the missing or malformed released file.
    """
    _check_config(cfg)
    files = released_files(clip, root, split)
    classes = detector_classes(root)
    chamfer = next(
        (p for p in (files.rectified / n for n in CHAMFER_FILES) if p.is_file()),
        files.rectified / CHAMFER_FILES[0],
    )
    info_path = files.frames / RELEASED_INFO
    rows, counts, size = _read_info(info_path)
    entries, dist = _graph_entries(load_pickle(chamfer), len(rows), chamfer)
    dets = read_released(files.frames, rows, RELEASED_FPS, np.ones(4), _NO_CLIP, -np.inf)
    nodes = _nodes(entries, dets, counts, chamfer, files.frames / RELEASED_FEATURES)
    role = np.array([AUDITORY if p else CONTEXT for _, _, p in entries] + [BACKGROUND], np.int8)
    is_aux = role[:-1] == AUDITORY
    # A context node belongs to the principal after it: object = principals before it.
    obj = np.append(np.cumsum(is_aux) - is_aux, -1).astype(np.int16)
    aux = np.flatnonzero(role == AUDITORY)
    vg = np.array([c for _, c, _, _ in nodes], np.int32)
    sound = _sound_classes(vg[aux].tolist(), files.frames / LABELS_FILE, cfg, classes)
    index, distance, weight = _edges(dist, len(nodes), cfg, chamfer)
    disp_path = files.rectified / DISPLACEMENT_FILE
    disp_by_class = _displacements(load_pickle(disp_path), disp_path)

    a = cfg["audio"]
    sr = a["sample_rate"]
    waveform, bad = decode_audio(files.audio, sr)
    if bad:
        log.warning("%s: skipped %d undecodable packet(s)", files.audio, bad)
    n_frames = math.ceil(len(waveform) * RELEASED_FPS / sr)
    n_win = min(n_frames // RELEASED_WINDOW_FRAMES, RELEASED_WINDOWS)
    if n_win < 1:
        raise AsmpError(f"{len(waveform) / sr:.2f} s of audio, shorter than a window", files.audio)
    disp, has = _motion(disp_by_class, vg[aux].tolist(), n_win, disp_path)
    boxes = np.array([b for b, _, _, _ in nodes], np.float32)
    if size is None:  # the smallest frame holding every node's box
        size = (max(1, math.ceil(boxes[:, 3].max())), max(1, math.ceil(boxes[:, 2].max())))
    starts = crop_starts(len(waveform), sr, a["crop_samples"])
    names = cfg["dataset"]["sound_classes"]
    log.info("%s: %d nodes, %d auditory objects, %d windows", clip, len(nodes), len(aux), n_win)
    return VideoRecord(
        id=clip,
        sha256=sha256_file(files.audio),
        split=files.split,
        sound_classes=[names[c] for c in sorted(set(sound.tolist()))],
        fps=RELEASED_FPS,
        source_fps=RELEASED_FPS,
        duration=len(waveform) / sr,
        frame_size=size,
        window_start_frame=np.arange(n_win, dtype=np.int32) * RELEASED_WINDOW_FRAMES,
        window_cam_T=np.tile(np.eye(4, dtype=np.float32), (n_win, RELEASED_WINDOW_FRAMES, 1, 1)),
        window_icp_fitness=np.ones((n_win, RELEASED_WINDOW_FRAMES), np.float32),
        window_icp_rmse=np.zeros((n_win, RELEASED_WINDOW_FRAMES), np.float32),
        node_box=boxes,
        node_frame=rows[[r for r, _, _ in entries] + [0]].astype(np.int32),
        node_det_class=vg,
        node_score=np.array([s for _, _, s, _ in nodes], np.float32),
        node_feature=np.array([f for _, _, _, f in nodes], np.float16),
        node_role=role,
        node_object=obj,
        node_sound_class=np.where(role == AUDITORY, sound[np.maximum(obj, 0)], -1).astype(np.int16),
        edge_index=index,
        edge_chamfer=distance,
        edge_weight=weight,
        object_node=aux.astype(np.int32),
        object_sound_class=sound,
        motion_displacement=disp.astype(np.float32),
        **{
            f"motion_direction{k}": direction_class(
                disp, k, RELEASED_STILL_UV, RELEASED_STILL_D, has
            ).astype(np.int8)
            for k in DIRECTION_CLASSES
        },
        waveform=waveform,
        crop_start=starts,
        crop_stft=crop_stft(waveform, starts, a["crop_samples"], a["n_fft"], a["hop_length"]),
        extra=dict(RELEASED_ATTRS),
    )


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("clips", nargs="+", help="YouTube ids of released ASIW videos")
    p.add_argument("--root", required=True, type=Path, help="the released Audiocaps_Dataset/")
    p.add_argument("--config", required=True, type=Path, help="dataset config (asiw)")
    p.add_argument("--out", required=True, type=Path, help="directory of the records")
    p.add_argument("--split", choices=["train", "val", "test"], help="default: found on disk")


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    attrs = import_attrs(cfg, args.root)
    for clip in tqdm(args.clips, desc="import", unit="video", disable=None):
        write_shard(
            args.out / f"{clip}.h5", [import_record(clip, args.root, cfg, args.split)], attrs
        )
    return 0
