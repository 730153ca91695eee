"""Preprocessing II end to end on synthetic clips: ``asmp preprocess`` -> records ->
``asmp shard``; the graph against ground truth (issue acceptance)."""

from __future__ import annotations

import csv
import itertools

import h5py
import numpy as np
import pytest
import yaml
from scipy.stats import spearmanr

from asmp.cli import main
from asmp.config import load_config
from asmp.graph import box_cloud, chamfer_matrix, iou_matrix
from asmp.io.shards import AUDITORY, BACKGROUND, read_shard
from asmp.io.validate import validate_file
from asmp.preprocess import preprocess
from asmp.synth import generate


@pytest.fixture(scope="module")
def cfg(synth_config_path, frcnn_checkpoint):
    return load_config(synth_config_path, {"detect": {"weights": str(frcnn_checkpoint)}})


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, cfg):
    root = tmp_path_factory.mktemp("preprocess")
    data = generate(root / "synth", clips=12, seed=21, duration=3.0)
    records = []
    for video in sorted((data / "videos").glob("*.mp4")):
        work = root / "work" / video.stem
        records.append(preprocess(video, cfg, root / "records" / f"{video.stem}.h5", workdir=work))
    return data, records


def gt_objects(data, clip):
    with h5py.File(data / "gt" / f"{clip}.h5") as f:
        return [
            {
                "class": f[f"objects/{k}"].attrs["class"],
                "sounding": bool(f[f"objects/{k}"].attrs["sounding"]),
                "box": f[f"objects/{k}/box"][()],
                "position": f[f"objects/{k}/position"][()],
            }
            for k in sorted(f["objects"], key=int)
        ]


def match(rec, objects):
    """Ground-truth object index of each non-background node (best IoU at its frame)."""
    frame = int(rec.node_frame[0])
    gt_boxes = np.nan_to_num(np.stack([o["box"][frame] for o in objects]), nan=-1e6)
    iou = iou_matrix(rec.node_box, gt_boxes)
    return np.where(rec.node_role == BACKGROUND, -1, iou.argmax(axis=1)), iou.max(axis=1)


def test_records_validate_and_auditory_nodes_are_the_sounding_objects(dataset, cfg):
    data, records = dataset
    sound = cfg["dataset"]["sound_classes"]
    for path in records:
        assert validate_file(path) == []
        rec = read_shard(path)[0]
        objects = gt_objects(data, rec.id)
        owner, iou = match(rec, objects)
        aux = rec.node_role == AUDITORY
        assert aux.any()
        assert (iou[aux] > 0.9).all()  # true boxes (gt backend), clipped to the frame
        assert all(objects[k]["sounding"] for k in owner[aux])
        assert [sound[c] for c in rec.node_sound_class[aux]] == [
            objects[k]["class"] for k in owner[aux]
        ]
        frame = int(rec.node_frame[0])
        visible = {
            o["class"] for o in objects if o["sounding"] and np.isfinite(o["box"][frame]).all()
        }
        assert {objects[k]["class"] for k in owner[aux]} == visible


def test_chamfer_distance_ranks_like_true_3d_distance(dataset, cfg):
    """Chamfer distances between the point clouds of every pair of visible objects on each
    record's key frame (the graph stage's own functions on its rectified depth) rank like
    the true distances between the objects' centres."""
    data, records = dataset
    chamfer, true = [], []
    for path in records:
        rec = read_shard(path)[0]
        frame = int(rec.node_frame[0])
        with h5py.File(path.parent.parent / "work" / rec.id / "rectify.h5") as f:
            depth = f["rectified_depth"][frame]
        objects = [o for o in gt_objects(data, rec.id) if np.isfinite(o["box"][frame]).all()]
        band = cfg["objects"]["depth_band"]
        clouds = [box_cloud(depth, o["box"][frame], depth_band=band) for o in objects]
        dist = chamfer_matrix(clouds)
        for i, j in itertools.combinations(range(len(objects)), 2):
            chamfer.append(dist[i, j])
            true.append(
                np.linalg.norm(objects[i]["position"][frame] - objects[j]["position"][frame])
            )
    assert len(chamfer) >= 15
    assert spearmanr(chamfer, true).statistic >= 0.8


