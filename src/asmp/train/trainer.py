"""The training loop (docs/training.md): Adam with a step schedule, autocast on GPU,
atomic checkpoints with exact resume, CSV and TensorBoard logs, validation SDR with the
best checkpoint kept, and DistributedDataParallel under ``torchrun``.
"""

from __future__ import annotations

import copy
import csv
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from asmp.config import Config, config_hash
from asmp.errors import AsmpError
from asmp.model import ASMP, ModelSpec
from asmp.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from asmp.train.data import Batch, MixtureSampler, ShardSet, StepBatches, fixed_mixtures
from asmp.train.step import Forward, LossOptions

log = logging.getLogger(__name__)

#: Ablation presets (paper Tables 3-5): config overrides on top of the dataset config.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "asmp": {},
    "no_direction": {"loss": {"direction": 0.0}},
    "graph2d": {"graph": {"edge_mode": "uniform"}, "loss": {"direction": 0.0}},
    "graph2d_direction": {"graph": {"edge_mode": "uniform"}},
    "direction_only": {"loss": {"consistency": 0.0, "coseparation": 0.0, "orthogonality": 0.0}},
    "multiscale_edges": {"graph": {"edge_mode": "multiscale"}},
}

#: Columns of ``log.csv``; validation columns are empty on other rows.
LOG_COLUMNS = (
    "step",
    "loss",
    "consistency",
    "coseparation",
    "orthogonality",
    "direction",
    "lr",
    "samples_per_s",
    "val_sdr",
    "val_sdri",
    "val_direction_acc",
)


def apply_preset(cfg: Config, preset: str | None = None) -> Config:
    """A copy of ``cfg`` with ablation ``preset`` (default ``train.preset``) applied."""
    preset = preset or cfg["train"]["preset"]
    if preset not in PRESETS:
        raise AsmpError(f"unknown preset {preset!r}; expected one of {', '.join(PRESETS)}")
    out = copy.deepcopy(cfg)
    for section, values in PRESETS[preset].items():
        out[section].update(values)
    out["train"]["preset"] = preset
    return out


def build_forward(cfg: Config, feature_dim: int, attrs: dict[str, Any]) -> Forward:
    """The model and its loss pass for a resolved (preset-applied) config."""
    spec = ModelSpec.from_config(cfg, feature_dim)
    return Forward(
        ASMP(spec),
        LossOptions.from_config(cfg),
        int(attrs["sample_rate"]),
        int(attrs["hop_length"]),
        int(attrs["crop_samples"]),
        cfg["audio"]["spectrogram_bins"],
        cfg["model"]["direction_slicing"],
    )


def make_sampler(cfg: Config, shards: ShardSet, split: str) -> MixtureSampler:
    """Mixtures of ``split`` with the config's slots, direction classes and edge mode."""
    return MixtureSampler(
        shards,
        split,
        cfg["graph"]["max_auditory"] + 1,
        cfg["model"]["direction_classes"],
        cfg["graph"]["edge_mode"],
        cfg["graph"]["sigma_percentile"],
    )


def check_shards(cfg: Config, shards: ShardSet) -> None:
    """Raise AsmpError unless the shards were made with ``cfg``'s classes and audio."""
    a = shards.attrs
    checks = {
        "sound_classes": (np.asarray(a["sound_classes"]).tolist(), cfg["dataset"]["sound_classes"]),
        "sample_rate": (int(a["sample_rate"]), cfg["audio"]["sample_rate"]),
        "hop_length": (int(a["hop_length"]), cfg["audio"]["hop_length"]),
        "stft_frames": (int(a["stft_frames"]), cfg["audio"]["spectrogram_frames"]),
    }
    for key, (have, want) in checks.items():
        if have != want:
            raise AsmpError(f"shards have {key} {have}, the config {want}", shards.manifest)


class _Distributed:
    """Rank, world size and device; starts the process group under ``torchrun``."""

    def __init__(self, device: str | None) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if device is None:
            device = f"cuda:{local}" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        if self.world > 1 and not torch.distributed.is_initialized():
            if self.device.type == "cuda":
                torch.cuda.set_device(self.device)
            backend = "nccl" if self.device.type == "cuda" else "gloo"
            torch.distributed.init_process_group(backend)

    @property
    def main(self) -> bool:
        return self.rank == 0


