"""``asmp evaluate``: the evaluation protocol on a dataset's test split (docs/evaluation.md).

1. A fixed pair list (``pairs.csv``): pairs of test videos without a common sound class,
   drawn once from a fixed seed (for ASIW, the authors' 300 separation pairs), mixed at
   unit gain.
2. Each pair is separated crop by crop: every whole-second crop the two videos share is
   one mixture; a video's estimate is the sum of its slots' masked spectrograms (mixture
   phase, inverse STFT), and the crops' estimates are overlap-added (averaged where they
   overlap) over the clip's covered length.
3. BSS-Eval SDR/SIR/SAR per source against the video's own audio, with the mixture and the
   ideal binary and ratio masks (linear STFT) as baselines; SDR improvement over the
   mixture; mean, median and a 95% bootstrap interval.
4. Direction accuracy per object window (log-probabilities averaged over the crops that
   hold the window), for the model's classes and, from 28 classes, the 10-class octants,
   with the majority-class baseline of the train split and a confusion matrix.
5. Direction test pairs (for ASIW, the authors' 207): one named object window per video,
   scored on the one mixture of the two crops that hold the windows.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from asmp.config import Config, load_config
from asmp.errors import AsmpError
from asmp.evaluate.metrics import bss_eval_batch
from asmp.evaluate.separation import (
    direction_assignment,
    label_predictions,
    overlap_add,
    waveforms,
)
from asmp.io.hdf5 import atomic_path
from asmp.preprocess.motion import LATTICE26, direction_class
from asmp.spectrogram import istft
from asmp.train.checkpoint import load_checkpoint
from asmp.train.data import Mixture, MixtureSampler, ShardSet, VideoRef
from asmp.train.step import Forward
from asmp.train.trainer import build_forward, check_shards, make_sampler

log = logging.getLogger(__name__)

#: Pairs generated for datasets without an official list.
DEFAULT_PAIRS = 300
PAIR_SEED = 20221128
BOOTSTRAP = 1000
#: The authors' ASIW separation pairs, shipped with the project.
ASIW_PAIRS = Path(__file__).resolve().parents[3] / "data" / "asiw" / "separation_test_pairs.csv"
#: The authors' ASIW direction pairs (each video's sound class and 1-s window).
ASIW_DIRECTION_PAIRS = ASIW_PAIRS.with_name("direction_test_pairs.csv")
#: Mixtures per forward pass when scoring direction pairs.
DIRECTION_CHUNK = 16


@dataclass
class Model:
    """A trained model loaded for evaluation."""

    name: str
    forward: Forward
    config: Config


def load_model(path: str | Path, cfg: Config, shards: ShardSet, device: torch.device) -> Model:
    """Load a checkpoint and check it fits the dataset config and the shards.

    Raises:
        AsmpError: naming the checkpoint and the mismatch (dataset, sound classes, feature
            size, audio settings).
    """
    state = load_checkpoint(path, map_location="cpu")
    own = state["config"]
    for key in ("name", "sound_classes"):
        if own["dataset"][key] != cfg["dataset"][key]:
            raise AsmpError(
                f"checkpoint trained with dataset.{key} {own['dataset'][key]}, "
                f"the config has {cfg['dataset'][key]}",
                path,
            )
    feature_dim = int(shards.attrs["feature_dim"])
    if state["model_spec"]["feature_dim"] != feature_dim:
        raise AsmpError(
            f"checkpoint expects {state['model_spec']['feature_dim']}-d node features, "
            f"the shards hold {feature_dim}-d",
            path,
        )
    try:
        check_shards(own, shards)
    except AsmpError as err:
        raise AsmpError(f"checkpoint does not fit the shards: {err}", path) from None
    fwd = build_forward(own, feature_dim, shards.attrs)
    fwd.model.load_state_dict(state["model"])
    fwd.to(device).eval()
    return Model(str(state["preset"]), fwd, own)


def make_pairs(
    sampler: MixtureSampler, dataset: str, n: int = DEFAULT_PAIRS
) -> list[tuple[str, str]]:
    """The fixed test pairs: the authors' list for ASIW (pairs whose videos are in the
    shards), else ``n`` distinct pairs without a common class drawn with a fixed seed
    (every such pair when there are fewer)."""
    ids = {v.video_id: v for v in sampler.videos}
    if dataset == "asiw":
        with open(ASIW_PAIRS, newline="") as f:
            rows = [(r["video1"], r["video2"]) for r in csv.DictReader(f)]
        kept = [p for p in rows if p[0] in ids and p[1] in ids]
        if len(kept) < len(rows):
            log.warning(
                "%d of the authors' %d pairs have both videos in the shards", len(kept), len(rows)
            )
        return kept
    videos = sampler.videos
    candidates = [
        (a.video_id, b.video_id)
        for i, a in enumerate(videos)
        for b in videos[i + 1 :]
        if not (a.classes & b.classes)
    ]
    if not candidates:
        raise AsmpError("the test split has no two videos without a common sound class")
    rng = np.random.default_rng(PAIR_SEED)
    pick = rng.permutation(len(candidates))[:n]
    return [candidates[i] for i in sorted(pick)]


def read_pairs(path: Path) -> list[tuple[str, str]]:
    with open(path, newline="") as f:
        return [(r["video1"], r["video2"]) for r in csv.DictReader(f)]


def write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Write dict rows as CSV atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, list(rows[0]) if rows else ["empty"])
        w.writeheader()
        w.writerows(rows)


@dataclass(frozen=True)
class DirectionPair:
    """A direction test item: in video ``videos[u]``, the object of sound class
    ``classes[u]`` (0-based index into ``dataset.sound_classes``) at its 1-s window
    ``windows[u]`` (0-based), for u = 0, 1; the two videos are mixed."""

    videos: tuple[str, str]
    classes: tuple[int, int]
    windows: tuple[int, int]


def read_direction_pairs(path: Path) -> list[DirectionPair]:
    """Rows ``video1,class1,window1,video2,class2,window2`` (data/asiw/README.md)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    try:
        return [
            DirectionPair(
                (r["video1"], r["video2"]),
                (int(r["class1"]), int(r["class2"])),
                (int(r["window1"]), int(r["window2"])),
            )
            for r in rows
        ]
    except (KeyError, TypeError, ValueError) as err:
        raise AsmpError(
            "direction pairs need the columns video1,class1,window1,video2,class2,window2 "
            f"with integer classes and windows ({type(err).__name__}: {err})",
            path,
        ) from None


