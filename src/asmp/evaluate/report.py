"""The results report: markdown tables laid out like the paper's Tables 1-5 and the
figures beside them (docs/evaluation.md). ``asmp report`` renders an evaluation directory
with training curves into one file."""

from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from asmp.errors import AsmpError
from asmp.io.hdf5 import atomic_path

_LABELS = {
    "mixture": "Mixture (no separation)",
    "ideal_binary_mask": "Ideal binary mask (oracle)",
    "ideal_ratio_mask": "Ideal ratio mask (oracle)",
}


def _cell(s: dict[str, Any]) -> str:
    if not s["n"] or not math.isfinite(s["mean"]):
        return "n/a"
    lo, hi = s["ci95"]
    return f"{s['mean']:.2f} [{lo:.2f}, {hi:.2f}] (med {s['median']:.2f})"


def render(metrics: dict[str, Any], figures: Sequence[Path] = (), base: Path | None = None) -> str:
    """Markdown of the tables of ``metrics`` (``metrics.json``) with ``figures`` linked
    relative to ``base``."""
    sep, models = metrics["separation"], metrics["models"]
    lines = [
        f"# Results: {metrics['dataset']}",
        "",
        f"{metrics['pairs']} test pairs of two videos without a common sound class, mixed at "
        "unit gain. BSS-Eval v3 (dB) per source against the video's own audio: mean "
        "[95% bootstrap interval] (median). SDRi is the improvement over the mixture.",
        "",
        "## Separation (paper Table 1" + (", ablations Tables 3-5)" if len(models) > 1 else ")"),
        "",
        "| Method | SDR | SIR | SAR | SDRi | silent |",
        "|---|---|---|---|---|---|",
    ]
    for name in [*(m for m in sep if m not in _LABELS), *(m for m in _LABELS if m in sep)]:
        s = sep[name]
        label = _LABELS.get(name, f"ASMP `{name}`")
        lines.append(
            f"| {label} | {_cell(s['sdr'])} | {_cell(s['sir'])} | {_cell(s['sar'])} | "
            f"{_cell(s['sdri'])} | {s['silent']} |"
        )
    d = metrics["direction"]
    if d:
        n = metrics["direction_classes"]
        lines += [
            "",
            "## Direction prediction (paper Table 2)",
            "",
            "Accuracy per object window (background and padding not scored); the majority "
            f"baseline always predicts the train split's most frequent class "
            f"({metrics['majority_class']}).",
            "",
            "| Model | windows | accuracy (10) | majority (10) |"
            + (" accuracy (28) | majority (28) |" if n == 28 else ""),
            "|---|---|---|---|" + ("---|---|" if n == 28 else ""),
        ]
        for name, e in d.items():
            row = f"| `{name}` | {e['windows']} | {e['accuracy10']:.3f} | {e['majority10']:.3f} |"
            if n == 28:
                row += f" {e['accuracy28']:.3f} | {e['majority28']:.3f} |"
            lines.append(row)
    probes = metrics.get("direction_pairs", {})
    if probes:
        n = metrics["direction_classes"]
        lines += [
            "",
            "## Direction test pairs",
            "",
            "One named object window per video of each pair, on the mixture of the two crops "
            "that hold the windows (for ASIW, the authors' 207 pairs).",
            "",
            f"| Model | pairs | skipped | objects | accuracy ({n}) | video 1 | video 2 |"
            + (" accuracy (10) |" if n == 28 else ""),
            "|---|---|---|---|---|---|---|" + ("---|" if n == 28 else ""),
        ]
        for name, e in probes.items():
            row = (
                f"| `{name}` | {e['pairs']} | {e['skipped']} | {e['objects']} | "
                f"{e[f'accuracy{n}']:.3f} | {e['video1']:.3f} | {e['video2']:.3f} |"
            )
            if n == 28:
                row += f" {e['accuracy10']:.3f} |"
            lines.append(row)
    if figures:
        lines += ["", "## Figures", ""]
        for fig in figures:
            rel = Path(os.path.relpath(fig, base)) if base else fig
            lines += [f"![{fig.stem}]({rel.as_posix()})", ""]
    return "\n".join(lines).rstrip() + "\n"


