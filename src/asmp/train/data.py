"""Mix-and-separate batches from the shards (docs/training.md).

A mixture pairs two videos of one split that share no sound class; each contributes one of
its cached whole-second crops (``audio.crop_samples`` samples), so the mixture's STFT is the
exact sum of two cached STFTs and the crop's 1-s windows line up with the video windows
that carry the direction labels. Edge weights are recomputed from the stored Chamfer
distances with the run's edge mode, so every ablation trains from the same shards.

Batches are a pure function of ``(seed, step, rank)``: any step can be rebuilt in any
worker process, which makes resuming exact and the data loader order-free.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from asmp.errors import AsmpError
from asmp.graph import EdgeMode, edge_weights
from asmp.io.shards import REQUIRED_ATTRS, ShardReader

#: VideoRecord attributes a mixture needs (the waveform and the other crops stay on disk).
_NEEDED = (
    "id",
    "sound_classes",
    "node_feature",
    "edge_index",
    "edge_chamfer",
    "object_sound_class",
    "motion_direction10",
    "motion_direction28",
    "crop_start",
)


@dataclass(frozen=True)
class VideoRef:
    """Where one video lives: shard number and index in it, plus its manifest row."""

    shard: int
    index: int
    video_id: str
    split: str
    classes: frozenset[str]


class ShardSet:
    """The videos of every shard listed in a shard manifest (``asmp shard --manifest``).

    Args:
        manifest: CSV ``shard,index,video_id,split,sound_classes``; shard names are
            relative to the manifest's directory.

    Raises:
        AsmpError: a missing manifest or shard, or shards of different configurations.
    """

    def __init__(self, manifest: str | Path) -> None:
        self.manifest = Path(manifest)
        if not self.manifest.is_file():
            raise AsmpError("shard manifest not found", self.manifest)
        with open(self.manifest, newline="") as f:
            self._index(list(csv.DictReader(f)))

    @classmethod
    def from_files(cls, paths: Sequence[str | Path]) -> ShardSet:
        """The videos of shard (or record) files given directly, without a manifest."""
        out = cls.__new__(cls)
        out.manifest = Path(paths[0])
        rows = []
        for path in paths:
            reader = ShardReader(path)
            for i in range(len(reader)):
                v = reader.read(i, ("id", "split", "sound_classes"))
                rows.append(
                    {
                        "shard": str(Path(path).resolve()),
                        "index": i,
                        "video_id": v["id"],
                        "split": v["split"],
                        "sound_classes": ";".join(v["sound_classes"]),
                    }
                )
            reader.close()
        out._index(rows)
        return out

    def _index(self, rows: list[dict[str, Any]]) -> None:
        names = list(dict.fromkeys(r["shard"] for r in rows))
        if not names:
            raise AsmpError("shard manifest lists no videos", self.manifest)
        self.readers: list[ShardReader] = []
        for name in names:
            path = self.manifest.parent / name
            if not path.is_file():
                raise AsmpError(f"shard {name} listed in {self.manifest} not found", path)
            self.readers.append(ShardReader(path))
        self.attrs: dict[str, Any] = self.readers[0].attrs
        for reader in self.readers[1:]:
            for key in REQUIRED_ATTRS:
                if np.asarray(reader.attrs[key]).tolist() != np.asarray(self.attrs[key]).tolist():
                    raise AsmpError(
                        f"attribute {key} differs from {self.readers[0].path.name}'s", reader.path
                    )
        number = {n: i for i, n in enumerate(names)}
        self.videos = [
            VideoRef(
                number[r["shard"]],
                int(r["index"]),
                r["video_id"],
                r["split"],
                frozenset(c for c in r["sound_classes"].split(";") if c),
            )
            for r in rows
        ]

    def split(self, name: str) -> list[VideoRef]:
        """The videos of split ``name`` in manifest order."""
        return [v for v in self.videos if v.split == name]

    def read(self, ref: VideoRef, names: Sequence[str] = _NEEDED) -> dict[str, Any]:
        return self.readers[ref.shard].read(ref.index, names)

    def feature_statistics(self, split: str = "train") -> tuple[Tensor, Tensor]:
        """Per-dimension mean and (population) std ``[D]`` float32 of the node features of
        every video of ``split`` (accumulated in float64)."""
        videos = self.split(split)
        if not videos:
            raise AsmpError(f"split {split!r} has no videos", self.manifest)
        D = int(self.attrs["feature_dim"])
        total, square, n = np.zeros(D), np.zeros(D), 0
        for ref in tqdm(videos, desc=f"feature statistics ({split})", leave=False):
            x = self.read(ref, ("node_feature",))["node_feature"].astype(np.float64)
            total += x.sum(0)
            square += (x * x).sum(0)
            n += len(x)
        mean = total / n
        std = np.sqrt(np.maximum(square / n - mean * mean, 0.0))
        return torch.from_numpy(mean).float(), torch.from_numpy(std).float()

    def read_crop(self, ref: VideoRef, crop: int) -> np.ndarray:
        return self.readers[ref.shard].read_crop(ref.index, crop)


@dataclass
class Batch:
    """``M`` mixtures of two videos each (``V = 2M`` videos, video ``2m + u`` is video ``u``
    of mixture ``m``), ``S`` slots per video, ``Wc`` windows per crop.

    Attributes:
        x: ``[Nn, D]`` float32 node features of every video's graph, concatenated.
        edge_index: ``[2, Ne]`` long, both directions of every node pair, batch-global.
        edge_weight: ``[Ne]`` float32 in ``[0, 1]``.
        node_batch: ``[Nn]`` long video of each node.
        labels: ``[V, S]`` long: objects' 1-based sound classes, then 0 (background).
        valid: ``[V, S]`` bool slots that exist (objects + background).
        directions: ``[V, S, Wc]`` long direction classes (background and padding: the
            background class ``direction_classes - 1``).
        window_valid: ``[V, Wc]`` bool windows that lie inside the video.
        stft: ``[V, F, T]`` complex64 each video's crop STFT; a mixture is the sum of its pair.
        crop_start: ``[V]`` long first sample of each crop.
        mixture: ``[V]`` long mixture each video belongs to (``m`` for videos ``2m, 2m+1``
            in training; a lone video is its own mixture when separating).
    """

    x: Tensor
    edge_index: Tensor
    edge_weight: Tensor
    node_batch: Tensor
    labels: Tensor
    valid: Tensor
    directions: Tensor
    window_valid: Tensor
    stft: Tensor
    crop_start: Tensor
    mixture: Tensor

    @property
    def n_videos(self) -> int:
        return self.labels.shape[0]

    def mixture_stft(self) -> Tensor:
        """``[M, F, T]`` complex: each mixture's STFT, the sum of its videos' crop STFTs."""
        M = int(self.mixture.max()) + 1
        out = self.stft.new_zeros(M, *self.stft.shape[1:])
        return out.index_add_(0, self.mixture, self.stft)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        return Batch(
            **{
                f.name: getattr(self, f.name).to(device, non_blocking=non_blocking)
                for f in fields(self)
            }
        )

    def pin_memory(self) -> Batch:
        return Batch(**{f.name: getattr(self, f.name).pin_memory() for f in fields(self)})


@dataclass(frozen=True)
class Mixture:
    """One two-video mixture: the two videos and the crop index of each."""

    a: VideoRef
    b: VideoRef
    crop_a: int
    crop_b: int


class MixtureSampler:
    """Draws mixtures from one split and turns them into :class:`Batch` es.

    Args:
        shards: the dataset.
        split: ``train``, ``val`` or ``test``.
        slots: ``S``, auditory objects per video plus one (``graph.max_auditory + 1``).
        direction_classes: 10 or 28.
        edge_mode: edge weights from the stored Chamfer distances (:func:`edge_weights`).
        sigma_percentile: RBF bandwidth percentile.
        require_pairs: fail unless two videos of the split can be mixed (off to separate
            lone videos).

    Raises:
        AsmpError: with ``require_pairs``, a split with no two videos that share no sound
            class.
    """

    def __init__(
        self,
        shards: ShardSet,
        split: str,
        slots: int,
        direction_classes: int,
        edge_mode: EdgeMode,
        sigma_percentile: float,
        require_pairs: bool = True,
    ) -> None:
        self.shards = shards
        self.split = split
        self.videos = shards.split(split)
        self.slots = slots
        self.direction_classes = direction_classes
        self.edge_mode = edge_mode
        self.sigma_percentile = sigma_percentile
        attrs = shards.attrs
        self.sample_rate = int(attrs["sample_rate"])
        self.windows_per_crop = math.ceil(int(attrs["crop_samples"]) / self.sample_rate)
        names = sorted(set().union(*(v.classes for v in self.videos)))
        bit = {c: 1 << k for k, c in enumerate(names)}
        # Class sets as bitmasks (Python ints: any number of classes).
        self._masks = np.array([sum(bit[c] for c in v.classes) for v in self.videos], dtype=object)
        distinct = set(self._masks.tolist())
        has_partner = {m: any(m & o == 0 for o in distinct) for m in distinct}
        self._first = np.flatnonzero([has_partner[m] for m in self._masks.tolist()])
        if require_pairs and not len(self._first):
            raise AsmpError(
                f"split {split!r} has no two videos without a common sound class "
                f"({len(self.videos)} videos) to mix",
                shards.manifest,
            )
        self._crops: dict[VideoRef, int] = {}

    def n_crops(self, ref: VideoRef) -> int:
        """Cached crops of video ``ref``."""
        if ref not in self._crops:
            self._crops[ref] = len(self.shards.read(ref, ("crop_start",))["crop_start"])
        return self._crops[ref]

    def draw(self, rng: np.random.Generator, n: int) -> list[Mixture]:
        """``n`` random mixtures: a uniform first video, a uniform partner without a common
        sound class, a uniform crop of each."""
        out = []
        for _ in range(n):
            i = int(rng.choice(self._first))
            others = (self._masks & self._masks[i]) == 0
            others[i] = False
            j = int(rng.choice(np.flatnonzero(others)))
            a, b = self.videos[i], self.videos[j]
            ca, cb = rng.integers(self.n_crops(a)), rng.integers(self.n_crops(b))
            out.append(Mixture(a, b, int(ca), int(cb)))
        return out

    def batch(self, mixtures: Sequence[Mixture]) -> Batch:
        """The :class:`Batch` of ``mixtures``."""
        parts = [
            self.video(ref, crop)
            for m in mixtures
            for ref, crop in ((m.a, m.crop_a), (m.b, m.crop_b))
        ]
        return collate(parts, np.repeat(np.arange(len(mixtures)), 2))

    def video(
        self, ref: VideoRef, crop: int, stft: np.ndarray | None = None, start: int | None = None
    ) -> dict[str, np.ndarray]:
        """One video's part of a batch with its cached crop ``crop``, or with ``stft``
        ``[F, T]`` of a crop starting at sample ``start`` instead."""
        rec = self.shards.read(ref)
        n = len(rec["node_feature"])
        dist = np.full((n, n), np.nan)
        i, j = rec["edge_index"].T
        dist[i, j] = dist[j, i] = rec["edge_chamfer"]
        weights = edge_weights(dist, self.edge_mode, self.sigma_percentile)
        src, dst = np.nonzero(~np.eye(n, dtype=bool))
        S, D = self.slots, self.direction_classes
        classes = rec["object_sound_class"][: S - 1].astype(np.int64)
        n_obj = len(classes)
        labels = np.zeros(S, dtype=np.int64)
        labels[:n_obj] = classes + 1
        valid = np.arange(S) <= n_obj
        start = int(rec["crop_start"][crop]) if start is None else start
        first = start // self.sample_rate
        motion = rec[f"motion_direction{D}"][:n_obj]  # [O, W]
        n_win = motion.shape[1] if motion.ndim == 2 else 0
        Wc = self.windows_per_crop
        window = first + np.arange(Wc)
        inside = window < n_win
        directions = np.full((S, Wc), D - 1, dtype=np.int64)
        if n_obj and inside.any():
            directions[:n_obj, inside] = motion[:, window[inside]]
        return {
            "x": rec["node_feature"].astype(np.float32),
            "edge_index": np.stack([src, dst]).astype(np.int64),
            "edge_weight": weights[src, dst].astype(np.float32),
            "labels": labels,
            "valid": valid,
            "directions": directions,
            "window_valid": inside,
            "stft": self.shards.read_crop(ref, crop) if stft is None else stft,
            "crop_start": np.int64(start),
        }


def collate(parts: Sequence[dict[str, np.ndarray]], mixture: np.ndarray) -> Batch:
    """A :class:`Batch` of the videos ``parts`` (:meth:`MixtureSampler.video`), video ``i``
    in mixture ``mixture[i]``."""
    offsets = np.cumsum([0] + [len(p["x"]) for p in parts])
    stacked = ("labels", "valid", "directions", "window_valid", "stft", "crop_start")
    return Batch(
        x=torch.from_numpy(np.concatenate([p["x"] for p in parts])),
        edge_index=torch.from_numpy(
            np.concatenate(
                [p["edge_index"] + o for p, o in zip(parts, offsets[:-1], strict=True)], 1
            )
        ),
        edge_weight=torch.from_numpy(np.concatenate([p["edge_weight"] for p in parts])),
        node_batch=torch.from_numpy(np.repeat(np.arange(len(parts)), np.diff(offsets))),
        **{k: torch.from_numpy(np.stack([p[k] for p in parts])) for k in stacked},
        mixture=torch.as_tensor(mixture, dtype=torch.long),
    )


class StepBatches(torch.utils.data.Dataset):
    """Item ``t`` = the training batch of step ``t``, drawn with ``rng(seed, t, rank)``."""

    def __init__(self, sampler: MixtureSampler, batch_size: int, seed: int, rank: int = 0):
        self.sampler, self.batch_size, self.seed, self.rank = sampler, batch_size, seed, rank

    def __len__(self) -> int:
        return 2**62

    def __getitem__(self, step: int) -> Batch:
        rng = np.random.default_rng([self.seed, step, self.rank])
        return self.sampler.batch(self.sampler.draw(rng, self.batch_size))


def fixed_mixtures(sampler: MixtureSampler, n: int, seed: int) -> list[Mixture]:
    """``n`` mixtures drawn once from ``seed`` (validation); the same every call."""
    return sampler.draw(np.random.default_rng([seed, 0x5A11D]), n)