def probe_crop(starts: np.ndarray, window: int, windows_per_crop: int) -> tuple[int, int] | None:
    """``(crop, window within the crop)`` holding video window ``window``: the crop with the
    earliest start that holds it (the authors' rule: start at 0 s and move forward a second
    at a time until the window fits), or None. ``starts`` [C] crop starts in whole seconds."""
    for c in np.argsort(starts, kind="stable"):
        k = window - int(starts[c])
        if 0 <= k < windows_per_crop:
            return int(c), k
    return None


def score_direction_pairs(
    models: Sequence[Model],
    pairs: Sequence[DirectionPair],
    sampler: MixtureSampler,
    device: torch.device,
) -> dict[str, Any]:
    """Direction accuracy on ``pairs``, per model with a direction network.

    Each video is cropped by :func:`probe_crop`, the two crops are mixed and separated, the
    slots are matched to the objects (:func:`label_predictions`) and the named object's
    predicted class at its window is compared with the shard label. A pair whose video is
    not in the split, has no object of the named class or no crop holding the window is
    skipped and counted.

    Returns:
        ``{model: {"pairs", "skipped", "objects", "accuracy{D}", "video1", "video2"
        [, "accuracy10"]}}`` with D the model's direction classes.
    """
    by_id = {v.video_id: v for v in sampler.videos}
    items: list[tuple[Mixture, list[tuple[int, int, int]]]] = []
    for pair in pairs:
        crops, probes = [], []
        for u, (vid, cls, win) in enumerate(
            zip(pair.videos, pair.classes, pair.windows, strict=True)
        ):
            ref = by_id.get(vid)
            if ref is None:
                break
            rec = sampler.shards.read(ref, ("crop_start", "object_sound_class"))
            found = probe_crop(
                rec["crop_start"] // sampler.sample_rate, win, sampler.windows_per_crop
            )
            objects = np.flatnonzero(rec["object_sound_class"][: sampler.slots - 1] == cls)
            if found is None or not objects.size:
                break
            crops.append(found[0])
            probes.append((u, int(objects[0]), found[1]))
        else:
            items.append((Mixture(by_id[pair.videos[0]], by_id[pair.videos[1]], *crops), probes))
    skipped = len(pairs) - len(items)
    if skipped:
        log.warning("%d of %d direction pairs cannot be scored in the shards", skipped, len(pairs))
    scored: dict[str, list[tuple[int, int, int]]] = {m.name: [] for m in models}
    for i in range(0, len(items), DIRECTION_CHUNK):
        chunk = items[i : i + DIRECTION_CHUNK]
        batch = sampler.batch([m for m, _ in chunk]).to(device)
        for m in models:
            with torch.no_grad():
                logits = m.forward(batch, losses=False).direction_logits
            if logits is None:
                continue
            pred = label_predictions(logits, batch)
            for j, (_, probes) in enumerate(chunk):
                for u, obj, k in probes:
                    row = 2 * j + u
                    if batch.window_valid[row, k]:
                        true = int(batch.directions[row, obj, k])
                        scored[m.name].append((u, int(pred[row, obj, k]), true))
    result: dict[str, Any] = {}
    for m in models:
        got = np.array(scored[m.name], dtype=int).reshape(-1, 3)
        if not got.size:
            continue
        n = m.config["model"]["direction_classes"]
        u, pred, true = got.T
        entry: dict[str, Any] = {
            "pairs": len(items),
            "skipped": skipped,
            "objects": int(true.size),
            f"accuracy{n}": float((pred == true).mean()),
            "video1": float((pred == true)[u == 0].mean()) if (u == 0).any() else float("nan"),
            "video2": float((pred == true)[u == 1].mean()) if (u == 1).any() else float("nan"),
        }
        if n == 28:
            entry["accuracy10"] = float((octant_of(pred, 28) == octant_of(true, 28)).mean())
        result[m.name] = entry
    return result


