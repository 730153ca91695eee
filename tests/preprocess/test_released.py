"""Records imported from the authors' released ASIW data (asmp.preprocess.released)."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path
from typing import Any

import av
import h5py
import numpy as np
import pytest

from asmp.config import load_config, merge, validate_config
from asmp.errors import AsmpError
from asmp.graph import edge_weights
from asmp.io.audio import decode_audio
from asmp.io.hdf5 import sha256_file
from asmp.io.shards import AUDITORY, BACKGROUND, CONTEXT, read_shard, write_shard
from asmp.io.validate import validate_file
from asmp.preprocess import released
from asmp.preprocess.audio import crop_starts
from asmp.preprocess.motion import direction_class

SR = 11025
NAN = float("nan")

# (row, box, is_principal) per node, background last; VG ids of the principals.
VIDEOS: dict[str, dict[str, Any]] = {
    "vidA10s": {
        "split": "test",
        "seconds": 10.0,
        "frames": [40, 0, 72, 8, 16, 24],  # json row -> frame (shuffled, like the release)
        "context": [(1, 3, 0), (4, 2, 0), (2, 5, 1), (3, 7, 0), (5, 1, 1), (-1, -1, 0)],
        "principal_vg": {(2, 5): 706, (5, 1): 117},  # baby, dog
        "csv": "0,706,2,5\n5,117,5,1\n",
        "image_size": None,
        # baby: a list over windows (window 3 has no entry); dog: a dict with three windows
        "disp": {
            706: [
                (0.5, 0.1, 0.2),
                (0.7, 0.0, 0.0),
                (0.0, 0.0, -0.31),
                None,
                (-1.0, 2.0, 0.1),
                (0.0, 0.65, 0.0),
                (NAN, 0.0, 0.0),
                (-0.6, -0.6, 0.3),
                (0.1, 0.1, 0.1),
                (3.0, -3.0, 1.0),
            ],
            117: {0: (0.0, 0.0, 0.0), 1: (2.0, 0.0, 0.0), 9: (0.0, -1.0, -1.0)},
            50: [(9.0, 9.0, 9.0)] * 10,  # a class with no auditory node: unused
        },  # fmt: skip
    },
    "vidB6s": {
        "split": "train",
        "seconds": 6.0,
        "frames": [0, 8, 16],
        "context": [(0, 2, 1), (1, 4, 0), (2, 0, 1), (-1, -1, 0)],
        "principal_vg": {(0, 2): 183, (2, 0): 52},  # water (CSV), car (class map: vehicle)
        "csv": "13,183,0,2\n",
        "image_size": (360, 480),
        "disp": {183: [(0.0, 0.0, 1.0)] * 10, 52: [(0.0, 0.0, 0.0)] * 3},
    },
}


def write_aac(path: Path, seconds: float) -> None:
    """Raw AAC (ADTS), as the release's ``Extracted_Audio/<split>/<ytid>.aac``."""
    t = np.arange(round(seconds * SR)) / SR
    x = (0.4 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    with av.open(str(path), "w", format="adts") as out:
        stream = out.add_stream("aac", rate=SR, layout="mono")
        frame = av.AudioFrame.from_ndarray(x[None], format="fltp", layout="mono")
        frame.sample_rate, frame.pts = SR, 0
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)