def _autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    if precision == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


class _CsvLog:
    """``log.csv``: one row per logged step; on resume, rows after the step are dropped."""

    def __init__(self, path: Path, resume_step: int | None) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = []
        if resume_step is not None and path.exists():
            with open(path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, LOG_COLUMNS)
            w.writeheader()
            w.writerows(rows)

    def write(self, row: dict[str, float]) -> None:
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, LOG_COLUMNS).writerow({k: _fmt(v) for k, v in row.items()})


def _fmt(v: float) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def _tensorboard(out: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        log.info("tensorboard is not installed (pip install 'asmp[tensorboard]'); CSV log only")
        return None
    return SummaryWriter(out / "tensorboard")


def train(
    cfg: Config,
    shards_manifest: str | Path,
    out: str | Path,
    *,
    preset: str | None = None,
    steps: int | None = None,
    resume: bool = False,
    device: str | None = None,
    progress: bool = True,
) -> Path:
    """Train ASMP on the ``train`` split of the shards; validate on ``val``.

    Writes ``out/last.pt`` (every ``train.checkpoint_every`` steps and at the end),
    ``out/best.pt`` (best validation SDR; the last one when no validation is possible),
    ``out/log.csv`` and, when tensorboard is installed, ``out/tensorboard/``.

    Args:
        cfg: resolved dataset config.
        shards_manifest: the shard manifest CSV.
        out: run directory.
        preset: ablation preset (default ``train.preset``).
        steps: total steps (default ``train.steps``); with ``resume`` the run continues
            from ``out/last.pt`` up to this step.
        resume: continue from ``out/last.pt``, bit for bit where it stopped.
        device: torch device (default: this rank's GPU, else the CPU).
        progress: show a progress bar.

    Returns:
        the path of ``best.pt``.
    """
    out = Path(out)
    ckpt_last, ckpt_best = out / "last.pt", out / "best.pt"
    state = load_checkpoint(ckpt_last) if resume else None
    if state is not None:
        if config_hash(state["config"]) != config_hash(apply_preset(cfg, state["preset"])):
            raise AsmpError("--resume with a different config than the run's", ckpt_last)
        cfg = state["config"]
    else:
        cfg = apply_preset(cfg, preset)
    tc = cfg["train"]
    total = steps or tc["steps"]
    dist = _Distributed(device)
    shards = ShardSet(shards_manifest)
    check_shards(cfg, shards)
    torch.manual_seed(tc["seed"])
    fwd = build_forward(cfg, int(shards.attrs["feature_dim"]), shards.attrs)
    if fwd.model.spec.feature_norm == "standardize" and state is None:
        fwd.model.set_feature_statistics(*shards.feature_statistics("train"))
    fwd = fwd.to(dist.device)
    optimizer = torch.optim.Adam(fwd.parameters(), lr=tc["lr"], weight_decay=tc["weight_decay"])
    drops = tc["lr_drops"] if tc["lr_drops"] is not None else float("inf")
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: tc["lr_gamma"] ** min(s // tc["lr_step"], drops)
    )
    start, best = 0, {"sdr": float("-inf"), "step": -1}
    if state is not None:
        fwd.model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        start, best = state["step"], {"sdr": state["best_sdr"], "step": state["best_step"]}
    if start >= total:
        raise AsmpError(f"the run already has {start} steps (asked for {total})", ckpt_last)
    module: nn.Module = fwd
    if dist.world > 1:
        unused = any(v == 0 for v in asdict(fwd.losses.weights).values())
        module = nn.parallel.DistributedDataParallel(fwd, find_unused_parameters=unused)
    amp = _autocast_dtype(tc["precision"], dist.device)
    scaler = torch.amp.GradScaler(enabled=amp == torch.float16)

    train_sampler = make_sampler(cfg, shards, "train")
    validation = _validation(cfg, shards, tc)
    batches = _loader(
        StepBatches(train_sampler, tc["batch_size"], tc["seed"], dist.rank),
        range(start, total),
        tc["num_workers"],
        dist.device,
    )
    csv_log = _CsvLog(out / "log.csv", start if state else None) if dist.main else None
    board = _tensorboard(out) if dist.main else None

    def save(path: Path, step: int) -> None:
        save_checkpoint(
            path,
            {
                "step": step,
                "preset": tc["preset"],
                "config": cfg,
                "config_hash": config_hash(cfg),
                "model_spec": asdict(fwd.model.spec),
                "model": fwd.model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": rng_state(),
                "best_sdr": best["sdr"],
                "best_step": best["step"],
            },
        )

    bar = tqdm(
        total=total,
        initial=start,
        desc=f"train {tc['preset']}",
        disable=not (progress and dist.main),
    )
    tick = time.perf_counter()
    for step, batch in zip(range(start + 1, total + 1), batches, strict=False):
        fwd.train()
        with torch.autocast(dist.device.type, dtype=amp or torch.float32, enabled=amp is not None):
            terms = module(batch).terms
            loss = fwd.losses.weights.total(terms)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if tc["grad_clip"] is not None:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(fwd.parameters(), tc["grad_clip"])
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        bar.update()
        if not dist.main:
            continue
        row: dict[str, float] = {}
        if step % tc["log_every"] == 0 or step == total:
            elapsed = time.perf_counter() - tick
            rate = tc["batch_size"] * dist.world * tc["log_every"] / max(elapsed, 1e-9)
            tick = time.perf_counter()
            row = {
                "loss": float(loss.detach()),
                **{k: float(v.detach()) for k, v in terms.items()},
                "lr": scheduler.get_last_lr()[0],
                "samples_per_s": rate,
            }
            bar.set_postfix(loss=f"{float(loss.detach()):.4f}", samples_s=f"{rate:.1f}")
        if validation and (step % tc["validate_every"] == 0 or step == total):
            row.update(validate(fwd, validation, dist.device, amp))
            if row["val_sdr"] > best["sdr"]:
                best = {"sdr": row["val_sdr"], "step": step}
                save(ckpt_best, step)
        if row:
            csv_log.write({"step": step, **row})
            if board is not None:
                for k, v in row.items():
                    board.add_scalar(k, v, step)
        if step % tc["checkpoint_every"] == 0 or step == total:
            save(ckpt_last, step)
    bar.close()
    if dist.main and not validation:
        save(ckpt_best, total)
    if board is not None:
        board.close()
    return ckpt_best


def _validation(cfg: Config, shards: ShardSet, tc: dict[str, Any]) -> list[Batch]:
    """The fixed validation batches (empty, with a warning, when the val split cannot mix)."""
    try:
        sampler = make_sampler(cfg, shards, "val")
    except AsmpError as err:
        log.warning("no validation: %s; best.pt will be the last checkpoint", err)
        return []
    mixtures = fixed_mixtures(sampler, tc["validation_mixtures"], tc["seed"])
    n = tc["batch_size"]
    return [sampler.batch(mixtures[i : i + n]) for i in range(0, len(mixtures), n)]


@torch.no_grad()
def validate(
    fwd: Forward, batches: list[Batch], device: torch.device, amp: torch.dtype | None = None
) -> dict[str, float]:
    """Mean SDR and SDR improvement (dB) of each video's estimate and the direction accuracy
    of the objects' slots over ``batches``, the model in eval mode."""
    from asmp.evaluate.separation import direction_hits, sdr_of_batch

    fwd.eval()
    sdr, sdri, hits = [], [], []
    for batch in batches:
        batch = batch.to(device)
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            outputs = fwd(batch, losses=False)
        est, mix = sdr_of_batch(outputs, batch, fwd.hop, fwd.crop_samples)
        sdr.append(est)
        sdri.append(est - mix)
        if outputs.direction_logits is not None:
            hits.append(direction_hits(outputs.direction_logits, batch))
    fwd.train()
    result = {
        "val_sdr": float(np.nanmean(np.concatenate(sdr))),
        "val_sdri": float(np.nanmean(np.concatenate(sdri))),
    }
    if hits:
        h = np.concatenate(hits)
        result["val_direction_acc"] = float(h.mean()) if h.size else float("nan")
    return result


def _loader(
    dataset: StepBatches, steps: range, workers: int, device: torch.device
) -> Iterator[Batch]:
    """Batches of ``steps`` in order, built in ``workers`` processes, moved to ``device``."""
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=None,
        sampler=steps,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        prefetch_factor=4 if workers else None,
        persistent_workers=False,
    )
    for batch in loader:
        yield batch.to(device, non_blocking=True) if device.type == "cuda" else batch