def octant_of(classes: np.ndarray, n_classes: int) -> np.ndarray:
    """Map direction classes to the 10-class scheme: still stays 0, a 28-class direction
    goes to the octant of its lattice vector (zero components count as +), background 9."""
    classes = np.asarray(classes)
    if n_classes == 10:
        return classes
    vec = np.asarray(LATTICE26, dtype=float)[np.clip(classes - 1, 0, 25)]
    out = direction_class(vec, 10, 0.0, 0.0)
    return np.where(classes == 0, 0, np.where(classes == n_classes - 1, 9, out))


class PairRunner:
    """Separates one pair crop by crop and overlap-adds the crops' estimates."""

    def __init__(self, sampler: MixtureSampler, device: torch.device) -> None:
        self.sampler, self.device = sampler, device
        a = sampler.shards.attrs
        self.crop = int(a["crop_samples"])
        self.sr = int(a["sample_rate"])

    def mixtures(self, a: VideoRef, b: VideoRef) -> list[Mixture]:
        n = min(self.sampler.n_crops(a), self.sampler.n_crops(b))
        return [Mixture(a, b, c, c) for c in range(n)]


def _summary(values: np.ndarray, rng: np.random.Generator) -> dict[str, float]:
    """Mean, median and 95% bootstrap interval of the mean of the finite ``values``."""
    v = values[np.isfinite(values)]
    if not v.size:
        return {"mean": float("nan"), "median": float("nan"), "ci95": [float("nan")] * 2, "n": 0}
    means = rng.choice(v, (BOOTSTRAP, v.size)).mean(1)
    return {
        "mean": float(v.mean()),
        "median": float(np.median(v)),
        "ci95": [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))],
        "n": int(v.size),
    }