def write_report(path: Path, metrics: dict[str, Any], figures: Sequence[Path] = ()) -> Path:
    """Write :func:`render`'s markdown to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(render(metrics, figures, path.parent))
    return path


def write_figures(
    out: Path, examples: dict[str, Any], metrics: dict[str, Any], checkpoints: Sequence[Path]
) -> list[Path]:
    """The evaluation's figures (PNG + PDF): spectrograms and direction cube of the first
    pair (paper Figures 3 and 6), the direction confusion matrix, the training curves of
    each checkpoint's run (its ``log.csv``). Returns the PNG paths."""
    from asmp.evaluate.figures import (
        confusion_figure,
        direction_cube,
        direction_names,
        save_figure,
        spectrogram_grid,
        training_curves,
    )
    from asmp.evaluate.separation import direction_assignment
    from asmp.spectrogram import unwarp

    paths: list[Path] = []
    if examples:
        batch, outputs = examples["batch"], examples["outputs"]
        mix = batch.mixture_stft()[0].abs()  # linear [F, T] of the first crop's mixture
        masks = (outputs.masks[:2].float().cpu() * batch.valid[:2, :, None, None]).sum(1)
        est = unwarp(masks, mix.shape[0]) * mix
        fig = spectrogram_grid(
            mix.numpy(),
            list(batch.stft[:2].abs().numpy()),
            list(est.numpy()),
            list(examples["pair"]),
            sample_rate=examples["sample_rate"],
            hop=examples["hop"],
        )
        paths.append(save_figure(fig, out / "separation")[0])
        if outputs.direction_logits is not None and batch.valid[0].sum() > 1:
            logits = outputs.direction_logits.cpu()
            perm = direction_assignment(logits, batch)
            slot = int((perm[0] == 0).nonzero()[0, 0])  # the slot matched to object 0
            keep = batch.window_valid[0].numpy()
            pred = logits[0, slot].argmax(-1).numpy()[keep]
            true = batch.directions[0, 0].numpy()[keep]
            n = metrics["direction_classes"]
            paths.append(save_figure(direction_cube(true, pred, n), out / "directions")[0])
    n = metrics["direction_classes"]
    for name, entry in metrics["direction"].items():
        matrix = np.asarray(entry["confusion"])[:, : n - 1]
        fig = confusion_figure(matrix, direction_names(n)[: n - 1])
        paths.append(save_figure(fig, out / f"confusion_{name}")[0])
    for ckpt in checkpoints:
        log = Path(ckpt).parent / "log.csv"
        if log.is_file():
            paths.append(
                save_figure(training_curves(log), out / f"training_{Path(ckpt).parent.name}")[0]
            )
    return paths


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("evaluation", type=Path, help="an asmp evaluate output directory")
    p.add_argument("--logs", nargs="*", type=Path, default=[], help="training log.csv files")
    p.add_argument("--out", type=Path, required=True, help="report markdown file")


def run(args: argparse.Namespace) -> int:
    from asmp.evaluate.figures import save_figure, training_curves

    src = args.evaluation / "metrics.json"
    if not src.is_file():
        raise AsmpError("no metrics.json: not an asmp evaluate directory", args.evaluation)
    metrics = json.loads(src.read_text())
    # By name: a training curve drawn here replaces the evaluation's copy of it.
    figures = {p.stem: p for p in sorted((args.evaluation / "figures").glob("*.png"))}
    for log in args.logs:
        name = f"training_{log.parent.name}"
        figures[name] = save_figure(training_curves(log), args.out.parent / "figures" / name)[0]
    write_report(args.out, metrics, list(figures.values()))
    print(args.out)
    return 0
