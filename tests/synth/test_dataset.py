"""Dataset files: layout, manifest, media, ground truth, reproducibility."""

from __future__ import annotations

import csv
from pathlib import Path

import av
import h5py
import numpy as np
import pytest
import soundfile as sf

from asmp.geometry import project
from asmp.preprocess.common import window_starts
from asmp.preprocess.motion import direction_class
from asmp.synth import generate, synth_clip


def manifest(root: Path) -> list[dict[str, str]]:
    with open(root / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


def read_gt(path: Path) -> dict:
    """Every dataset of a gt file by its path; root attributes under '@', and the objects'
    (class, sounding) under '@objects'."""
    out: dict = {}

    def keep(name: str, obj: h5py.HLObject) -> None:
        if isinstance(obj, h5py.Dataset):
            out[name] = obj[()]

    with h5py.File(path) as f:
        f.visititems(keep)
        out["@"] = {k: v for k, v in f.attrs.items() if k != "versions"}
        out["@objects"] = [
            (g.attrs["class"], bool(g.attrs["sounding"]))
            for _, g in sorted(f["objects"].items(), key=lambda kv: int(kv[0]))
        ]
    return out


def decode(path: Path) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Decoded frames, decoded audio, and (the audio stream's length in samples, its rate)."""
    with av.open(str(path)) as c:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        audio = np.concatenate([f.to_ndarray()[0] for f in c.decode(audio=0)])
        info = (int(stream.duration * stream.time_base * stream.sample_rate), stream.sample_rate)
    return frames, audio, info


def test_layout_and_manifest(tiny_dataset):
    rows = manifest(tiny_dataset)
    assert list(rows[0]) == ["clip_id", "split", "video", "audio", "classes"]
    assert [r["split"] for r in rows] == ["train", "val", "test"]
    for r in rows:
        assert (tiny_dataset / r["video"]).is_file() and (tiny_dataset / r["audio"]).is_file()
        assert (tiny_dataset / "gt" / f"{r['clip_id']}.h5").is_file()
        gt = read_gt(tiny_dataset / "gt" / f"{r['clip_id']}.h5")
        assert r["classes"] == ";".join(gt["@"]["classes"])
        assert [c for c, s in gt["@objects"] if s] == r["classes"].split(";")
    assert sorted(p.name for p in tiny_dataset.iterdir()) == [
        "audio",
        "gt",
        "manifest.csv",
        "videos",
    ]


def test_mp4_has_every_frame_and_the_mixture(tiny_dataset, tiny):
    fps, duration = 8, tiny["duration"]
    for r in manifest(tiny_dataset):
        frames, audio, (stream_samples, rate) = decode(tiny_dataset / r["video"])
        mixture, wav_rate = sf.read(tiny_dataset / r["audio"], dtype="float32")
        assert wav_rate == rate == 11025 and len(mixture) == round(duration * rate)
        assert frames.shape == (round(fps * duration), tiny["height"], tiny["width"], 3)
        # the container says exactly the mixture's length; decoding adds at most one AAC
        # frame (1024 samples) of end padding; the encoder's priming is cut (no lag)
        assert stream_samples == len(mixture)
        assert len(mixture) <= len(audio) < len(mixture) + 1024
        corr = (
            np.dot(audio[: len(mixture)], mixture)
            / np.linalg.norm(audio[: len(mixture)])
            / np.linalg.norm(mixture)
        )
        assert corr > 0.9


def test_mp4_frames_are_the_rendered_frames(tiny_dataset, tiny):
    clip = synth_clip(
        1, tiny["seed"], duration=tiny["duration"], height=tiny["height"], width=tiny["width"]
    )
    frames, _, _ = decode(tiny_dataset / manifest(tiny_dataset)[1]["video"])
    mse = np.mean((frames.astype(float) - clip.frames) ** 2)
    assert 10 * np.log10(255**2 / mse) > 30
    gt = read_gt(tiny_dataset / "gt" / f"{clip.spec.clip_id}.h5")
    np.testing.assert_array_equal(gt["depth"], clip.depth)


def test_sources_sum_to_the_mixture(tiny_dataset):
    for r in manifest(tiny_dataset):
        gt = read_gt(tiny_dataset / "gt" / f"{r['clip_id']}.h5")
        mixture, _ = sf.read(tiny_dataset / r["audio"], dtype="float32")
        sources = [gt[f"sources/{k}"] for k in range(len(r["classes"].split(";")))]
        assert all(s.dtype == np.float32 and s.shape == mixture.shape for s in sources)
        np.testing.assert_allclose(
            np.sum(sources, axis=0) + gt["sources/background"], mixture, atol=1e-4
        )
        assert np.abs(mixture).max() <= 1


def test_ground_truth_geometry(tiny_dataset):
    checked = 0
    for r in manifest(tiny_dataset):
        gt = read_gt(tiny_dataset / "gt" / f"{r['clip_id']}.h5")
        T, H, W = gt["depth"].shape
        assert (
            gt["depth"].dtype == np.float32
            and np.isfinite(gt["depth"]).all()
            and gt["depth"].min() > 0
        )
        assert gt["cam_T_world"].shape == (T, 4, 4) and gt["K"].shape == (3, 3)
        assert gt["@"]["camera_motion"] in ("none", "pan", "dolly")
        for k in range(len(gt["@objects"])):
            box, pos, visible = (
                gt[f"objects/{k}/box"],
                gt[f"objects/{k}/position"],
                gt[f"objects/{k}/visible"],
            )
            assert box.shape == (T, 4) and pos.shape == (T, 3) and visible.dtype == bool
            assert np.isnan(box[~visible]).all() and np.isfinite(box[visible]).all()
            assert (box[visible, :2] >= -0.5).all() and (box[visible, 2] <= W - 0.5).all()
            assert (gt["instance"][visible] == k).any(axis=(1, 2)).all()
            centre = project(pos, gt["K"])
            for t in np.flatnonzero(visible):
                xi, yi = np.round(centre[t]).astype(int)
                if not (0 <= xi < W and 0 <= yi < H):
                    continue
                if gt["instance"][t, yi, xi] == k:
                    x, y = centre[t]
                    assert box[t, 0] <= x <= box[t, 2] and box[t, 1] <= y <= box[t, 3], (k, t)
                    assert gt["depth"][t, yi, xi] == pytest.approx(pos[t, 2], rel=0.01)
                    checked += 1
                else:  # hidden by something nearer (another object or the ground)
                    assert gt["depth"][t, yi, xi] < pos[t, 2]
    assert checked > 50


def test_direction_labels_are_the_quantized_true_displacement(tiny_dataset):
    for r in manifest(tiny_dataset):
        gt = read_gt(tiny_dataset / "gt" / f"{r['clip_id']}.h5")
        n_objects, T = len(gt["@objects"]), gt["depth"].shape[0]
        cfg = gt["@"]
        starts = window_starts(T, 8)
        disp = gt["displacement"]
        assert disp.shape == (n_objects, len(starts), 3) and disp.dtype == np.float64
        visible = np.stack([gt[f"objects/{k}/visible"] for k in range(n_objects)])[:, starts]
        for n in (10, 28):
            labels = gt[f"direction{n}"]
            assert labels.dtype == np.int64 and labels.shape == (n_objects, len(starts))
            np.testing.assert_array_equal(labels, direction_class(disp, n, 0.03, 0.03, visible))
            assert (labels[~visible] == n - 1).all()
        assert '"still_uv": 0.03' in cfg["config"]


def test_same_seed_same_data_other_seed_other_data(tiny_dataset, tiny, tmp_path):
    again = generate(tmp_path / "again", **tiny)
    other = generate(tmp_path / "other", **{**tiny, "seed": tiny["seed"] + 1, "clips": 1})
    for r in manifest(tiny_dataset):
        a, b = (
            read_gt(tiny_dataset / "gt" / f"{r['clip_id']}.h5"),
            read_gt(again / "gt" / f"{r['clip_id']}.h5"),
        )
        assert a.keys() == b.keys()
        for key in a:
            if not key.startswith("@"):
                np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        np.testing.assert_array_equal(
            sf.read(tiny_dataset / r["audio"])[0], sf.read(again / r["audio"])[0]
        )
        np.testing.assert_array_equal(
            decode(tiny_dataset / r["video"])[0], decode(again / r["video"])[0]
        )
    assert manifest(again) == manifest(tiny_dataset)
    first, changed = (
        read_gt(tiny_dataset / "gt" / f"s{tiny['seed']}_00000.h5"),
        read_gt(other / "gt" / f"s{tiny['seed'] + 1}_00000.h5"),
    )
    assert not np.array_equal(first["depth"], changed["depth"])


def test_ten_second_clips(tmp_path):
    root = generate(tmp_path / "long", clips=1, duration=10.0, height=64, width=64, camera="pan")
    row = manifest(root)[0]
    frames, audio, (stream_samples, _) = decode(root / row["video"])
    assert len(frames) == 80 and stream_samples == 110250
    gt = read_gt(root / "gt" / f"{row['clip_id']}.h5")
    assert gt["direction28"].shape[1] == 10 and gt["@"]["duration"] == 10.0
