"""DistributedDataParallel under torchrun: two CPU ranks (gloo) against the same steps
computed in one process from both ranks' batches."""

from __future__ import annotations

import copy
import os
import subprocess
import sys

import torch
import yaml

from asmp.train.checkpoint import load_checkpoint
from asmp.train.data import ShardSet, StepBatches
from asmp.train.trainer import apply_preset, build_forward, make_sampler

STEPS = 3


def reference_moments(cfg: dict, shards_manifest, ranks: list[int]) -> list[torch.Tensor]:
    """Adam's first moments (one per parameter, in order) after STEPS steps on the gradient
    averaged over ``ranks``' batches: what DDP computes (BatchNorm uses each rank's own
    batch statistics)."""
    cfg = apply_preset(cfg)
    tc = cfg["train"]
    shards = ShardSet(shards_manifest)
    torch.manual_seed(tc["seed"])
    fwd = build_forward(cfg, int(shards.attrs["feature_dim"]), shards.attrs)
    if fwd.model.spec.feature_norm == "standardize":
        fwd.model.set_feature_statistics(*shards.feature_statistics("train"))
    optimizer = torch.optim.Adam(fwd.parameters(), lr=tc["lr"], weight_decay=tc["weight_decay"])
    sampler = make_sampler(cfg, shards, "train")
    draws = [StepBatches(sampler, tc["batch_size"], tc["seed"], r) for r in ranks]
    fwd.train()
    for step in range(STEPS):
        optimizer.zero_grad()
        losses = [fwd.losses.weights.total(fwd(d[step]).terms) for d in draws]
        (sum(losses) / len(ranks)).backward()
        optimizer.step()
    state = optimizer.state_dict()["state"]
    return [state[i]["exp_avg"] for i in range(len(state))]


def test_two_ranks_train_on_the_averaged_gradient(train_cfg, synth_shards, tmp_path):
    cfg = copy.deepcopy(train_cfg)
    # A tiny learning rate: parameters whose gradient is rounding noise (biases in front of
    # a BatchNorm) take Adam steps of random sign, about lr each, and differ between any two
    # summation orders; at lr 1e-7 that changes later gradients by less than 1e-6.
    cfg["train"].update(batch_size=1, lr=1e-7, validate_every=1000, checkpoint_every=1000)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    cmd += ["-m", "asmp.cli", "train", "--config", str(config), "--shards", str(synth_shards)]
    cmd += ["--out", str(tmp_path / "run"), "--steps", str(STEPS), "--device", "cpu", "--quiet"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=540)
    assert done.returncode == 0, done.stderr[-3000:]

    state = load_checkpoint(tmp_path / "run" / "last.pt")
    assert state["step"] == STEPS
    ddp = [s["exp_avg"] for _, s in sorted(state["optimizer"]["state"].items())]
    both = reference_moments(cfg, synth_shards, [0, 1])
    alone = reference_moments(cfg, synth_shards, [0])
    assert len(ddp) == len(both) > 0
    scale = max(float(m.abs().max()) for m in both)
    worst = max(float((a - b).abs().max()) for a, b in zip(ddp, both, strict=True))
    assert worst < 1e-5 * scale
    # The check can tell: rank 0's gradient alone gives other moments.
    assert max(float((a - b).abs().max()) for a, b in zip(alone, both, strict=True)) > 1e-2 * scale
    rows = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert len(rows) == 2  # rank 0 alone writes the log: header + the last step