def test_shard_packs_records(dataset, tmp_path, capsys):
    _, records = dataset
    out = tmp_path / "shards"
    args = ["shard", *map(str, records), "--out", str(out), "--records-per-shard", "4"]
    assert main(args) == 0
    shards = sorted(out.glob("shard-*.h5"))
    assert [p.name for p in shards] == [f"shard-0000{i}.h5" for i in range(3)]
    assert all(validate_file(p) == [] for p in shards)
    with open(out / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    ids = [r.id for p in shards for r in read_shard(p)]
    assert [row["video_id"] for row in rows] == ids == [p.stem for p in records]
    assert [int(row["index"]) for row in rows] == [i % 4 for i in range(12)]


def test_edge_mode_comes_from_the_config(dataset, tmp_path, synth_config_path, frcnn_checkpoint):
    data, records = dataset
    video = sorted((data / "videos").glob("*.mp4"))[0]
    uniform = load_config(
        synth_config_path,
        {"detect": {"weights": str(frcnn_checkpoint)}, "graph": {"edge_mode": "uniform"}},
    )
    rec = read_shard(preprocess(video, uniform, tmp_path / "u.h5"))[0]
    paper = read_shard(records[0])[0]
    np.testing.assert_array_equal(rec.edge_chamfer, paper.edge_chamfer)
    assert (rec.edge_weight == 1).all() and not (paper.edge_weight == 1).all()


def write_config(tmp_path, synth_config_path, frcnn_checkpoint, class_map=None):
    """synth.yaml with the test's detector weights (and another class map) as a file."""
    raw = yaml.safe_load(synth_config_path.read_text())
    raw["detect"]["weights"] = str(frcnn_checkpoint)
    raw["dataset"]["class_map"].update(class_map or {})
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_class_map_naming_an_unknown_class(
    dataset, tmp_path, synth_config_path, frcnn_checkpoint, capsys
):
    data, _ = dataset
    video = sorted((data / "videos").glob("*.mp4"))[0]
    cfg_path = write_config(tmp_path, synth_config_path, frcnn_checkpoint, {"bell": ["belfry"]})
    out = tmp_path / "r.h5"
    assert main(["preprocess", str(video), "--config", str(cfg_path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "dataset.class_map maps 'bell' to 'belfry', which the detector does not know" in err
    assert err.count("\n") == 1 and not out.exists()


def test_no_auditory_object_and_missing_stage_output(
    dataset, cfg, synth_config_path, frcnn_checkpoint, tmp_path, capsys
):
    data, records = dataset
    rec = read_shard(records[0])[0]
    absent = next(c for c in cfg["dataset"]["sound_classes"] if c not in rec.sound_classes)
    video = data / "videos" / f"{rec.id}.mp4"
    cfg_path = write_config(tmp_path, synth_config_path, frcnn_checkpoint)
    out = tmp_path / "r.h5"
    args = ["preprocess", str(video), "--config", str(cfg_path), "--out", str(out)]
    assert main([*args, "--classes", absent]) == 2
    err = capsys.readouterr().err
    assert err.endswith(
        "detect.h5: no auditory object detected in any window (dataset.class_map)\n"
    )
    assert not out.exists()
    work = records[0].parent.parent / "work" / rec.id
    args = [
        "stage",
        "record",
        str(work / "decode.h5"),
        str(work / "rectify.h5"),
        str(tmp_path / "missing.h5"),
        str(work / "audio.h5"),
        "--config",
        str(cfg_path),
        "--out",
        str(out),
    ]
    assert main(args) == 2
    assert capsys.readouterr().err == f"asmp: error: {tmp_path / 'missing.h5'}: no such file\n"
    assert not out.exists()