def evaluate(
    checkpoints: Sequence[str | Path],
    cfg: Config,
    shards_manifest: str | Path,
    out: str | Path,
    *,
    pairs_file: str | Path | None = None,
    direction_pairs_file: str | Path | None = None,
    device: str | None = None,
    figures: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the protocol for every checkpoint; write ``out/pairs.csv``, ``out/scores.csv``
    (per pair and source), ``out/metrics.json``, ``out/report.md`` and figures under
    ``out/figures/``. ``direction_pairs_file`` (for ASIW by default the authors' list)
    adds the direction test pairs' scores. Returns the metrics."""
    from asmp.evaluate.report import write_figures, write_report

    out = Path(out)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    shards = ShardSet(shards_manifest)
    check_shards(cfg, shards)
    models = [load_model(p, cfg, shards, dev) for p in checkpoints]
    if not models:
        raise AsmpError("no checkpoint given")
    sampler = make_sampler(models[0].config, shards, "test")
    pairs = (
        read_pairs(Path(pairs_file)) if pairs_file else make_pairs(sampler, cfg["dataset"]["name"])
    )
    write_csv(out / "pairs.csv", [{"video1": a, "video2": b} for a, b in pairs])
    by_id = {v.video_id: v for v in sampler.videos}
    missing = [v for p in pairs for v in p if v not in by_id]
    if missing:
        raise AsmpError(
            f"pair video {missing[0]!r} is not in the test split of the shards",
            pairs_file or out / "pairs.csv",
        )
    runner = PairRunner(sampler, dev)
    rows: list[dict[str, Any]] = []
    direction: dict[str, dict[str, list[np.ndarray]]] = {
        m.name: {"pred": [], "true": []} for m in models
    }
    examples: dict[str, Any] = {}
    for a_id, b_id in tqdm(pairs, desc="evaluate", disable=not progress):
        a, b = by_id[a_id], by_id[b_id]
        mixtures = runner.mixtures(a, b)
        batch = sampler.batch(mixtures).to(dev)
        starts = [int(s) for s in batch.crop_start[0::2].tolist()]
        est_sets: dict[str, np.ndarray] = {}
        n_fft = 2 * (batch.stft.shape[-2] - 1)
        hop = models[0].forward.hop
        ref_c = istft(batch.stft, n_fft, hop, runner.crop)  # [2C, L]
        mix_spec = batch.mixture_stft()
        mix_c = istft(mix_spec, n_fft, hop, runner.crop)
        ref = np.stack([overlap_add(ref_c[u::2], starts) for u in range(2)])
        mix = overlap_add(mix_c, starts)
        est_sets["mixture"] = np.stack([mix, mix])
        mags = batch.stft.abs().unflatten(0, (-1, 2))  # [C, 2, F, T]
        ibm = (mags > mags.flip(1)).float()
        irm = mags / mags.sum(1, keepdim=True).clamp(min=1e-10)
        for name, mask in (("ideal_binary_mask", ibm), ("ideal_ratio_mask", irm)):
            waves = istft(mask * mix_spec[:, None], n_fft, hop, runner.crop)  # [C, 2, L]
            est_sets[name] = np.stack([overlap_add(waves[:, u], starts) for u in range(2)])
        for m in models:
            with torch.no_grad():
                outputs = m.forward(batch, losses=False)
                est_c, _, _ = waveforms(outputs, batch, hop, runner.crop)
            est_sets[m.name] = np.stack([overlap_add(est_c[u::2], starts) for u in range(2)])
            if outputs.direction_logits is not None:
                pred, true = _clip_directions(outputs.direction_logits, batch, starts, runner.sr)
                direction[m.name]["pred"].append(pred)
                direction[m.name]["true"].append(true)
            if not examples:
                examples = {
                    "pair": (a_id, b_id),
                    "batch": batch.to("cpu"),
                    "outputs": outputs,
                    "sample_rate": runner.sr,
                    "hop": hop,
                }
        names = list(est_sets)
        scores = bss_eval_batch(
            np.repeat(ref[None], len(names), 0), np.stack([est_sets[k] for k in names])
        )
        for k, name in enumerate(names):
            for u, vid in enumerate((a_id, b_id)):
                rows.append(
                    {
                        "video1": a_id,
                        "video2": b_id,
                        "source": vid,
                        "method": name,
                        "sdr": scores.sdr[k, u],
                        "sir": scores.sir[k, u],
                        "sar": scores.sar[k, u],
                        "sdri": scores.sdr[k, u] - scores.sdr[0, u],
                        "silent": bool(scores.silent[k, u]),
                    }
                )
    write_csv(out / "scores.csv", rows)
    metrics = _metrics(rows, models, direction, shards, cfg)
    metrics["pairs"] = len(pairs)
    if direction_pairs_file is None and cfg["dataset"]["name"] == "asiw":
        direction_pairs_file = ASIW_DIRECTION_PAIRS
    if direction_pairs_file is not None:
        probes = read_direction_pairs(Path(direction_pairs_file))
        metrics["direction_pairs"] = score_direction_pairs(models, probes, sampler, dev)
    with atomic_path(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=2, allow_nan=True))
    figs = write_figures(out / "figures", examples, metrics, checkpoints) if figures else []
    write_report(out / "report.md", metrics, figs)
    return metrics


def _clip_directions(
    logits: torch.Tensor, batch: Any, starts: Sequence[int], sample_rate: int
) -> tuple[np.ndarray, np.ndarray]:
    """Predicted and true classes of every object window of the pair's two videos.

    The crops of one video share a slot order per crop (:func:`direction_assignment`);
    each video window's log-probabilities are averaged over the crops holding it.
    """
    perm = direction_assignment(logits, batch)  # [V, S] slot -> label
    logp = logits.float().log_softmax(-1)
    inverse = torch.argsort(perm, dim=1)
    by_label = logp.gather(1, inverse[:, :, None, None].expand_as(logp))  # [V, S, Wc, D]
    preds, trues = [], []
    n_win_crop = logp.shape[2]
    for u in range(2):
        rows = list(range(u, logp.shape[0], 2))
        n_obj = int(batch.valid[rows[0]].sum()) - 1
        if n_obj <= 0:
            continue
        total: dict[int, torch.Tensor] = {}
        label: dict[int, torch.Tensor] = {}
        for r, s in zip(rows, starts, strict=True):
            first = s // sample_rate
            for k in range(n_win_crop):
                if batch.window_valid[r, k]:
                    w = first + k
                    total[w] = total.get(w, 0) + by_label[r, :n_obj, k]
                    label[w] = batch.directions[r, :n_obj, k]
        for w in sorted(total):
            preds.append(total[w].argmax(-1).cpu().numpy())
            trues.append(label[w].cpu().numpy())
    if not preds:
        return np.zeros(0, int), np.zeros(0, int)
    return np.concatenate(preds), np.concatenate(trues)


def _train_majority(shards: ShardSet, n_classes: int) -> int:
    """The most frequent object direction class of the train split (not background)."""
    counts = np.zeros(n_classes, int)
    for ref in shards.split("train"):
        labels = shards.read(ref, (f"motion_direction{n_classes}",))[f"motion_direction{n_classes}"]
        counts += np.bincount(labels.ravel(), minlength=n_classes)[:n_classes]
    counts[n_classes - 1] = 0
    return int(counts.argmax())


def _metrics(
    rows: list[dict[str, Any]],
    models: Sequence[Model],
    direction: dict[str, dict[str, list[np.ndarray]]],
    shards: ShardSet,
    cfg: Config,
) -> dict[str, Any]:
    """Summaries per method (separation) and per model (direction)."""
    rng = np.random.default_rng(0)
    methods = list(dict.fromkeys(r["method"] for r in rows))
    sep: dict[str, Any] = {}
    for name in methods:
        mine = [r for r in rows if r["method"] == name]
        sep[name] = {
            k: _summary(np.array([r[k] for r in mine], float), rng)
            for k in ("sdr", "sir", "sar", "sdri")
        }
        sep[name]["silent"] = int(sum(r["silent"] for r in mine))
    n_classes = models[0].config["model"]["direction_classes"]
    majority = _train_majority(shards, n_classes)
    dirs: dict[str, Any] = {}
    for m in models:
        d = direction[m.name]
        if not d["pred"]:
            continue
        pred, true = np.concatenate(d["pred"]), np.concatenate(d["true"])
        keep = true != n_classes - 1  # the padding/background class is not scored
        pred, true = pred[keep], true[keep]
        entry: dict[str, Any] = {
            "windows": int(true.size),
            f"accuracy{n_classes}": float((pred == true).mean()) if true.size else float("nan"),
            f"majority{n_classes}": float((true == majority).mean()) if true.size else float("nan"),
            # rows: true class (padding excluded), columns: predicted class (all).
            "confusion": np.bincount(true * n_classes + pred, minlength=(n_classes - 1) * n_classes)
            .reshape(n_classes - 1, n_classes)
            .tolist(),
        }
        if n_classes == 28:
            p10, t10 = octant_of(pred, 28), octant_of(true, 28)
            entry["accuracy10"] = float((p10 == t10).mean()) if true.size else float("nan")
            entry["majority10"] = (
                float((t10 == octant_of(np.array(majority), 28)).mean())
                if true.size
                else float("nan")
            )
        dirs[m.name] = entry
    return {
        "dataset": cfg["dataset"]["name"],
        "models": [m.name for m in models],
        "separation": sep,
        "direction": dirs,
        "direction_classes": n_classes,
        "majority_class": majority,
    }


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--checkpoint",
        nargs="+",
        required=True,
        type=Path,
        help="one checkpoint per model; several give the ablation table",
    )
    p.add_argument("--config", type=Path, required=True, help="dataset config YAML")
    p.add_argument("--shards", type=Path, required=True, help="shard manifest CSV")
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        help="output directory: report.md, metrics.json, pairs.csv, scores.csv, figures/",
    )
    p.add_argument("--pairs", type=Path, help="reuse this pairs.csv (video1,video2)")
    p.add_argument(
        "--direction-pairs",
        type=Path,
        help="direction test pairs CSV (video1,class1,window1,video2,class2,window2; "
        "default for ASIW: the authors' data/asiw/direction_test_pairs.csv)",
    )
    p.add_argument("--device", help="torch device (default: a GPU when present)")
    p.add_argument("--no-figures", action="store_true", help="skip the figures")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    evaluate(
        args.checkpoint,
        load_config(args.config),
        args.shards,
        args.out,
        pairs_file=args.pairs,
        direction_pairs_file=args.direction_pairs,
        device=args.device,
        figures=not args.no_figures,
    )
    print(args.out / "report.md")
    return 0
