"""The detect stage: box features, the four backends, the background crop, failures."""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import logging
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import yaml

from asmp.config import load_config
from asmp.errors import AsmpError
from asmp.io.hdf5 import sha256_file, write_h5
from asmp.preprocess import detect
from asmp.preprocess.common import read_boxes, stage_file
from asmp.preprocess.vocabulary import (
    ASIW_VISUAL_GENOME_WORDS,
    VISUAL_GENOME_SIZE,
    coco_classes,
    synth_classes,
    visual_genome_classes,
)

#: Small network input so that the 43.7 M-parameter model runs fast on a CPU.
SMALL = (128, 160)
#: float16 round-trip error bound, relative to the value.
F16_REL = 2.0**-11


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """Random Faster R-CNN v2 weights whose classifier is confident (detections above 0.4)."""
    torch.manual_seed(0)
    state = detect.build_torchvision(SMALL).state_dict()
    state["roi_heads.box_predictor.cls_score.bias"][1] = 8.0
    path = tmp_path_factory.mktemp("weights") / "frcnn.pth"
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def detector(checkpoint) -> detect.TorchvisionDetector:
    return detect.TorchvisionDetector(detect.load_torchvision(checkpoint, SMALL), 0.4, "cpu")


def frames_of(n: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def write_config(tmp_path: Path, synth_config_path: Path, vocabulary: str, **detect_cfg) -> Path:
    """synth.yaml with ``detect`` overrides and a detector vocabulary, as a file."""
    raw = yaml.safe_load(synth_config_path.read_text())
    raw["dataset"]["detector_vocabulary"] = vocabulary
    raw["detect"] = {**raw.get("detect", {}), "network_size": list(SMALL), **detect_cfg}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def write_decode(path: Path, frames: np.ndarray, video: Path, config: Path, **attrs) -> Path:
    """A decode stage file with the parts the detect stage reads."""
    cfg = load_config(config)
    with stage_file(path, "decode", cfg, backend="test", source=str(video), **attrs) as f:
        f.create_dataset("frames", data=frames, chunks=(1, *frames.shape[1:]))
    return path


def run_cli(decode_h5: Path, config: Path, out: Path) -> int:
    parser = argparse.ArgumentParser()
    detect.add_arguments(parser)
    return detect.run(
        parser.parse_args([str(decode_h5), "--config", str(config), "--out", str(out)])
    )


def intersection(a: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection areas ``[n]`` of box ``a`` with ``boxes`` ``[n,4]``."""
    ix = np.minimum(a[2], boxes[:, 2]) - np.maximum(a[0], boxes[:, 0])
    iy = np.minimum(a[3], boxes[:, 3]) - np.maximum(a[1], boxes[:, 1])
    return np.clip(ix, 0, None) * np.clip(iy, 0, None)


def assert_no_output(out: Path) -> None:
    assert not out.exists() and not list(out.parent.glob(f".{out.name}*"))


# --- the torchvision extractor -------------------------------------------------------------


def test_checkpoint_loads_strictly_through_the_configured_path(tmp_path, checkpoint):
    model = detect.load_torchvision(checkpoint)
    saved = torch.load(checkpoint, weights_only=True)
    assert all(torch.equal(v, saved[k]) for k, v in model.state_dict().items())
    partial = dict(saved)
    partial.pop("roi_heads.box_head.5.weight")
    torch.save(partial, tmp_path / "partial.pth")
    with pytest.raises(AsmpError, match="box_head.5.weight") as exc:
        detect.load_torchvision(tmp_path / "partial.pth")
    assert exc.value.path == str(tmp_path / "partial.pth") and "\n" not in str(exc.value)


def test_box_features_shape_and_determinism(detector):
    enc = detector.encode(frames_of(2, 96, 128))
    boxes = [np.array([[0, 0, 40, 30], [10.5, 20, 120, 90]], np.float32), np.zeros((0, 4))]
    first = detector.box_features(enc, boxes)
    again = detector.box_features(detector.encode(frames_of(2, 96, 128)), boxes)
    assert detector.feature_dim == 1024
    assert [f.shape for f in first] == [(2, 1024), (0, 1024)]
    assert first[0].dtype == np.float32 and np.array_equal(first[0], again[0])
    assert not np.array_equal(first[0][0], first[0][1])


def test_detections_are_consistent_and_their_features_are_their_boxes(detector):
    enc = detector.encode(frames_of(2, 96, 128, seed=1))
    found = detector.detect(enc)
    assert len(found) == 2 and all(len(d) > 0 for d in found)
    for d in found:
        n = len(d)
        assert d.boxes.shape == (n, 4) and d.labels.shape == (n,) and d.scores.shape == (n,)
        assert d.features.shape == (n, detector.feature_dim)
        assert (d.scores > 0.4).all() and (d.labels >= 1).all()
        assert (d.labels < len(detector.classes)).all()
        assert (d.boxes[:, :2] >= 0).all() and (d.boxes[:, 2] <= 128).all()
        assert (d.boxes[:, 3] <= 96).all()
    # Features come from re-pooling the final boxes: the given-box path gives the same.
    again = detector.box_features(enc, [d.boxes for d in found])
    for d, f in zip(found, again, strict=True):
        np.testing.assert_allclose(f, d.features, rtol=1e-3, atol=1e-3)


# --- the background crop -------------------------------------------------------------------


def test_background_crop_overlaps_no_box_and_is_reproducible():
    rng = np.random.default_rng(0)
    h, w = 90, 120
    for trial in range(50):
        xy = rng.uniform(0, [w, h], (4, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(5, 40, (4, 2))], axis=1)
        crop, method = detect.background_crop(boxes, (h, w), detect.crop_rng(0, "c", trial))
        assert intersection(crop, boxes).max() == 0
        assert 0 <= crop[0] < crop[2] <= w and 0 <= crop[1] < crop[3] <= h
        if method == 0:
            lo, hi = detect.CROP_FRACTION
            assert lo * w - 1 <= crop[2] - crop[0] <= hi * w + 1
        same, _ = detect.background_crop(boxes, (h, w), detect.crop_rng(0, "c", trial))
        assert np.array_equal(crop, same)
    a, _ = detect.background_crop(np.zeros((0, 4)), (h, w), detect.crop_rng(0, "c", 0))
    b, _ = detect.background_crop(np.zeros((0, 4)), (h, w), detect.crop_rng(0, "c", 1))
    assert not np.array_equal(a, b)


def test_background_crop_fallbacks(caplog):
    rng = detect.crop_rng(0, "c", 0)
    found = [detect.Detections(np.array([[0, 0, 100, 80.0]]), *[np.zeros(1)] * 3)]
    with caplog.at_level(logging.WARNING, logger="asmp.preprocess.detect"):
        detect.background_crops(found, (80, 100), [rng], first_window=3)
    assert (
        "window 3: every random background crop overlaps a box; using the whole frame"
        in caplog.text
    )
    strip = np.array([[0, 0, 90, 80.0]])  # leaves x in [90, 100]: narrower than any crop
    crop, method = detect.background_crop(strip, (80, 100), rng)
    assert detect.BACKGROUND_METHODS[method] == "largest box-free rectangle"
    np.testing.assert_array_equal(crop, [90, 0, 100, 80])
    crop, method = detect.background_crop(np.array([[0, 0, 99, 80.0]]), (80, 100), rng)
    assert detect.BACKGROUND_METHODS[method] == "whole frame"
    np.testing.assert_array_equal(crop, [0, 0, 100, 80])


def test_largest_free_rectangle_matches_brute_force():
    rng = np.random.default_rng(3)
    h, w = 9, 11
    for _ in range(30):
        xy = rng.integers(0, [w, h], (3, 2))
        boxes = np.concatenate([xy, xy + rng.integers(1, 6, (3, 2))], axis=1).astype(float)
        rect = detect.largest_free_rectangle(boxes, (h, w))
        best = 0
        for x1, x2 in itertools.combinations(range(w + 1), 2):
            for y1, y2 in itertools.combinations(range(h + 1), 2):
                if intersection(np.array([x1, y1, x2, y2]), boxes).max() == 0:
                    best = max(best, (x2 - x1) * (y2 - y1))
        assert (rect[2] - rect[0]) * (rect[3] - rect[1]) == best
        assert best == 0 or intersection(rect, boxes).max() == 0


# --- backends through the stage ------------------------------------------------------------


def write_synth_gt(path: Path, objects: list[tuple[str, np.ndarray, np.ndarray]]) -> None:
    """A ``synth/gt`` file with only what the detect stage reads."""
    with write_h5(path, "synth/gt") as f:
        for k, (name, box, visible) in enumerate(objects):
            g = f.create_group(f"objects/{k}")
            g.attrs["class"], g.attrs["sounding"] = name, name == "bell"
            g["box"], g["visible"] = box, visible


def test_gt_backend(tmp_path, synth_config_path, checkpoint, detector, caplog):
    config = write_config(tmp_path, synth_config_path, "synth", weights=str(checkpoint))
    T, H, W = 16, 64, 80
    frames = frames_of(T, H, W, seed=2)
    (tmp_path / "gt").mkdir()
    decode_h5 = write_decode(tmp_path / "decode.h5", frames, tmp_path / "videos" / "c0.mp4", config)
    nan = np.full((T, 4), np.nan)
    bell, person, tree = nan.copy(), nan.copy(), nan.copy()
    bell[:] = [5, 5, 25, 30]
    bell[8] = [40, 10, 70, 40]
    person[0] = [30, 20, 50, 60]
    tree[0] = [10, 10, 10, 40]  # zero width: dropped with a warning
    tree[8] = [0, 40, 20, 70]  # reaches below the frame: clipped to y2 = 64
    write_synth_gt(
        tmp_path / "gt" / "c0.h5",
        [
            (n, b, np.isfinite(b).all(axis=1))
            for n, b in (("bell", bell), ("person", person), ("tree", tree))
        ],
    )
    out = tmp_path / "detect.h5"
    with caplog.at_level(logging.WARNING, logger="asmp.preprocess.detect"):
        assert run_cli(decode_h5, config, out) == 0
    assert "dropped 1 box(es) of zero area" in caplog.text
    expected = {
        0: (["bell", "person"], [bell[0], person[0]]),
        8: (["bell", "tree"], [bell[8], [0, 40, 20, 64]]),
    }
    with h5py.File(out) as f:
        assert f.attrs["kind"] == "stage/detect" and f.attrs["backend"] == "gt"
        assert f.attrs["weights_sha256"] == sha256_file(checkpoint)
        classes = json.loads(f.attrs["detector_classes"])
        assert classes == synth_classes()
        assert f.attrs["feature_dim"] == 1024 and f.attrs["window_frames"] == 8
        assert f["boxes"].shape == (T, 2, 4) and f["features"].dtype == np.float16
        valid, boxes, labels = f["valid"][()], f["boxes"][()], f["labels"][()]
        scores, features = f["scores"][()], f["features"][()].astype(np.float32)
        bg_box, bg_feat = f["background_box"][()], f["background_feature"][()].astype(np.float32)
        assert f["background_fallback"][()].tolist() == [0, 0]
    assert valid.sum() == 4 and valid[[0, 8]].all()
    enc = detector.encode(frames[[0, 8]])
    gt_boxes = [np.array(b, np.float32) for _, b in expected.values()]
    gt_feats = detector.box_features(enc, gt_boxes)
    for w, (r, (names, _)) in enumerate(expected.items()):
        np.testing.assert_array_equal(boxes[r], gt_boxes[w])
        assert [classes[i] for i in labels[r]] == names and (scores[r] == 1).all()
        np.testing.assert_allclose(features[r], gt_feats[w], rtol=2 * F16_REL, atol=1e-3)
        assert intersection(bg_box[w], boxes[r]).max() == 0
    bg_want = detector.box_features(enc, list(bg_box[:, None]))
    np.testing.assert_allclose(bg_feat, np.concatenate(bg_want), rtol=2 * F16_REL, atol=1e-3)
    read, read_valid = read_boxes(out)
    np.testing.assert_array_equal(read_valid, valid)
    assert np.isnan(read[~read_valid]).all()


def test_torchvision_backend(tmp_path, synth_config_path, checkpoint):
    config = write_config(
        tmp_path, synth_config_path, "coco", backend="torchvision", weights=str(checkpoint)
    )
    decode_h5 = write_decode(
        tmp_path / "decode.h5", frames_of(17, 48, 64, seed=4), tmp_path / "v.mp4", config
    )
    out = tmp_path / "detect.h5"
    assert run_cli(decode_h5, config, out) == 0
    with h5py.File(out) as f:
        assert (
            f.attrs["backend"] == "torchvision"
            and json.loads(f.attrs["detector_classes"]) == coco_classes()
        )
        valid, boxes, scores = f["valid"][()], f["boxes"][()], f["scores"][()]
        labels, bg_box = f["labels"][()], f["background_box"][()]
        fallback = f["background_fallback"][()]
        assert f["background_feature"].shape == (2, 1024)
    counts = valid.sum(axis=1)
    assert counts[[0, 8]].min() > 0 and counts.sum() == counts[[0, 8]].sum()
    assert valid.shape[1] == counts.max()  # M = most detections on a reference frame
    assert (
        (scores[valid] > 0.4).all() and (labels[valid] >= 1).all() and (labels[~valid] == -1).all()
    )
    for w, r in enumerate((0, 8)):  # random boxes may cover the frame: whole-frame fallback
        whole = detect.BACKGROUND_METHODS[fallback[w]] == "whole frame"
        assert whole or intersection(bg_box[w], boxes[r][valid[r]]).max() == 0


def write_released(folder: Path, n_frames: int, missing: int, rng: np.random.Generator) -> dict:
    """The released per-video files (facts 2.1-2.2) for ``n_frames`` frames at 8 fps, in a
    shuffled order, without frame file ``missing + 1``."""
    folder.mkdir(parents=True)
    order = [i for i in rng.permutation(n_frames) if i != missing]
    boxes = np.zeros((len(order), 20, 4), np.float32)
    xy = rng.uniform(0, 100, (len(order), 20, 2))
    boxes[...] = np.concatenate([xy, xy + rng.uniform(4, 30, (len(order), 20, 2))], axis=-1)
    boxes[:, 0] = [10, 10, 10, 60]  # zero-area box in every frame: dropped
    features = rng.normal(size=(len(order), 20, 2048)).astype(np.float32)
    info = []
    for i in order:
        n = 20 if i % 2 else 6
        info.append(
            {
                "image": f"{i + 1:04d}.png",
                "objects": rng.integers(0, VISUAL_GENOME_SIZE, n).tolist(),
                "objects_conf": rng.uniform(0, 1, n).tolist(),
            }
        )
    with h5py.File(folder / detect.RELEASED_FEATURES, "w") as f:
        f["boxes"], f["features"] = boxes, features
    (folder / detect.RELEASED_INFO).write_text(json.dumps(info))
    (folder / "Vision_Text_Labels.csv").write_text("3,706,0,1\n")
    return {"order": order, "boxes": boxes, "features": features, "info": info}


def test_import_backend(tmp_path, synth_config_path, caplog):
    root = tmp_path / "Extracted_Frames"
    rel = write_released(root / "test" / "yt123", 24, missing=16, rng=np.random.default_rng(5))
    config = write_config(
        tmp_path, synth_config_path, "visual_genome", backend="import", import_root=str(root)
    )
    frames = frames_of(24, 64, 80)
    decode_h5 = write_decode(
        tmp_path / "decode.h5", frames, tmp_path / "yt123.mp4", config, source_frame_size=[128, 160]
    )
    out = tmp_path / "detect.h5"
    with caplog.at_level(logging.WARNING, logger="asmp.preprocess.detect"):
        assert run_cli(decode_h5, config, out) == 0
    assert "no released frame for reference frame 16" in caplog.text
    with h5py.File(out) as f:
        assert f.attrs["backend"] == "import" and "weights_sha256" not in f.attrs
        assert f.attrs["feature_dim"] == 2048
        classes = json.loads(f.attrs["detector_classes"])
        valid, boxes, labels = f["valid"][()], f["boxes"][()], f["labels"][()]
        scores, features = f["scores"][()], f["features"][()]
        bg_box, bg_feat = f["background_box"][()], f["background_feature"][()]
    assert len(classes) == VISUAL_GENOME_SIZE and classes[706] == "baby"
    assert not valid[16].any() and valid.sum() == valid[[0, 8]].sum()
    for w, r in enumerate((0, 8)):
        j = rel["order"].index(r)
        conf = np.array(rel["info"][j]["objects_conf"], np.float32)
        keep = np.flatnonzero(conf > 0.4)
        keep = keep[keep != 0]
        n = len(keep)
        assert valid[r].sum() == n and valid[r, :n].all()
        np.testing.assert_array_equal(labels[r, :n], np.array(rel["info"][j]["objects"])[keep])
        np.testing.assert_array_equal(scores[r, :n], conf[keep])
        want = np.clip(rel["boxes"][j, keep] / 2, 0, [80, 64, 80, 64])
        np.testing.assert_allclose(boxes[r, :n], want, rtol=1e-6)
        np.testing.assert_array_equal(features[r, :n], rel["features"][j, keep].astype(np.float16))
        assert intersection(bg_box[w], boxes[r, :n]).max() == 0
    assert bg_feat.shape == (3, 2048) and not bg_feat.any()


def test_import_needs_a_root_and_the_clip_folder(tmp_path, synth_config_path):
    frames = frames_of(8, 16, 16)
    for cfg_root, match in (
        (None, "needs detect.import_root"),
        (str(tmp_path), "no released features of clip c9"),
    ):
        config = write_config(
            tmp_path, synth_config_path, "visual_genome", backend="import", import_root=cfg_root
        )
        decode_h5 = write_decode(tmp_path / "decode.h5", frames, tmp_path / "c9.mp4", config)
        with pytest.raises(AsmpError, match=match):
            run_cli(decode_h5, config, tmp_path / "out.h5")
        assert_no_output(tmp_path / "out.h5")


# --- failures ------------------------------------------------------------------------------


def test_detectron2_guard(tmp_path, synth_config_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "detectron2", None)  # import detectron2 -> ImportError
    with pytest.raises(AsmpError, match="optional package detectron2.*docs/install.md"):
        detect.require_detectron2()
    config = write_config(tmp_path, synth_config_path, "visual_genome", backend="detectron2")
    decode_h5 = write_decode(
        tmp_path / "decode.h5", frames_of(8, 16, 16), tmp_path / "v.mp4", config
    )
    out = tmp_path / "detect.h5"
    with pytest.raises(AsmpError, match="optional package detectron2") as exc:
        run_cli(decode_h5, config, out)
    assert "\n" not in str(exc.value)
    assert_no_output(out)


def test_missing_weights_is_one_line_and_no_output(tmp_path, synth_config_path):
    missing = tmp_path / "nowhere.pth"
    config = write_config(
        tmp_path, synth_config_path, "coco", backend="torchvision", weights=str(missing)
    )
    decode_h5 = write_decode(
        tmp_path / "decode.h5", frames_of(8, 16, 16), tmp_path / "v.mp4", config
    )
    out = tmp_path / "detect.h5"
    with pytest.raises(AsmpError, match="weight file not found") as exc:
        run_cli(decode_h5, config, out)
    assert exc.value.path == str(missing) and "\n" not in str(exc.value)
    assert_no_output(out)


def test_backend_must_match_the_vocabulary(tmp_path, synth_config_path):
    config = write_config(tmp_path, synth_config_path, "synth", backend="torchvision")
    decode_h5 = write_decode(
        tmp_path / "decode.h5", frames_of(8, 16, 16), tmp_path / "v.mp4", config
    )
    with pytest.raises(
        AsmpError, match="labels coco classes but dataset.detector_vocabulary is synth"
    ):
        run_cli(decode_h5, config, tmp_path / "out.h5")


# --- vocabularies --------------------------------------------------------------------------


def test_vocabularies(tmp_path, repo_root):
    with open(repo_root / "data" / "asiw" / "vg_class_words.csv", encoding="utf-8-sig") as f:
        rows = {int(r["Class Index"]): r["Visual Word"] for r in csv.DictReader(f)}
    assert rows == ASIW_VISUAL_GENOME_WORDS
    names = visual_genome_classes()
    assert len(names) == VISUAL_GENOME_SIZE and names[0] == "vg0" and names[50] == "man"
    vocab = tmp_path / "objects_vocab.txt"
    vocab.write_text("\n".join(f"thing{i},things{i}" for i in range(VISUAL_GENOME_SIZE)))
    names = visual_genome_classes(vocab)
    assert names[1] == "thing1" and names[6] == "alarm clocks"
    vocab.write_text("a\nb\n")
    with pytest.raises(AsmpError, match="2 classes, expected 1600"):
        visual_genome_classes(vocab)
    assert coco_classes()[1] == "person" and len(coco_classes()) == 91
    assert synth_classes()[:2] == ["bell", "engine"]
