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
    for oracle in ("ideal_ratio_mask", "ideal_binary_mask"):
        assert sep[oracle]["sdr"]["mean"] > max(model, sep["mixture"]["sdr"]["mean"]) + 5
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
