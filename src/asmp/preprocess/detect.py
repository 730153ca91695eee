"""The ``detect`` stage: objects, their features and a background crop per window (paper 3.2, 4.1).

``asmp stage detect DECODE.h5 --config CFG --out DETECT.h5`` runs on the reference frame
(first frame) of every window and writes per-frame ``boxes``, ``valid``, ``labels``,
``scores`` and ``features`` (read by :func:`asmp.preprocess.common.read_boxes`) plus one
background box and feature per window. Backends (config ``detect.backend``):

* ``torchvision``: Faster R-CNN ResNet-50-FPN v2 on COCO (:class:`TorchvisionDetector`);
* ``detectron2``: the bottom-up-attention Visual Genome model (optional package);
* ``gt``: the boxes of a synthetic clip's ground truth, features from the torchvision model;
* ``import``: the authors' released ASIW boxes and 2048-d features.

Box features are computed for the final boxes: the boxes are pooled again from the
backbone's feature maps through the detector's RoI pooler and box head (no hook), so a
detection's feature equals :meth:`BoxFeatureDetector.box_features` of its box. docs/detect.md
has the details.
"""

from __future__ import annotations

import argparse
import json
import logging
import zlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import h5py
import numpy as np
import torch
from torchvision.models.detection import (
    FasterRCNN,
    FasterRCNN_ResNet50_FPN_V2_Weights,
    fasterrcnn_resnet50_fpn_v2,
)
from tqdm import tqdm

from asmp.config import Config
from asmp.errors import AsmpError
from asmp.io.hdf5 import json_attr, open_h5, sha256_file
from asmp.preprocess.common import (
    add_stage_arguments,
    read_boxes,
    read_frames,
    read_stage,
    stage_config,
    stage_file,
    window_starts,
)
from asmp.preprocess.depth import gt_path_for
from asmp.preprocess.vocabulary import (
    VISUAL_GENOME_SIZE,
    coco_classes,
    synth_classes,
    visual_genome_classes,
    vocabulary_file,
)
from asmp.weights import fetch_weights, load_state_dict

log = logging.getLogger(__name__)

#: Official COCO weights of Faster R-CNN ResNet-50-FPN v2 (torchvision, BSD-3-Clause).
TORCHVISION_URL: str = FasterRCNN_ResNet50_FPN_V2_Weights.COCO_V1.url
#: torchvision's resize rule (``min_size``, ``max_size`` px): shorter side to 800, longer <= 1333.
NETWORK_SIZE: tuple[int, int] = (800, 1333)
#: Reference frames per forward pass.
BATCH_SIZE = 4
#: Background crop side as a fraction of the frame side (width of width, height of height).
CROP_FRACTION: tuple[float, float] = (0.2, 0.5)
#: Random crops tried before the fallbacks.
CROP_TRIES = 256
#: A box-free rectangle narrower or lower than this (px) is not used; the whole frame is.
MIN_CROP_SIDE = 4.0
#: Frame rate of the released ASIW frames (window k starts at file 8k+1: 8 fps).
RELEASED_FPS = 8.0
#: The released per-video files the import backend reads.
RELEASED_FEATURES, RELEASED_INFO = "Image_feature_20obj.h5", "Image_info_20obj.json"
#: Feature size of the released (bottom-up-attention) features.
RELEASED_FEATURE_DIM = 2048
#: Vocabulary each backend's labels index.
BACKEND_VOCABULARY = {
    "torchvision": "coco",
    "detectron2": "visual_genome",
    "gt": "synth",
    "import": "visual_genome",
}
#: ``background_fallback`` codes: how each window's background box was found.
BACKGROUND_METHODS = ("random crop", "largest box-free rectangle", "whole frame")


@dataclass(frozen=True)
class Detections:
    """Objects on one frame.

    Attributes:
        boxes: ``[n,4]`` float32, x1, y1, x2, y2 in pixels of the frame.
        labels: ``[n]`` int32, index into the detector's class list.
        scores: ``[n]`` float32 confidence in [0, 1].
        features: ``[n,D]`` float32, one appearance vector per box.
    """

    boxes: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    features: np.ndarray

    def __len__(self) -> int:
        return len(self.boxes)

    def select(self, keep: np.ndarray) -> Detections:
        """The detections where the bool mask or index array ``keep`` selects."""
        return Detections(
            self.boxes[keep], self.labels[keep], self.scores[keep], self.features[keep]
        )


@dataclass(frozen=True)
class EncodedFrames:
    """A batch of frames after a detector's resize and backbone, kept for pooling boxes.

    Attributes:
        images: the detector's resized image batch (an ``ImageList``).
        features: its backbone feature maps by name.
        scale: ``[B,4]`` network pixels per frame pixel, for x1, y1, x2, y2.
    """

    images: Any
    features: dict[str, torch.Tensor]
    scale: np.ndarray