def write_video(root: Path, clip: str, spec: dict[str, Any], rng: np.random.Generator) -> dict:
    """One released video in the documented layout (facts 2.1-2.2); returns what was written."""
    split, rows = spec["split"], len(spec["frames"])
    frames_dir = root / "Extracted_Frames" / split / clip
    rect_dir = root / "Rectified_Frames" / split / clip
    audio_dir = root / "Extracted_Audio" / split
    for d in (frames_dir, rect_dir, audio_dir):
        d.mkdir(parents=True, exist_ok=True)
    counts = [20 if r % 2 == 0 else 8 for r in range(rows)]
    xy = rng.uniform(0, 300, (rows, 20, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(5, 60, (rows, 20, 2))], -1).astype(np.float32)
    features = rng.normal(size=(rows, 20, 2048)).astype(np.float32)
    objects = [rng.integers(0, 1600, n).tolist() for n in counts]
    for (r, b), vg in spec["principal_vg"].items():
        objects[r][b] = vg
    conf = [rng.uniform(0, 1, n).round(4).tolist() for n in counts]
    info = []
    for r, f in enumerate(spec["frames"]):
        entry = {"image": f"{f + 1:04d}.png", "objects": objects[r], "objects_conf": conf[r]}
        if spec["image_size"]:
            entry["image_h"], entry["image_w"] = spec["image_size"]
        info.append(entry)
    with h5py.File(frames_dir / "Image_feature_20obj.h5", "w") as f:
        f["boxes"], f["features"] = boxes, features
    (frames_dir / "Image_info_20obj.json").write_text(json.dumps(info))
    (frames_dir / "Vision_Text_Labels.csv").write_text(spec["csv"])
    n = len(spec["context"])
    upper = np.triu(rng.uniform(0.1, 5.0, (n, n)), 1)
    upper[0, 3] = NAN
    dist = upper + np.tril(np.full((n, n), 7.0), -1)  # the lower triangle is never read
    chamfer = {"object_context": spec["context"], "object_wind": [], "dist_mat": dist}
    (rect_dir / "Chamfer_Info.pickle").write_bytes(pickle.dumps(chamfer))
    disp = {k: v if isinstance(v, dict) else [None if x is None else np.array(x) for x in v]
            for k, v in spec["disp"].items()}  # fmt: skip
    (rect_dir / "Comb_RAFTFlow_Displacement_Vectors_New.pickle").write_bytes(pickle.dumps(disp))
    write_aac(audio_dir / f"{clip}.aac", spec["seconds"])
    return {"boxes": boxes, "features": features, "objects": objects, "conf": conf, "dist": dist}


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> tuple[Path, dict[str, dict]]:
    root = tmp_path_factory.mktemp("release") / "Audiocaps_Dataset"
    rng = np.random.default_rng(7)
    return root, {clip: write_video(root, clip, spec, rng) for clip, spec in VIDEOS.items()}


@pytest.fixture(scope="module")
def cfg(repo_root):
    return load_config(repo_root / "workflow" / "config" / "asiw.yaml")


@pytest.fixture(scope="module")
def records(release, cfg):
    root, _ = release
    return {clip: released.import_record(clip, root, cfg) for clip in VIDEOS}


def test_records_validate_and_round_trip(release, cfg, records, tmp_path):
    root, _ = release
    attrs = released.import_attrs(cfg, root)
    assert attrs["displacement_units"] == "released" and attrs["backends"] == {"import": "released"}
    assert attrs["window_frames"] == 8 and attrs["feature_dim"] == 2048
    assert len(json.loads(attrs["detector_classes"])) == 1600
    path = write_shard(tmp_path / "asiw.h5", list(records.values()), attrs)
    assert validate_file(path) == []
    back = read_shard(path)
    assert [r.id for r in back] == list(VIDEOS)
    for rec in records.values():
        assert rec.extra["displacement_units"] == "released"
        assert rec.extra["still_uv"] == 0.6 and rec.extra["still_d"] == 0.3


def test_nodes_follow_object_context(release, cfg, records):
    root, data = release
    names = cfg["dataset"]["sound_classes"]
    want = {
        "vidA10s": ([CONTEXT, CONTEXT, AUDITORY, CONTEXT, AUDITORY, BACKGROUND],
                    [0, 0, 0, 1, 1, -1], ["baby", "dog"]),
        "vidB6s": ([AUDITORY, CONTEXT, AUDITORY, BACKGROUND], [0, 1, 1, -1], ["water", "vehicle"]),
    }  # fmt: skip
    for clip, (roles, objects, sounds) in want.items():
        rec, d, spec = records[clip], data[clip], VIDEOS[clip]
        assert rec.split == spec["split"] and rec.fps == rec.source_fps == 8.0
        assert rec.node_role.tolist() == roles and rec.node_object.tolist() == objects
        assert rec.object_node.tolist() == [i for i, r in enumerate(roles) if r == AUDITORY]
        assert [names[c] for c in rec.object_sound_class] == sounds
        assert rec.sound_classes == sorted(sounds, key=names.index)
        sound_of_node = [names[c] if c >= 0 else None for c in rec.node_sound_class]
        assert sound_of_node == [sounds[o] if r == AUDITORY else None
                                 for r, o in zip(roles, objects, strict=True)]  # fmt: skip
        at = [(r, b) for r, b, _ in spec["context"][:-1]] + [(0, 0)]  # background: row 0, box 0
        for i, (r, b) in enumerate(at):
            np.testing.assert_array_equal(
                rec.node_feature[i], d["features"][r, b].astype(np.float16)
            )
            np.testing.assert_array_equal(rec.node_box[i], d["boxes"][r, b])
            assert rec.node_det_class[i] == d["objects"][r][b]
            assert rec.node_score[i] == np.float32(d["conf"][r][b])
            assert rec.node_frame[i] == spec["frames"][r]
        assert rec.sha256 == sha256_file(root / "Extracted_Audio" / spec["split"] / f"{clip}.aac")
    # frame size: from the json when it says, else the extent of the boxes
    assert records["vidB6s"].frame_size == (360, 480)
    boxes = records["vidA10s"].node_box
    assert records["vidA10s"].frame_size == (
        int(np.ceil(boxes[:, 3].max())),
        int(np.ceil(boxes[:, 2].max())),
    )


