"""``asmp separate``: separate the sounds of one's own video (docs/evaluation.md).

The video goes through the same per-video stages as the workflow (:func:`asmp.preprocess.
preprocess`, with the checkpoint's config), then every crop of its audio (whole seconds,
plus one crop ending on the last sample) is separated with the video's own graph; each
slot's crops are overlap-added into a full-length track. Slots are matched to the detected
auditory objects and the background by the consistency classifier (the slot order with the
highest likelihood of the objects' classes), and each object's direction per 1-s window
is the arg-max of its log-probabilities averaged over the crops holding the window.

Writes ``DIR/<source>.wav`` per object and ``DIR/background.wav`` (the video's sample
rate and length), ``DIR/sources.json`` and the figure ``DIR/sources.png``/``.pdf``; with
``video_out`` also ``DIR/<source>.mp4``: the decoded frames with every object's box and
its predicted direction per window drawn over them, and that source's track as sound.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from asmp.config import Config, load_config
from asmp.errors import AsmpError
from asmp.evaluate.separation import overlap_add
from asmp.io.audio import write_wav
from asmp.io.hdf5 import atomic_path
from asmp.io.shards import ShardReader
from asmp.spectrogram import reconstruct, stft
from asmp.train.checkpoint import load_checkpoint
from asmp.train.data import MixtureSampler, ShardSet, collate
from asmp.train.losses import permutation_min
from asmp.train.trainer import build_forward


def crop_plan(n_samples: int, sample_rate: int, crop: int) -> list[int]:
    """Crop starts (samples) covering ``[0, n_samples)``: every whole second whose crop fits,
    plus one crop ending on the last sample when those leave a tail."""
    starts = list(range(0, max(n_samples - crop, 0) + 1, sample_rate))
    if starts[-1] + crop < n_samples:
        starts.append(n_samples - crop)
    return starts


def separate(
    video: str | Path,
    checkpoint: str | Path,
    out: str | Path,
    cfg: Config | None = None,
    device: str | None = None,
    video_out: str | None = None,
) -> dict[str, Any]:
    """Separate ``video`` into one track per auditory object plus the background.

    Args:
        video: any video file with an audio stream.
        checkpoint: a trained checkpoint.
        out: output directory (its ``stages/`` subdirectory keeps the stage files).
        cfg: preprocessing config (default: the checkpoint's); its dataset classes must be
            the checkpoint's.
        device: torch device.
        video_out: name of a source (``object0_<class>`` or ``background``) whose track
            goes into an annotated mp4.

    Returns:
        the ``sources.json`` content.
    """
    from asmp.evaluate.figures import save_figure, spectrogram_grid
    from asmp.preprocess import preprocess

    out = Path(out)
    state = load_checkpoint(checkpoint)
    own = state["config"]
    cfg = cfg or own
    if cfg["dataset"]["sound_classes"] != own["dataset"]["sound_classes"]:
        raise AsmpError("checkpoint trained on other sound classes than the config's", checkpoint)
    record = preprocess(video, cfg, out / "stages" / "record.h5", workdir=out / "stages")
    shards = ShardSet.from_files([record])
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    fwd = build_forward(own, int(shards.attrs["feature_dim"]), shards.attrs)
    if state["model_spec"]["feature_dim"] != int(shards.attrs["feature_dim"]):
        raise AsmpError(
            "checkpoint expects other node features than the detector gives", checkpoint
        )
    fwd.model.load_state_dict(state["model"])
    fwd.to(dev).eval()
    sampler = MixtureSampler(
        shards,
        shards.videos[0].split,
        own["graph"]["max_auditory"] + 1,
        own["model"]["direction_classes"],
        own["graph"]["edge_mode"],
        own["graph"]["sigma_percentile"],
        require_pairs=False,
    )
    rec = ShardReader(record)[0]
    sr, n_fft, hop = (int(shards.attrs[k]) for k in ("sample_rate", "n_fft", "hop_length"))
    crop = int(shards.attrs["crop_samples"])
    wave = rec.waveform
    starts = crop_plan(len(wave), sr, crop)
    padded = np.pad(wave, (0, max(0, starts[-1] + crop - len(wave))))
    specs = stft(torch.from_numpy(np.stack([padded[s : s + crop] for s in starts])), n_fft, hop)
    ref = shards.videos[0]
    parts = [sampler.video(ref, 0, specs[k].numpy(), s) for k, s in enumerate(starts)]
    batch = collate(parts, np.arange(len(parts))).to(dev)
    with torch.no_grad():
        outputs = fwd(batch, losses=False)
    valid = batch.valid[0]
    n_slots = int(valid.sum())
    slot_of = _match_slots(outputs.class_logits, batch)  # label j -> slot
    # Each slot's waveform per crop, overlap-added over the clip.
    mix_spec = batch.mixture_stft()
    slot_waves = reconstruct(
        outputs.masks[:, :n_slots].float(), mix_spec[:, None], n_fft, hop, crop
    )  # [C, n_slots, crop]
    tracks = overlap_add(slot_waves, starts, len(wave))  # [n_slots, S]
    directions = _directions(outputs.direction_logits, batch, starts, sr, slot_of, rec.n_windows)
    classes = shards.attrs["sound_classes"]
    sources = []
    for j in range(n_slots):
        is_bg = j == n_slots - 1
        name = "background" if is_bg else f"object{j}_{classes[rec.object_sound_class[j]]}"
        path = out / f"{name}.wav"
        with atomic_path(path) as tmp:
            write_wav(tmp, tracks[slot_of[j]], sr)
        entry: dict[str, Any] = {"name": name, "wav": path.name, "slot": int(slot_of[j])}
        if not is_bg:
            node = int(rec.object_node[j])
            entry.update(
                {
                    "class": str(classes[rec.object_sound_class[j]]),
                    "box": [float(v) for v in rec.node_box[node]],
                    "frame": int(rec.node_frame[node]),
                    "direction": directions[j] if directions else None,
                }
            )
        sources.append(entry)
    result = {
        "video": str(video),
        "checkpoint": str(checkpoint),
        "sample_rate": sr,
        "samples": len(wave),
        "direction_classes": own["model"]["direction_classes"],
        "sources": sources,
    }
    with atomic_path(out / "sources.json") as tmp:
        tmp.write_text(json.dumps(result, indent=2))
    fig = spectrogram_grid(
        np.abs(stft(torch.from_numpy(wave), n_fft, hop).numpy()),
        None,
        [
            np.abs(
                stft(torch.from_numpy(tracks[slot_of[j]].astype(np.float32)), n_fft, hop).numpy()
            )
            for j in range(n_slots)
        ],
        [s["name"] for s in sources],
        sample_rate=sr,
        hop=hop,
    )
    save_figure(fig, out / "sources")
    if video_out is not None:
        names = {src["name"]: j for j, src in enumerate(sources)}
        if video_out not in names:
            raise AsmpError(f"no source {video_out!r}; the sources are {', '.join(names)}", video)
        annotated_video(
            out / f"{video_out}.mp4",
            out / "stages" / "decode.h5",
            [src for src in sources if "box" in src],
            tracks[slot_of[names[video_out]]],
            sr,
            own,
        )
    return result


def annotated_video(
    path: Path,
    decode_file: Path,
    objects: list[dict[str, Any]],
    audio: np.ndarray,
    sample_rate: int,
    cfg: Config,
) -> Path:
    """An mp4 of the decoded frames with each object's box (from its key frame) and, per
    1-s window, an arrow along its predicted direction's image-plane part (u, v; a circle
    for no motion, nothing for padding or an unpredicted window), with ``audio`` ``[S]``."""
    import cv2

    from asmp.evaluate.figures import direction_vectors
    from asmp.io.video import write_video
    from asmp.preprocess.common import read_stage

    with read_stage(decode_file, "decode") as f:
        frames = f["frames"][()].copy()
    vectors = direction_vectors(cfg["model"]["direction_classes"])
    window = cfg["video"]["window_frames"]
    for k, frame in enumerate(frames):
        for obj in objects:
            x1, y1, x2, y2 = (int(round(v)) for v in obj["box"])
            cv2.rectangle(frame, (x1, y1), (x2, y2), (255, 64, 64), 2)
            cv2.putText(frame, obj["class"], (x1, max(y1 - 4, 10)), 0, 0.4, (255, 64, 64), 1)
            dirs = obj["direction"] or []
            cls = dirs[k // window] if k // window < len(dirs) else None
            if cls is None or np.isnan(vectors[cls]).any():
                continue
            centre = ((x1 + x2) // 2, (y1 + y2) // 2)
            u, v, _ = vectors[cls] / max(np.linalg.norm(vectors[cls]), 1e-9)
            if cls == 0:
                cv2.circle(frame, centre, 5, (255, 220, 0), 2)
            else:
                length = 0.4 * max(x2 - x1, y2 - y1)
                tip = (int(centre[0] + length * u), int(centre[1] + length * v))
                cv2.arrowedLine(frame, centre, tip, (255, 220, 0), 2, tipLength=0.3)
    with atomic_path(path) as tmp:
        write_video(tmp, frames, cfg["video"]["fps"], audio.astype(np.float32), sample_rate)
    return path


def _match_slots(class_logits: torch.Tensor | None, batch: Any) -> list[int]:
    """Slot of each label (objects, then background), by the consistency classifier's
    log-probabilities summed over crops; the GRU order when there is no classifier."""
    n = int(batch.valid[0].sum())
    if class_logits is None:
        return list(range(n))
    logp = class_logits.float().log_softmax(-1).sum(0)  # [S, K+1]
    labels = batch.labels[0]
    cost = -logp[:, labels]  # [slot i, label j]
    _, perm = permutation_min(cost, batch.valid[0])
    slot_of = [0] * n
    for i in range(n):
        slot_of[int(perm[i])] = i
    return slot_of


def _directions(
    logits: torch.Tensor | None,
    batch: Any,
    starts: list[int],
    sample_rate: int,
    slot_of: list[int],
    n_windows: int,
) -> list[list[int | None]]:
    """Per object, the predicted direction class of each video window (None for a window
    that no whole-second crop holds)."""
    if logits is None:
        return []
    logp = logits.float().log_softmax(-1).cpu()  # [C, S, Wc, D]
    n_obj = int(batch.valid[0].sum()) - 1
    result = []
    for j in range(n_obj):
        acc = torch.zeros(n_windows, logp.shape[-1])
        seen = torch.zeros(n_windows, dtype=torch.bool)
        for k, s in enumerate(starts):
            if s % sample_rate:
                continue  # the end-aligned crop's windows straddle the video windows
            for w in range(logp.shape[2]):
                if s // sample_rate + w < n_windows:
                    acc[s // sample_rate + w] += logp[k, slot_of[j], w]
                    seen[s // sample_rate + w] = True
        result.append([int(c) if ok else None for c, ok in zip(acc.argmax(-1), seen, strict=True)])
    return result


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("video", type=Path, help="video file with an audio stream")
    p.add_argument("--checkpoint", type=Path, required=True, help="trained checkpoint")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument(
        "--config",
        type=Path,
        help="preprocessing config (default: the checkpoint's; set model weights paths here)",
    )
    p.add_argument("--device", help="torch device (default: a GPU when present)")
    p.add_argument(
        "--video-out",
        metavar="SOURCE",
        help="also write SOURCE.mp4: boxes and direction arrows over the frames, with the "
        "separated track of SOURCE (e.g. object0_dog or background)",
    )


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cfg = load_config(args.config) if args.config else None
    result = separate(args.video, args.checkpoint, args.out, cfg, args.device, args.video_out)
    for s in result["sources"]:
        print(args.out / s["wav"])
    return 0