class BoxFeatureDetector(ABC):
    """A two-stage detector that also describes boxes with its own RoI features.

    Subclasses provide :meth:`encode`, ``_detect`` (final boxes in network pixels) and
    ``_pool`` (RoI features of boxes in network pixels); this class maps boxes between
    frame and network pixels and runs under autocast on CUDA.

    Attributes:
        classes: class names; a label is an index into it.
        feature_dim: ``D``, the length of a feature vector.
        device: where the network runs.
    """

    classes: list[str]
    feature_dim: int

    def __init__(self, device: str | torch.device | None) -> None:
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))

    def autocast(self) -> torch.autocast:
        """Mixed precision on CUDA, float32 elsewhere."""
        return torch.autocast(self.device.type, enabled=self.device.type == "cuda")

    @abstractmethod
    def encode(self, frames: np.ndarray) -> EncodedFrames:
        """``[B,H,W,3]`` uint8 RGB frames -> resized batch and backbone features."""

    @abstractmethod
    def _detect(self, enc: EncodedFrames) -> list[tuple[torch.Tensor, ...]]:
        """Per frame: final boxes ``[n,4]`` (network px), labels ``[n]``, scores ``[n]``."""

    @abstractmethod
    def _pool(self, enc: EncodedFrames, boxes: list[torch.Tensor]) -> torch.Tensor:
        """``[sum n, D]`` box-head features of per-frame boxes in network pixels."""

    @torch.inference_mode()
    def detect(self, enc: EncodedFrames) -> list[Detections]:
        """Detections above the detector's score threshold on every encoded frame."""
        with self.autocast():
            raw = self._detect(enc)
            feats = self._pooled(enc, [boxes.float() for boxes, _, _ in raw])
        return [
            Detections(
                (boxes.float().cpu().numpy() / scale).astype(np.float32),
                labels.cpu().numpy().astype(np.int32),
                scores.float().cpu().numpy(),
                f,
            )
            for (boxes, labels, scores), scale, f in zip(raw, enc.scale, feats, strict=True)
        ]

    @torch.inference_mode()
    def box_features(self, enc: EncodedFrames, boxes: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Features ``[n_i, D]`` float32 of given boxes ``[n_i,4]`` (frame px) per frame."""
        net = [
            torch.as_tensor(b * scale, dtype=torch.float32, device=self.device).reshape(-1, 4)
            for b, scale in zip(boxes, enc.scale, strict=True)
        ]
        with self.autocast():
            return self._pooled(enc, net)

    def _pooled(self, enc: EncodedFrames, boxes: list[torch.Tensor]) -> list[np.ndarray]:
        counts = [len(b) for b in boxes]
        if sum(counts) == 0:
            return [np.zeros((0, self.feature_dim), np.float32) for _ in boxes]
        x = self._pool(enc, boxes).float().cpu().numpy()
        return np.split(x, np.cumsum(counts)[:-1])


class TorchvisionDetector(BoxFeatureDetector):
    """torchvision Faster R-CNN ResNet-50-FPN v2 with box features.

    Detections are the model's own post-processing (class-wise NMS 0.5, at most 100 per
    frame) of scores above ``score_threshold``. A box's feature is the 1024-d output of
    the box head (``FastRCNNConvFCHead``: four 3x3 convs, a linear layer and ReLU) on
    ``roi_heads.box_roi_pool``'s 7x7 pooling of the FPN levels.

    Args:
        model: a COCO ``FasterRCNN`` (see :func:`load_torchvision`); switched to eval mode.
        score_threshold: minimum score, kept when strictly above (torchvision's rule).
        device: default CUDA when available, else CPU.
    """

    def __init__(
        self,
        model: FasterRCNN,
        score_threshold: float,
        device: str | torch.device | None = None,
    ) -> None:
        super().__init__(device)
        self.model = model.to(self.device).eval()
        self.model.roi_heads.score_thresh = score_threshold
        self.classes = coco_classes()
        self.feature_dim = model.roi_heads.box_predictor.cls_score.in_features

    @torch.inference_mode()
    def encode(self, frames: np.ndarray) -> EncodedFrames:
        images = [
            torch.from_numpy(f).to(self.device).permute(2, 0, 1).float().div_(255) for f in frames
        ]
        with self.autocast():
            batch, _ = self.model.transform(images)
            features = self.model.backbone(batch.tensors)
        h, w = frames.shape[1:3]
        scale = np.array([[nw / w, nh / h, nw / w, nh / h] for nh, nw in batch.image_sizes])
        return EncodedFrames(batch, features, scale)

    def _detect(self, enc: EncodedFrames) -> list[tuple[torch.Tensor, ...]]:
        proposals, _ = self.model.rpn(enc.images, enc.features)
        found, _ = self.model.roi_heads(enc.features, proposals, enc.images.image_sizes)
        return [(d["boxes"], d["labels"], d["scores"]) for d in found]

    def _pool(self, enc: EncodedFrames, boxes: list[torch.Tensor]) -> torch.Tensor:
        heads = self.model.roi_heads
        return heads.box_head(heads.box_roi_pool(enc.features, boxes, enc.images.image_sizes))


def build_torchvision(network_size: tuple[int, int] = NETWORK_SIZE) -> FasterRCNN:
    """An untrained COCO Faster R-CNN ResNet-50-FPN v2 (43.7 M parameters, 91 classes)."""
    return fasterrcnn_resnet50_fpn_v2(
        weights=None,
        weights_backbone=None,
        num_classes=len(coco_classes()),
        min_size=network_size[0],
        max_size=network_size[1],
    )


def load_torchvision(path: str | Path, network_size: tuple[int, int] = NETWORK_SIZE) -> FasterRCNN:
    """:func:`build_torchvision` with a checkpoint loaded strictly.

    Raises:
        AsmpError: naming ``path`` when it is unreadable or does not fit the model.
    """
    model = build_torchvision(network_size)
    try:
        model.load_state_dict(load_state_dict(path), strict=True)
    except RuntimeError as exc:
        cause = str(exc).splitlines()[1:2] or [str(exc)]
        raise AsmpError(
            f"not a Faster R-CNN ResNet-50-FPN v2 COCO checkpoint: {cause[0].strip()}", path
        ) from None
    return model


def require_detectron2() -> None:
    """Raise an :class:`AsmpError` unless the optional ``detectron2`` package imports."""
    try:
        import detectron2  # noqa: F401
    except ImportError:
        raise AsmpError(
            "detect.backend detectron2 needs the optional package detectron2, which is not "
            "installed: build it from source as docs/install.md says, or choose another "
            "detect.backend (torchvision needs nothing extra)"
        ) from None


class Detectron2Detector(BoxFeatureDetector):
    """A detectron2 C4 Faster R-CNN (the bottom-up-attention Visual Genome model).

    A box's feature is the 2048-d ``res5`` head output on the RoI pooling of the C4 map,
    averaged over its 7x7 grid (the vector the box predictor classifies). Frames are
    resized so the shorter side is ``min_size`` and the longer at most ``max_size``.

    Args:
        model: a built detectron2 ``GeneralizedRCNN`` with ``Res5ROIHeads``-style heads.
        classes: class names, index = predicted class.
        size: ``(min_size, max_size)`` of the test-time resize (px).
        score_threshold: minimum score (the box predictor's ``test_score_thresh``).
        device: default CUDA when available, else CPU.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        classes: list[str],
        size: tuple[int, int],
        score_threshold: float,
        device: str | torch.device | None = None,
    ) -> None:
        super().__init__(device)
        self.model = model.to(self.device).eval()
        self.model.roi_heads.box_predictor.test_score_thresh = score_threshold
        self.classes, self.size = classes, size
        self.feature_dim = model.roi_heads.res5[-1].out_channels

    @torch.inference_mode()
    def encode(self, frames: np.ndarray) -> EncodedFrames:
        h, w = frames.shape[1:3]
        s = min(self.size[0] / min(h, w), self.size[1] / max(h, w))
        nh, nw = round(h * s), round(w * s)
        bgr = self.model.input_format == "BGR"
        inputs = [
            {
                "image": torch.from_numpy(
                    cv2.resize(f[..., ::-1] if bgr else f, (nw, nh)).transpose(2, 0, 1).copy()
                )
            }
            for f in frames
        ]
        with self.autocast():
            images = self.model.preprocess_image(inputs)
            features = self.model.backbone(images.tensor)
        return EncodedFrames(
            images, features, np.tile([nw / w, nh / h, nw / w, nh / h], (len(frames), 1))
        )

    def _detect(self, enc: EncodedFrames) -> list[tuple[torch.Tensor, ...]]:
        proposals, _ = self.model.proposal_generator(enc.images, enc.features, None)
        found, _ = self.model.roi_heads(enc.images, enc.features, proposals, None)
        return [(i.pred_boxes.tensor, i.pred_classes, i.scores) for i in found]

    def _pool(self, enc: EncodedFrames, boxes: list[torch.Tensor]) -> torch.Tensor:
        from detectron2.structures import Boxes

        heads = self.model.roi_heads
        maps = [enc.features[name] for name in heads.in_features]
        return heads._shared_roi_transform(maps, [Boxes(b) for b in boxes]).mean(dim=(2, 3))


def load_detectron2(
    weights: Path, score_threshold: float, device: str | torch.device | None = None
) -> Detectron2Detector:
    """The detectron2 Visual Genome detector of checkpoint ``weights``.

    Its detectron2 config is ``weights`` with suffix ``.yaml`` (the model must predict
    1600 classes); class names come from ``objects_vocab.txt`` beside it when present.

    Raises:
        AsmpError: detectron2 missing, no config, or a model that cannot be built or loaded.
    """
    require_detectron2()
    from detectron2.checkpoint import DetectionCheckpointer
    from detectron2.config import get_cfg
    from detectron2.modeling import build_model

    config = weights.with_suffix(".yaml")
    if not config.is_file():
        raise AsmpError("no detectron2 config beside the detector weights", config)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    try:
        cfg = get_cfg()
        cfg.merge_from_file(str(config))
        cfg.MODEL.DEVICE = str(device)
        model = build_model(cfg)
        DetectionCheckpointer(model).load(str(weights))
    except (KeyError, ValueError, AssertionError, RuntimeError, OSError) as exc:
        raise AsmpError(
            f"cannot build the detectron2 model ({type(exc).__name__}: {exc})", config
        ) from None
    if cfg.MODEL.ROI_HEADS.NUM_CLASSES != VISUAL_GENOME_SIZE:
        raise AsmpError(
            f"the model predicts {cfg.MODEL.ROI_HEADS.NUM_CLASSES} classes, the Visual Genome "
            f"vocabulary has {VISUAL_GENOME_SIZE}",
            config,
        )
    classes = visual_genome_classes(vocabulary_file(weights.parent))
    size = (int(cfg.INPUT.MIN_SIZE_TEST), int(cfg.INPUT.MAX_SIZE_TEST))
    return Detectron2Detector(model, classes, size, score_threshold, device)


def crop_rng(seed: int, clip: str, window: int) -> np.random.Generator:
    """The generator of one window's background crop: a function of seed, clip and window."""
    return np.random.default_rng([seed, zlib.crc32(clip.encode()), window])


def _overlaps(crops: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """``[C]`` bool: crop ``[C,4]`` shares a positive area with any of ``boxes`` ``[n,4]``."""
    ix = np.minimum(crops[:, None, 2], boxes[None, :, 2]) - np.maximum(
        crops[:, None, 0], boxes[None, :, 0]
    )
    iy = np.minimum(crops[:, None, 3], boxes[None, :, 3]) - np.maximum(
        crops[:, None, 1], boxes[None, :, 1]
    )
    return ((ix > 0) & (iy > 0)).any(axis=1)


def largest_free_rectangle(boxes: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    """The largest-area axis-aligned rectangle ``[4]`` of the frame that overlaps no box.

    Exact: box edges cut the frame into a grid of cells each inside or outside every box;
    the rectangle is the largest one of free cells (largest rectangle in a histogram, row
    by row, with cell sizes as widths and heights). All zeros when every cell is covered.

    Args:
        boxes: ``[n,4]`` x1, y1, x2, y2 pixels.
        frame_size: ``(H, W)`` pixels.
    """
    h, w = frame_size
    xs = np.unique(np.concatenate([[0.0, w], np.clip(boxes[:, [0, 2]], 0, w).ravel()]))
    ys = np.unique(np.concatenate([[0.0, h], np.clip(boxes[:, [1, 3]], 0, h).ravel()]))
    cx, cy = (xs[:-1] + xs[1:]) / 2, (ys[:-1] + ys[1:]) / 2
    inside_x = (boxes[:, None, 0] < cx) & (cx < boxes[:, None, 2])  # [n, X]
    inside_y = (boxes[:, None, 1] < cy) & (cy < boxes[:, None, 3])  # [n, Y]
    covered = (inside_y[:, :, None] & inside_x[:, None, :]).any(axis=0)  # [Y, X]
    best, area = np.zeros(4), 0.0
    height, top = np.zeros(len(cx)), np.zeros(len(cx))
    for i in range(len(cy)):
        free = ~covered[i]
        top = np.where(free & (height > 0), top, ys[i])
        height = np.where(free, ys[i + 1] - top, 0.0)
        stack: list[int] = []  # columns of increasing height
        for j in range(len(cx) + 1):
            hj = height[j] if j < len(cx) else 0.0
            while stack and height[stack[-1]] >= hj:
                k = stack.pop()
                left = xs[stack[-1] + 1] if stack else xs[0]
                a = height[k] * (xs[j] - left)
                if a > area:
                    area, best = a, np.array([left, ys[i + 1] - height[k], xs[j], ys[i + 1]])
            stack.append(j)
    return best


def background_crop(
    boxes: np.ndarray, frame_size: tuple[int, int], rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """A background box ``[4]`` (x1, y1, x2, y2 px) overlapping none of ``boxes`` ``[n,4]``.

    Tries :data:`CROP_TRIES` random crops with sides in :data:`CROP_FRACTION` of the frame's
    (integer pixels, uniform size and position) and keeps the first that overlaps no box;
    else the :func:`largest_free_rectangle` if both its sides reach :data:`MIN_CROP_SIDE`;
    else the whole frame.

    Returns:
        ``(box, method)``, method an index into :data:`BACKGROUND_METHODS`.
    """
    h, w = frame_size
    lo, hi = CROP_FRACTION
    cw = rng.integers(max(1, round(lo * w)), max(1, round(hi * w)) + 1, CROP_TRIES)
    ch = rng.integers(max(1, round(lo * h)), max(1, round(hi * h)) + 1, CROP_TRIES)
    x1 = np.floor(rng.random(CROP_TRIES) * (w - cw + 1))
    y1 = np.floor(rng.random(CROP_TRIES) * (h - ch + 1))
    crops = np.stack([x1, y1, x1 + cw, y1 + ch], axis=1)
    free = np.flatnonzero(~_overlaps(crops, boxes)) if len(boxes) else np.arange(CROP_TRIES)
    if len(free):
        return crops[free[0]], 0
    rect = largest_free_rectangle(boxes, frame_size)
    if min(rect[2] - rect[0], rect[3] - rect[1]) >= MIN_CROP_SIDE:
        return rect, 1
    return np.array([0.0, 0.0, w, h]), 2


def background_crops(
    found: Sequence[Detections],
    frame_size: tuple[int, int],
    rngs: Sequence[np.random.Generator],
    first_window: int = 0,
) -> list[tuple[np.ndarray, int]]:
    """:func:`background_crop` of consecutive windows; a fallback is logged as a warning."""
    crops = [background_crop(d.boxes, frame_size, rng) for d, rng in zip(found, rngs, strict=True)]
    for w, (_, method) in enumerate(crops, first_window):
        if method:
            log.warning(
                "window %d: every random background crop overlaps a box; using the %s",
                w,
                BACKGROUND_METHODS[method],
            )
    return crops


def _keep_nonempty(boxes: np.ndarray, frame_size: tuple[int, int], what: str) -> np.ndarray:
    """Clip ``boxes`` ``[n,4]`` to the frame in place; the ``[n]`` mask of positive area.

    Zero-area boxes are dropped by the caller; their count is logged as a warning.
    """
    h, w = frame_size
    boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, w)
    boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, h)
    keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    if not keep.all():
        log.warning("%s: dropped %d box(es) of zero area", what, int((~keep).sum()))
    return keep


@dataclass(frozen=True)
class WindowObjects:
    """What the stage stores per window (``W`` windows, features of size ``D``).

    Attributes:
        detections: the reference frame's detections, one :class:`Detections` per window.
        background_box: ``[W,4]`` float, x1, y1, x2, y2 pixels.
        background_method: ``[W]`` int, index into :data:`BACKGROUND_METHODS`.
        background_feature: ``[W,D]`` float32.
    """

    detections: list[Detections]
    background_box: np.ndarray
    background_method: np.ndarray
    background_feature: np.ndarray


def run_detector(
    detector: BoxFeatureDetector,
    frames: np.ndarray,
    rngs: Sequence[np.random.Generator],
    given: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
    batch_size: int = BATCH_SIZE,
    progress: bool = True,
) -> WindowObjects:
    """Objects, features and background crop of each reference frame.

    Args:
        detector: the detector, also the feature extractor of given and background boxes.
        frames: ``[N,H,W,3]`` uint8 RGB reference frames (one per window).
        rngs: one background-crop generator per frame (:func:`crop_rng`).
        given: per frame ``(boxes [n,4] px, labels [n])`` to describe (score 1) instead of
            detecting; boxes must have positive area.
        batch_size: frames per forward pass.
        progress: show a progress bar over batches.
    """
    size = frames.shape[1:3]
    dets: list[Detections] = []
    crops: list[tuple[np.ndarray, int]] = []
    bg_feat: list[np.ndarray] = []
    starts = range(0, len(frames), batch_size)
    for s in tqdm(starts, desc="detect", unit="batch", disable=None if progress else True):
        batch = slice(s, s + batch_size)
        enc = detector.encode(frames[batch])
        if given is None:
            found = [
                d.select(_keep_nonempty(d.boxes, size, f"detections on reference frame {s + i}"))
                for i, d in enumerate(detector.detect(enc))
            ]
        else:
            found = [
                Detections(b, labels, np.ones(len(b), np.float32), np.zeros((len(b), 0)))
                for b, labels in given[batch]
            ]
        crop = background_crops(found, size, rngs[batch], s)
        # One pooling pass for the given boxes (none when detecting) and the crop.
        pooled = [d.boxes if given is not None else np.zeros((0, 4)) for d in found]
        feats = detector.box_features(
            enc, [np.concatenate([p, c[None]]) for p, (c, _) in zip(pooled, crop, strict=True)]
        )
        if given is not None:
            found = [replace(d, features=f[:-1]) for d, f in zip(found, feats, strict=True)]
        dets += found
        crops += crop
        bg_feat += [f[-1] for f in feats]
    return WindowObjects(
        dets,
        np.array([c for c, _ in crops]).reshape(-1, 4),
        np.array([m for _, m in crops], dtype=np.int8),
        np.array(bg_feat, dtype=np.float32).reshape(-1, detector.feature_dim),
    )


def read_gt_objects(
    path: str | Path, ref_frames: np.ndarray, n_frames: int, frame_size: tuple[int, int]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Visible ground-truth boxes ``[n,4]`` float32 and synth labels ``[n]`` per reference frame.

    Boxes are clipped to the frame; zero-area ones are dropped with a warning.

    Raises:
        AsmpError: naming ``path`` for a file without objects, a frame count that differs
            from the video's, or a class outside the synth vocabulary.
    """
    classes = synth_classes()
    with open_h5(path) as f:
        objects = f.get("objects")
        if not isinstance(objects, h5py.Group) or not len(objects):
            raise AsmpError("no 'objects' in the ground-truth file", path)
        names = [str(objects[k].attrs.get("class")) for k in sorted(objects, key=int)]
    unknown = sorted(set(names) - set(classes))
    if unknown:
        raise AsmpError(f"classes {unknown} are not in the synth vocabulary {classes}", path)
    boxes, visible = read_boxes(path)
    if len(boxes) != n_frames:
        raise AsmpError(f"ground truth for {len(boxes)} frames, the video has {n_frames}", path)
    labels = np.array([classes.index(n) for n in names], dtype=np.int32)
    out = []
    for r in ref_frames:
        seen = visible[r] & np.isfinite(boxes[r]).all(axis=1)
        b = boxes[r, seen].astype(np.float32)
        keep = _keep_nonempty(b, frame_size, f"{path}: frame {r}")
        out.append((b[keep], labels[seen][keep]))
    return out


def released_folder(root: str | Path | None, clip: str) -> Path:
    """The released per-video folder of ``clip``: ``ROOT/CLIP`` or ``ROOT/SPLIT/CLIP``.

    Raises:
        AsmpError: no ``detect.import_root``, or no folder holding the released features.
    """
    if root is None:
        raise AsmpError("detect.backend import needs detect.import_root (the released features)")
    root = Path(root).expanduser()
    for folder in [root / clip, *sorted(root.glob(f"*/{clip}"))]:
        if (folder / RELEASED_FEATURES).is_file():
            return folder
    raise AsmpError(
        f"no released features of clip {clip}: expected {clip}/{RELEASED_FEATURES} or "
        f"<split>/{clip}/{RELEASED_FEATURES} here",
        root,
    )


def _released_frame(image: str, fps: float) -> int:
    """Our frame index of released frame file ``NNNN.png`` (1-based at :data:`RELEASED_FPS`)."""
    return round((int(Path(image).stem) - 1) * fps / RELEASED_FPS)


def read_released(
    folder: Path,
    ref_frames: np.ndarray,
    fps: float,
    scale: np.ndarray,
    frame_size: tuple[int, int],
    score_threshold: float,
) -> list[Detections]:
    """The released detections on each reference frame, as :class:`Detections`.

    Entry ``j`` of ``Image_info_20obj.json`` (``image``, ``objects``: Visual Genome class
    ids, ``objects_conf``) describes row ``j`` of ``Image_feature_20obj.h5``'s ``boxes``
    ``[F,B,4]`` and ``features`` ``[F,B,2048]``. Boxes are multiplied by ``scale`` ``[4]``
    (our pixels per released pixel) and clipped; detections with confidence at most
    ``score_threshold`` or zero area are dropped. A reference frame without an entry gets
    no detections (logged).

    Raises:
        AsmpError: naming the file that is unreadable or inconsistent.
    """
    info_path, feat_path = folder / RELEASED_INFO, folder / RELEASED_FEATURES
    try:
        info = json.loads(info_path.read_text())
        by_frame: dict[int, int] = {}
        for j, entry in enumerate(info):
            by_frame.setdefault(_released_frame(entry["image"], fps), j)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AsmpError(f"not a list of frames with 'image' names ({exc})", info_path) from None
    out = []
    with open_h5(feat_path) as f:
        boxes, features = f.get("boxes"), f.get("features")
        shapes = [getattr(d, "shape", None) for d in (boxes, features)]
        if (
            shapes[0] is None
            or shapes[1] is None
            or shapes[0] != (len(info), shapes[1][1], 4)
            or shapes[1][::2] != (len(info), RELEASED_FEATURE_DIM)
        ):
            raise AsmpError(
                f"'boxes' {shapes[0]} and 'features' {shapes[1]} are not [F,B,4] and "
                f"[F,B,{RELEASED_FEATURE_DIM}] for the F={len(info)} frames of {RELEASED_INFO}",
                feat_path,
            )
        for r in ref_frames:
            j = by_frame.get(int(r))
            if j is None:
                log.warning("%s: no released frame for reference frame %d", folder, r)
                out.append(_no_detections(RELEASED_FEATURE_DIM))
                continue
            try:
                labels = np.asarray(info[j]["objects"], dtype=np.int32)
                conf = np.asarray(info[j]["objects_conf"], dtype=np.float32)
            except (KeyError, TypeError, ValueError) as exc:
                raise AsmpError(f"frame entry {j}: {exc!r}", info_path) from None
            n = len(labels)
            bad_ids = (labels < 0) | (labels >= VISUAL_GENOME_SIZE)
            if labels.ndim != 1 or conf.shape != (n,) or n > shapes[0][1] or bad_ids.any():
                raise AsmpError(
                    f"frame entry {j}: {n} objects (ids 0-{VISUAL_GENOME_SIZE - 1}) with "
                    f"{conf.size} confidences, for {shapes[0][1]} boxes",
                    info_path,
                )
            b = boxes[j, :n].astype(np.float32) * scale.astype(np.float32)
            keep = (conf > score_threshold) & _keep_nonempty(b, frame_size, f"{feat_path}: row {j}")
            found = Detections(b, labels, conf, features[j, :n].astype(np.float32))
            out.append(found.select(keep))
    return out


def _no_detections(feature_dim: int) -> Detections:
    return Detections(
        np.zeros((0, 4), np.float32),
        np.zeros(0, np.int32),
        np.zeros(0, np.float32),
        np.zeros((0, feature_dim), np.float32),
    )


def import_released(
    cfg: Config,
    clip: str,
    frame_size: tuple[int, int],
    ref_frames: np.ndarray,
    source_size: Sequence[int] | None,
    rngs: Sequence[np.random.Generator],
) -> WindowObjects:
    """The import backend: released detections; background crops with zero features.

    Released boxes are taken to be in pixels of the source video (decode attribute
    ``source_frame_size``; the decoded size when absent), scaled to the decoded frames.
    """
    folder = released_folder(cfg["detect"]["import_root"], clip)
    h, w = frame_size if source_size is None else source_size
    scale = np.array([frame_size[1] / w, frame_size[0] / h] * 2)
    dets = read_released(
        folder, ref_frames, cfg["video"]["fps"], scale, frame_size, cfg["detect"]["score_threshold"]
    )
    crops = background_crops(dets, frame_size, rngs)
    log.info("%s: no extractor for released features; background features are zeros", folder)
    return WindowObjects(
        dets,
        np.array([c for c, _ in crops]).reshape(-1, 4),
        np.array([m for _, m in crops], dtype=np.int8),
        np.zeros((len(dets), RELEASED_FEATURE_DIM), np.float32),
    )


def load_detector(backend: str, cfg: Config) -> tuple[BoxFeatureDetector, str]:
    """The detector of ``backend`` (gt describes its boxes with the torchvision model) and
    the SHA-256 of its weight file."""
    threshold = cfg["detect"]["score_threshold"]
    if backend == "detectron2":
        require_detectron2()
        if cfg["detect"]["weights"] is None:
            raise AsmpError(
                "detect.backend detectron2 needs detect.weights: a local bottom-up-attention "
                "checkpoint with its .yaml config beside it (docs/detect.md)"
            )
        path = Path(cfg["detect"]["weights"]).expanduser()
        if not path.is_file():
            raise AsmpError("weight file not found", path)
        return load_detectron2(path, threshold), sha256_file(path)
    weights = fetch_weights(cfg["detect"]["weights"], TORCHVISION_URL)
    model = load_torchvision(weights.path, tuple(cfg["detect"]["network_size"]))
    return TorchvisionDetector(model, threshold), weights.sha256


def _per_frame(
    f: h5py.File,
    name: str,
    rows: Sequence[np.ndarray],
    starts: np.ndarray,
    shape: tuple[int, ...],
    fill: Any,
    doc: str,
) -> None:
    """Dataset ``[T,M,...]`` holding ``rows[w]`` at reference frame ``starts[w]``, ``fill``
    elsewhere (chunks of one frame; frames never written take no space)."""
    ds = f.create_dataset(
        name, shape=shape, dtype=np.asarray(fill).dtype, chunks=(1, *shape[1:]), fillvalue=fill
    )
    for r, row in zip(starts, rows, strict=True):
        if len(row):
            ds[r, : len(row)] = row
    ds.attrs["doc"] = doc


def detect(decode_path: str | Path, cfg: Config, out: str | Path, progress: bool = True) -> Path:
    """Write the detect stage file ``out`` for the decode stage file ``decode_path``.

    Raises:
        AsmpError: a backend whose vocabulary is not ``dataset.detector_vocabulary``, a
            video shorter than one window, a missing weight, gt or released file, detectron2
            not installed; ``out`` is then not written.
    """
    backend = cfg["detect"]["backend"]
    vocabulary = cfg["dataset"]["detector_vocabulary"]
    if BACKEND_VOCABULARY[backend] != vocabulary:
        raise AsmpError(
            f"detect.backend {backend} labels {BACKEND_VOCABULARY[backend]} classes but "
            f"dataset.detector_vocabulary is {vocabulary}"
        )
    window = cfg["video"]["window_frames"]
    with read_stage(decode_path, "decode") as f:
        frames_ds = read_frames(f, decode_path)
        n_frames = len(frames_ds)
        starts = window_starts(n_frames, window, decode_path)
        frames = frames_ds[starts]
        video = json_attr(f, "source")
        source_size = json_attr(f, "source_frame_size")
    clip = Path(video).stem if video else Path(decode_path).stem
    rngs = [crop_rng(cfg["train"]["seed"], clip, w) for w in range(len(starts))]
    sha256 = None
    if backend == "import":
        objects = import_released(cfg, clip, frames.shape[1:3], starts, source_size, rngs)
        classes = visual_genome_classes(vocabulary_file(cfg["detect"]["import_root"]))
    else:
        given = None
        if backend == "gt":
            if video is None:
                raise AsmpError(
                    "no 'source' attribute: cannot locate the ground truth", decode_path
                )
            given = read_gt_objects(gt_path_for(video), starts, n_frames, frames.shape[1:3])
        detector, sha256 = load_detector(backend, cfg)
        objects = run_detector(detector, frames, rngs, given, progress=progress)
        classes = synth_classes() if backend == "gt" else detector.classes
    _write(out, cfg, backend, sha256, classes, n_frames, starts, objects)
    return Path(out)


def _write(
    out: str | Path,
    cfg: Config,
    backend: str,
    sha256: str | None,
    classes: list[str],
    n_frames: int,
    starts: np.ndarray,
    objects: WindowObjects,
) -> None:
    dets = objects.detections
    d = objects.background_feature.shape[1]
    m = max(1, *(len(x) for x in dets))
    with stage_file(
        out,
        "detect",
        cfg,
        backend=backend,
        weights_sha256=sha256,
        detector_classes=json.dumps(classes),
        feature_dim=d,
        window_frames=cfg["video"]["window_frames"],
    ) as f:
        t = (n_frames, m)
        _per_frame(
            f,
            "boxes",
            [x.boxes for x in dets],
            starts,
            (*t, 4),
            np.float32(np.nan),
            "x1, y1, x2, y2 (pixels) of the detections of reference frames; NaN elsewhere",
        )
        _per_frame(
            f,
            "valid",
            [np.ones(len(x), bool) for x in dets],
            starts,
            t,
            np.False_,
            "True for a detection kept on a window's reference frame",
        )
        _per_frame(
            f,
            "labels",
            [x.labels for x in dets],
            starts,
            t,
            np.int32(-1),
            "class, index into the attribute detector_classes; -1 where not valid",
        )
        _per_frame(
            f,
            "scores",
            [x.scores for x in dets],
            starts,
            t,
            np.float32(0),
            "detection confidence in [0, 1]; 0 where not valid",
        )
        _per_frame(
            f,
            "features",
            [x.features for x in dets],
            starts,
            (*t, d),
            np.float16(0),
            f"{d}-d appearance feature of each box ({backend}); 0 where not valid",
        )
        f["background_box"] = objects.background_box.astype(np.float32)
        f["background_box"].attrs["doc"] = "per window: background crop x1, y1, x2, y2 (pixels)"
        f["background_feature"] = objects.background_feature.astype(np.float16)
        f["background_feature"].attrs["doc"] = "per window: feature of the background crop"
        f["background_fallback"] = objects.background_method
        f["background_fallback"].attrs["doc"] = (
            "per window: how the background box was found, index into the attribute codes"
        )
        f["background_fallback"].attrs["codes"] = json.dumps(BACKGROUND_METHODS)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``asmp stage detect DECODE.h5 --config CFG --out DETECT.h5``."""
    add_stage_arguments(parser, {"decode": "decode stage file"})


def run(args: argparse.Namespace) -> int:
    """Run the stage from parsed arguments; 0 on success."""
    detect(args.decode, stage_config(args), args.out)
    return 0
