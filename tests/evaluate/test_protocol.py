"""``asmp evaluate`` and ``asmp report`` on a briefly trained small model."""

from __future__ import annotations

import argparse
import csv
import json

import numpy as np
import pytest
import torch

from asmp.errors import AsmpError
from asmp.evaluate import protocol, report
from asmp.evaluate.protocol import evaluate, octant_of
from asmp.train.checkpoint import load_checkpoint, save_checkpoint


@pytest.fixture(scope="module")
def train_as_test(synth_shards, tmp_path_factory):
    """The shards with the training videos listed as the test split (the model has learnt
    them, so its ranking between the baselines is a fixed fact)."""
    path = synth_shards.parent / "train_as_test.csv"
    rows = list(csv.DictReader(open(synth_shards, newline="")))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow(
                {**r, "split": {"train": "test", "test": "held"}.get(r["split"], r["split"])}
            )
    return path


@pytest.fixture(scope="module")
def evaluation(overfit_run, train_cfg, train_as_test, tmp_path_factory):
    out = tmp_path_factory.mktemp("evaluation")
    metrics = evaluate([overfit_run], train_cfg, train_as_test, out, progress=False)
    return out, metrics


def test_oracles_rank_above_the_model_and_the_mixture(evaluation):
    out, metrics = evaluation
    sep = metrics["separation"]
    model = sep["asmp"]["sdr"]["mean"]
    # Issue 8: the oracle ratio mask above the trained model, the model above the mixture
    # (the model fits these training clips: +6 dB on their first crops, test_trainer.py).
    mixture = sep["mixture"]["sdr"]["mean"]
    assert sep["ideal_ratio_mask"]["sdr"]["mean"] > model > mixture + 3
    assert sep["ideal_binary_mask"]["sdr"]["mean"] > model
    assert sep["asmp"]["sdri"]["mean"] == pytest.approx(model - sep["mixture"]["sdr"]["mean"])
    lo, hi = sep["asmp"]["sdr"]["ci95"]
    assert lo <= model <= hi
    pairs = list(csv.DictReader(open(out / "pairs.csv")))
    assert metrics["pairs"] == len(pairs) >= 4
    scores = list(csv.DictReader(open(out / "scores.csv")))
    assert len(scores) == len(pairs) * 2 * 4  # 2 sources x (model + 3 baselines)
    d = metrics["direction"]["asmp"]
    assert 0 <= d["accuracy28"] <= 1 and d["windows"] > 0
    assert np.asarray(d["confusion"]).sum() == d["windows"]
    assert json.loads((out / "metrics.json").read_text())["pairs"] == len(pairs)