def test_edges_are_the_upper_triangle_with_nan_as_the_largest(release, cfg, records):
    _, data = release
    for clip, rec in records.items():
        n = len(VIDEOS[clip]["context"])
        iu = np.triu_indices(n, 1)
        pair = data[clip]["dist"][iu]
        assert np.isnan(pair).sum() == 1
        pair = np.where(np.isnan(pair), np.nanmax(pair), pair)
        np.testing.assert_array_equal(rec.edge_index, np.stack(iu, 1))
        np.testing.assert_allclose(rec.edge_chamfer, pair, rtol=1e-6)
        full = np.zeros((n, n))
        full[iu] = pair
        full = full + full.T
        want = edge_weights(full, cfg["graph"]["edge_mode"], cfg["graph"]["sigma_percentile"])
        np.testing.assert_allclose(rec.edge_weight, want[iu], rtol=1e-6)
        assert np.isfinite(rec.edge_weight).all()


def test_motion_uses_released_displacements_and_thresholds(records):
    rec = records["vidA10s"]
    assert rec.n_windows == 10
    np.testing.assert_array_equal(rec.window_start_frame, np.arange(10) * 8)
    np.testing.assert_array_equal(rec.window_cam_T, np.broadcast_to(np.eye(4), (10, 8, 4, 4)))
    assert (rec.window_icp_fitness == 1).all() and (rec.window_icp_rmse == 0).all()
    baby, dog = VIDEOS["vidA10s"]["disp"][706], VIDEOS["vidA10s"]["disp"][117]
    disp = np.zeros((2, 10, 3))
    has = np.zeros((2, 10), bool)
    for w, v in enumerate(baby):
        if v is not None and np.isfinite(v).all():
            disp[0, w], has[0, w] = v, True
    for w, v in dog.items():
        disp[1, w], has[1, w] = v, True
    np.testing.assert_allclose(rec.motion_displacement, disp, rtol=1e-6)
    for n, field in ((10, rec.motion_direction10), (28, rec.motion_direction28)):
        np.testing.assert_array_equal(field, direction_class(disp, n, 0.6, 0.3, has))
    # released thresholds: still below 0.6/0.6/0.3; missing, NaN -> padding
    assert rec.motion_direction28[0].tolist()[:7] == [0, 3, 4, 27, 13, 2, 27]
    assert rec.motion_direction10[0, 3] == 9 and rec.motion_direction10[1, 2] == 9
    assert rec.motion_direction28[1].tolist() == [0, 3] + [27] * 7 + [16]
    # a 6-s clip has 6 windows; the displacements beyond them are not read
    short = records["vidB6s"]
    assert short.n_windows == 6 and short.motion_direction28.shape == (2, 6)
    assert short.motion_direction28[0].tolist() == [1] * 6
    assert short.motion_direction28[1].tolist() == [0, 0, 0, 27, 27, 27]