def test_report_and_figures(evaluation, tmp_path):
    out, _ = evaluation
    text = (out / "report.md").read_text()
    assert "## Separation (paper Table 1)" in text and "## Direction prediction" in text
    assert "Ideal ratio mask (oracle)" in text and "| ASMP `asmp` |" in text
    for name in ("separation", "directions", "confusion_asmp", "training_overfit0"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 0, name
    args = argparse.Namespace(evaluation=out, logs=[], out=tmp_path / "report.md")
    report.run(args)
    assert (tmp_path / "report.md").read_text().startswith("# Results: synth")


def test_pairs_are_fixed_and_reused(evaluation, overfit_run, train_cfg, train_as_test, tmp_path):
    out, _ = evaluation
    again = evaluate(
        [overfit_run], train_cfg, train_as_test, tmp_path, pairs_file=out / "pairs.csv",
        figures=False, progress=False,
    )  # fmt: skip
    assert (tmp_path / "pairs.csv").read_text() == (out / "pairs.csv").read_text()
    assert again["separation"]["asmp"]["sdr"]["mean"] == pytest.approx(
        evaluation[1]["separation"]["asmp"]["sdr"]["mean"]
    )


def test_checkpoint_of_another_configuration_is_refused(
    overfit_run, train_cfg, synth_shards, tmp_path
):
    state = load_checkpoint(overfit_run)
    # A valid config whose classes are in another order: labels would mean other classes.
    state["config"]["dataset"]["sound_classes"].reverse()
    save_checkpoint(
        tmp_path / "other.pt", {k: v for k, v in state.items() if k not in ("format", "version")}
    )
    with pytest.raises(AsmpError, match="dataset.sound_classes") as err:
        evaluate([tmp_path / "other.pt"], train_cfg, synth_shards, tmp_path / "e", progress=False)
    assert "other.pt" in str(err.value)


def test_octants_of_28_classes_follow_the_10_class_rule():
    # still, +d axis, corners (1,1,1), (-1,1,1), (-1,-1,-1), (1,-1,-1), -u axis, background
    got = octant_of(np.array([0, 1, 19, 20, 25, 26, 6, 27]), 28)
    assert got.tolist() == [0, 1, 1, 2, 7, 8, 2, 9]


def test_cli_arguments():
    p = argparse.ArgumentParser()
    protocol.add_arguments(p)
    args = p.parse_args(
        ["--checkpoint", "a.pt", "b.pt", "--config", "c", "--shards", "s", "--out", "o"]
    )
    assert [str(c) for c in args.checkpoint] == ["a.pt", "b.pt"]
    assert torch.__version__  # torch is importable alongside the CLI


def test_probe_crop_takes_the_earliest_crop_holding_the_window():
    starts = np.array([0, 1, 2, 3, 4])
    assert protocol.probe_crop(starts, 3, 6) == (0, 3)
    assert protocol.probe_crop(starts, 5, 6) == (0, 5)
    assert protocol.probe_crop(starts, 9, 6) == (4, 5)  # the authors' min(w, 5)
    assert protocol.probe_crop(starts, 10, 6) is None
    assert protocol.probe_crop(np.array([2, 0]), 1, 6) == (1, 1)


class ConstantDirection(torch.nn.Module):
    """A stand-in model that predicts direction class ``c`` for every slot and window."""

    def __init__(self, c: int, classes: int) -> None:
        super().__init__()
        self.c, self.classes = c, classes

    def forward(self, batch, losses=True):
        V, S = batch.labels.shape
        logits = torch.zeros(V, S, batch.directions.shape[-1], self.classes)
        logits[..., self.c] = 1.0
        return argparse.Namespace(direction_logits=logits)


def test_direction_pairs_score_the_named_window_of_the_named_object(
    train_cfg, train_as_test, tmp_path
):
    from asmp.train.data import ShardSet
    from asmp.train.trainer import make_sampler

    shards = ShardSet(train_as_test)
    sampler = make_sampler(train_cfg, shards, "test")
    names = train_cfg["dataset"]["sound_classes"]
    rows, truth = [], []
    for i, a in enumerate(sampler.videos):
        for b in sampler.videos[i + 1 :]:
            if a.classes & b.classes:
                continue
            for w in (1, 3):
                row, labels = {}, []
                for u, ref in enumerate((a, b), start=1):
                    rec = shards.read(ref, ("object_sound_class", "motion_direction28"))
                    obj = len(rec["object_sound_class"]) - 1  # the last object
                    row |= {f"video{u}": ref.video_id, f"class{u}": rec["object_sound_class"][obj]}
                    row[f"window{u}"] = w
                    labels.append(rec["motion_direction28"][obj, w])
                rows.append(row)
                truth += labels
    # Unscorable: a class the video lacks, and a window beyond the 4-s clips.
    absent = next(k for k, c in enumerate(names) if c not in sampler.videos[0].classes)
    rows.append({**rows[0], "class1": absent})
    rows.append({**rows[0], "window2": 9})
    path = tmp_path / "direction_pairs.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    pairs = protocol.read_direction_pairs(path)
    common = int(np.bincount(truth).argmax())
    model = protocol.Model("const", ConstantDirection(common, 28), train_cfg)
    got = protocol.score_direction_pairs([model], pairs, sampler, torch.device("cpu"))["const"]
    assert got["pairs"] == len(pairs) - 2 and got["skipped"] == 2
    assert got["objects"] == len(truth)
    assert got["accuracy28"] == pytest.approx(np.mean(np.array(truth) == common))
    assert got["accuracy28"] not in (0.0, 1.0)  # the windows differ: the check can tell
    want10 = octant_of(np.array(truth), 28) == octant_of(np.array(common), 28)
    assert got["accuracy10"] == pytest.approx(want10.mean())
    (tmp_path / "bad.csv").write_text("video1,class1\nx,notanumber\n")
    with pytest.raises(AsmpError, match="bad.csv: direction pairs need the columns"):
        protocol.read_direction_pairs(tmp_path / "bad.csv")