def test_audio_crops(release, cfg, records):
    root, _ = release
    a = cfg["audio"]
    for clip, rec in records.items():
        spec = VIDEOS[clip]
        wave, _ = decode_audio(root / "Extracted_Audio" / spec["split"] / f"{clip}.aac", SR)
        np.testing.assert_array_equal(rec.waveform, wave)
        assert rec.duration == len(wave) / SR and abs(rec.duration - spec["seconds"]) < 0.2
        np.testing.assert_array_equal(rec.crop_start, crop_starts(len(wave), SR, a["crop_samples"]))
        assert rec.crop_stft.shape == (len(rec.crop_start), a["n_fft"] // 2 + 1, 256)
        assert rec.crop_stft.dtype == np.complex64


def test_split_and_chamfer_fallback(release, cfg, tmp_path):
    root = tmp_path / "Audiocaps_Dataset"
    shutil.copytree(release[0], root)
    with pytest.raises(AsmpError, match="no released features of clip vidA10s"):
        released.import_record("vidA10s", root, cfg, split="train")
    rect = root / "Rectified_Frames" / "train" / "vidB6s"
    (rect / "Chamfer_Info.pickle").rename(rect / "Chamfer_Info_Prev.pickle")
    rec = released.import_record("vidB6s", root, cfg, split="train")
    assert rec.split == "train" and len(rec.node_role) == 4


def _break(root: Path, what: str) -> Path:
    """Damage vidB6s in one way; returns the file the error must name."""
    frames = root / "Extracted_Frames" / "train" / "vidB6s"
    rect = root / "Rectified_Frames" / "train" / "vidB6s"
    if what == "no displacement":
        path = rect / "Comb_RAFTFlow_Displacement_Vectors_New.pickle"
        path.unlink()
    elif what == "no chamfer":
        path = rect / "Chamfer_Info.pickle"
        path.unlink()
    elif what == "corrupt pickle":
        path = rect / "Chamfer_Info.pickle"
        path.write_bytes(b"not a pickle")
    elif what == "feature shape":
        path = frames / "Image_feature_20obj.h5"
        with h5py.File(path, "r+") as f:
            del f["features"]
            f["features"] = np.zeros((3, 20, 100), np.float32)
    elif what == "dist_mat shape":
        path = rect / "Chamfer_Info.pickle"
        info = pickle.loads(path.read_bytes())
        info["dist_mat"] = info["dist_mat"][:3, :3]
        path.write_bytes(pickle.dumps(info))
    elif what == "box out of range":
        path = rect / "Chamfer_Info.pickle"
        info = pickle.loads(path.read_bytes())
        info["object_context"][1] = (1, 12, 0)  # row 1 has 8 objects
        path.write_bytes(pickle.dumps(info))
    elif what == "no csv":
        path = frames / "Vision_Text_Labels.csv"
        path.unlink()
    elif what == "bad csv":
        path = frames / "Vision_Text_Labels.csv"
        path.write_text("14,183,0,2\n")
    elif what == "no audio":
        path = root / "Extracted_Audio" / "train" / "vidB6s.aac"
        path.unlink()
    else:  # bad displacement vector
        path = rect / "Comb_RAFTFlow_Displacement_Vectors_New.pickle"
        path.write_bytes(pickle.dumps({183: [(1.0, 2.0)] * 10}))
    return path


@pytest.mark.parametrize(
    "what",
    ["no displacement", "no chamfer", "corrupt pickle", "feature shape", "dist_mat shape",
     "box out of range", "no csv", "bad csv", "no audio", "bad vector"],
)  # fmt: skip
def test_bad_input_names_the_file(release, cfg, tmp_path, what):
    root = tmp_path / "Audiocaps_Dataset"
    shutil.copytree(release[0], root)
    path = _break(root, what)
    with pytest.raises(AsmpError) as err:
        released.import_record("vidB6s", root, cfg)
    assert err.value.path == str(path), err.value


def test_config_must_fit_the_release(release, cfg):
    for override in ({"dataset": {"detector_vocabulary": "coco"}}, {"video": {"window_frames": 4}}):
        bad = validate_config(merge(cfg, override))
        with pytest.raises(AsmpError, match="released|release"):
            released.import_record("vidB6s", release[0], bad)
        with pytest.raises(AsmpError):
            released.import_attrs(bad, release[0])


def test_cli_writes_valid_records(release, repo_root, tmp_path, capsys):
    root, videos = release
    from asmp.cli import main
    from asmp.io.validate import validate_file

    args = ["released", *sorted(videos), "--root", str(root), "--out", str(tmp_path),
            "--config", str(repo_root / "workflow" / "config" / "asiw.yaml")]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    assert sorted(p.stem for p in tmp_path.glob("*.h5")) == sorted(videos)
    assert all(validate_file(p) == [] for p in tmp_path.glob("*.h5"))
