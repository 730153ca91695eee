"""The paper's figures, drawn from arrays (docs/figures.md).

Every function returns a :class:`matplotlib.figure.Figure` made without pyplot, so no
global figure state is touched and nothing needs closing; :func:`save_figure` writes it as
PNG and PDF (Agg and PDF canvases, no display needed).

* :func:`scene_figure`: Figure 2, the pseudo-3D scene graph of one video's key frame.
* :func:`spectrogram_grid`: Figure 3's spectrograms, mixture then truth and estimate per source.
* :func:`direction_cube`: Figure 6 / appendix I, true and predicted motion direction per window.
* :func:`training_curves`: the trainer's CSV log.
* :func:`confusion_figure`: a row-normalised direction confusion matrix.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.colors import hsv_to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from asmp.errors import AsmpError
from asmp.io.hdf5 import atomic_path
from asmp.io.shards import AUDITORY, BACKGROUND, CONTEXT
from asmp.preprocess.motion import DIRECTION_CLASSES, LATTICE26, OCTANTS

#: Node role -> (colour, name) in the scene figure.
ROLE_STYLE = {
    AUDITORY: ("tab:red", "auditory"),
    CONTEXT: ("tab:orange", "context"),
    BACKGROUND: ("black", "background"),
}

#: Titles of the scene figure's four panels, in order.
SCENE_TITLES = ("Reference frame", "Pseudo-depth", "Optical flow", "Pseudo-3D scene graph")

#: Training-log columns drawn together on the log-scaled "training losses" axis (also any
#: column ending in ``_loss``); every other column but ``step`` gets an axis of its own.
LOSS_COLUMNS = ("loss", "consistency", "coseparation", "orthogonality", "direction")

#: Axis titles of known training-log columns (others are titled by their name).
CURVE_TITLES = {
    "lr": "learning rate",
    "samples_per_s": "throughput (samples/s)",
    "val_sdr": "validation SDR (dB)",
}

#: Dynamic range of the spectrogram images (dB below the grid's maximum).
DB_RANGE = 80.0


def save_figure(fig: Figure, path: str | os.PathLike[str]) -> list[Path]:
    """Write ``fig`` as ``PATH.png`` and ``PATH.pdf``, each atomically.

    A ``.png`` or ``.pdf`` suffix of ``path`` is replaced; any other name gets both
    suffixes appended. Parent directories are created.

    Returns:
        The two files written (PNG first).
    """
    path = Path(path)
    stem = path.with_suffix("") if path.suffix.lower() in (".png", ".pdf") else path
    out = []
    for fmt in ("png", "pdf"):
        target = stem.with_name(f"{stem.name}.{fmt}")
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format=fmt, dpi=150)
        out.append(target)
    return out


def _flow_rgb(flow: np.ndarray) -> tuple[np.ndarray, float]:
    """Colour-wheel image of ``flow`` ``[H,W,2]`` (hue = direction, saturation = magnitude
    relative to the largest) and that largest magnitude in px."""
    dx, dy = flow[..., 0], flow[..., 1]
    mag = np.hypot(dx, dy)
    top = float(mag.max()) if mag.size else 0.0
    hsv = np.stack(
        [
            (np.arctan2(dy, dx) / (2 * np.pi)) % 1.0,
            mag / top if top > 0 else np.zeros_like(mag),
            np.ones_like(mag),
        ],
        axis=-1,
    )
    return hsv_to_rgb(hsv), top


def scene_figure(
    frame: np.ndarray,
    depth: np.ndarray,
    flow: np.ndarray,
    boxes: np.ndarray,
    roles: np.ndarray,
    labels: Sequence[str],
    edges: np.ndarray,
    weights: np.ndarray,
    sounding: np.ndarray,
) -> Figure:
    """Paper Figure 2 for one video: reference frame, depth, flow and scene graph.

    Args:
        frame: ``[H,W,3]`` uint8 RGB, the graph's key (reference) frame.
        depth: ``[H,W]`` pseudo-depth of that frame (log depth minus its median).
        flow: ``[H,W,2]`` px, ``(dx, dy)`` from that frame to its window's last frame.
        boxes: ``[N,4]`` node boxes ``x1, y1, x2, y2`` px.
        roles: ``[N]`` 0 auditory, 1 context, 2 background.
        labels: ``N`` node names.
        edges: ``[E,2]`` node pairs.
        weights: ``[E]`` edge weights in [0, 1] (line width).
        sounding: ``[N]`` bool, the sounding sub-graph (auditory nodes and their context);
            edges between two of its nodes are highlighted.

    Returns:
        A figure of four titled panels (:data:`SCENE_TITLES`) and the depth colour bar.
    """
    frame, depth, flow = np.asarray(frame), np.asarray(depth, float), np.asarray(flow, float)
    boxes, roles = np.asarray(boxes, float).reshape(-1, 4), np.asarray(roles)
    edges, weights = np.asarray(edges, int).reshape(-1, 2), np.asarray(weights, float)
    sounding = np.asarray(sounding, bool)
    h, w = frame.shape[:2]
    if frame.shape != (h, w, 3) or depth.shape != (h, w) or flow.shape != (h, w, 2):
        raise ValueError(
            f"frame {frame.shape}, depth {depth.shape} and flow {flow.shape} must be "
            "[H,W,3], [H,W] and [H,W,2] of one size"
        )
    n = len(boxes)
    if not len(roles) == len(labels) == len(sounding) == n or len(weights) != len(edges):
        raise ValueError("boxes, roles, labels and sounding need N rows; edges, weights E")
    fig = Figure(figsize=(11, 8.5 * h / w + 1), layout="constrained")
    ax_frame, ax_depth, ax_flow, ax_graph = fig.subplots(2, 2).ravel()
    for ax, title in zip((ax_frame, ax_depth, ax_flow, ax_graph), SCENE_TITLES, strict=True):
        ax.set_title(title)
        ax.set_axis_off()

    ax_frame.imshow(frame)
    for box, role, label in zip(boxes, roles, labels, strict=True):
        colour, _ = ROLE_STYLE[int(role)]
        x1, y1, x2, y2 = box
        style = "--" if role == BACKGROUND else "-"
        ax_frame.add_patch(
            Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec=colour, lw=2, ls=style)
        )
        ax_frame.text(x1, y1, label, color="white", fontsize=8, va="bottom", backgroundcolor=colour)

    im = ax_depth.imshow(depth, cmap="magma_r")
    fig.colorbar(im, ax=ax_depth, shrink=0.8, label="pseudo-depth (log depth - median)")

    rgb, top = _flow_rgb(flow)
    ax_flow.imshow(rgb)
    ax_flow.set_title(f"{SCENE_TITLES[2]} (max {top:.1f} px)")
    step = max(1, max(h, w) // 16)
    ys, xs = np.mgrid[step // 2 : h : step, step // 2 : w : step]
    ax_flow.quiver(
        xs,
        ys,
        flow[ys, xs, 0],
        flow[ys, xs, 1],
        angles="xy",
        scale_units="xy",
        scale=1,
        color="black",
        width=0.003,
    )
    ax_flow.set_xlim(-0.5, w - 0.5)
    ax_flow.set_ylim(h - 0.5, -0.5)

    ax_graph.imshow(frame, alpha=0.45)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    hot = sounding[edges[:, 0]] & sounding[edges[:, 1]]
    for mask, colour, alpha in ((~hot, "black", 0.35), (hot, "tab:blue", 0.9)):
        ax_graph.add_collection(
            LineCollection(
                centres[edges[mask]],
                linewidths=0.5 + 4 * np.clip(weights[mask], 0, 1),
                colors=colour,
                alpha=alpha,
            )
        )
    for role in np.unique(roles):
        colour, name = ROLE_STYLE[int(role)]
        sel = roles == role
        ax_graph.scatter(*centres[sel].T, s=60, c=colour, edgecolors="white", label=name, zorder=3)
    ax_graph.scatter(
        *centres[sounding].T, s=160, facecolors="none", edgecolors="tab:blue", lw=2, zorder=3
    )
    for (cx, cy), label in zip(centres, labels, strict=True):
        ax_graph.annotate(label, (cx, cy), xytext=(4, 4), textcoords="offset points", fontsize=7)
    ax_graph.set_xlim(-0.5, w - 0.5)
    ax_graph.set_ylim(h - 0.5, -0.5)
    ax_graph.legend(loc="lower right", fontsize=7)
    return fig


def spectrogram_grid(
    mixture: np.ndarray,
    truths: Sequence[np.ndarray] | None,
    estimates: Sequence[np.ndarray],
    names: Sequence[str],
    *,
    sample_rate: float,
    hop: int,
) -> Figure:
    """Paper Figure 3's spectrograms: the mixture, then per source its truth and estimate
    (only the estimate when ``truths`` is None, e.g. for a user's own video).

    Args:
        mixture: ``[B,T]`` spectrogram (magnitude or complex STFT), B frequency bins from
            0 to ``sample_rate / 2``, T frames.
        truths, estimates: one ``[B,T]`` per source.
        names: one name per source.
        sample_rate: Hz of the audio.
        hop: STFT hop in samples (frame ``t`` is at ``t * hop / sample_rate`` s).

    Returns:
        ``1 + 2 * len(names)`` images (``1 + len(names)`` without truths) of
        ``20 log10 |X|`` dB on one colour scale (:data:`DB_RANGE` dB deep), time in s,
        frequency in kHz, and a colour bar.
    """
    n = len(names)
    has_truth = truths is not None
    truths = list(truths) if has_truth else []
    specs = [np.asarray(mixture), *map(np.asarray, truths), *map(np.asarray, estimates)]
    if (has_truth and len(truths) != n) or len(estimates) != n:
        raise ValueError(f"{n} names, {len(truths)} truths and {len(estimates)} estimates")
    if any(s.ndim != 2 or s.shape != specs[0].shape for s in specs):
        raise ValueError(f"every spectrogram must be [B,T] like the mixture's {specs[0].shape}")
    db = [20 * np.log10(np.abs(s) + 1e-10) for s in specs]
    vmax = max(float(d.max()) for d in db)
    bins, frames = specs[0].shape
    extent = (0.0, frames * hop / sample_rate, 0.0, sample_rate / 2000)
    fig = Figure(figsize=(9, 2.2 * (n + 1)), layout="constrained")
    grid = fig.add_gridspec(n + 1, 2 if has_truth else 1)
    slots = [(grid[0, :], "Mixture", db[0])]
    for k, name in enumerate(names):
        if has_truth:
            slots += [(grid[k + 1, 0], f"{name}: ground truth", db[1 + k])]
        slots += [(grid[k + 1, -1], f"{name}: estimate", db[-n + k])]
    for spec, title, image in slots:
        ax = fig.add_subplot(spec)
        im = ax.imshow(
            image,
            origin="lower",
            aspect="auto",
            extent=extent,
            cmap="magma",
            vmin=vmax - DB_RANGE,
            vmax=vmax,
        )
        ax.set_title(title)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("frequency (kHz)")
    fig.colorbar(im, ax=fig.axes, label="dB", shrink=0.6)
    return fig


def direction_vectors(n_classes: int) -> np.ndarray:
    """``[n_classes, 3]`` direction ``(u, v, d)`` of each class: class 0 (no motion) is
    the origin, classes ``1..n_classes-2`` the octant corners (10 classes) or lattice
    directions (28 classes) of :mod:`asmp.preprocess.motion`; the padding class is NaN."""
    if n_classes not in DIRECTION_CLASSES:
        raise ValueError(f"n_classes must be one of {DIRECTION_CLASSES}, got {n_classes}")
    dirs = OCTANTS if n_classes == 10 else LATTICE26
    return np.concatenate([np.zeros((1, 3)), dirs, np.full((1, 3), np.nan)])


def direction_names(n_classes: int) -> list[str]:
    """Readable class names: ``still``, signed components such as ``+u-v+d``, ``n/a``."""
    names = []
    for vec in direction_vectors(n_classes):
        if np.isnan(vec).any():
            names.append("n/a")
        elif not vec.any():
            names.append("still")
        else:
            signed = zip("uvd", vec, strict=True)
            names.append("".join(f"{'+' if c > 0 else '-'}{a}" for a, c in signed if c))
    return names


def _cube_edges() -> np.ndarray:
    """``[12,2,3]`` the edges of the cube ``[-1,1]^3``."""
    corners = np.array([(x, y, z) for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)
    pairs = [
        (a, b)
        for a in range(8)
        for b in range(a + 1, 8)
        if np.abs(corners[a] - corners[b]).sum() == 2
    ]
    return np.stack([corners[[a, b]] for a, b in pairs])


def direction_cube(
    true: np.ndarray, pred: np.ndarray, n_classes: int, *, max_columns: int = 6
) -> Figure:
    """Paper Figure 6 / appendix I: per window, the true and predicted motion direction.

    Each window is a 3D axis with the cube ``[-1,1]^3`` (red): the true direction is a
    green dot and the prediction a yellow arrow from the centre, both at the class's
    vector (:func:`direction_vectors`; a corner for the 10 octants), at the centre for no
    motion; the padding (background) class is written "n/a". Axes: ``u`` right, ``d``
    away from the camera, ``-v`` up.

    Args:
        true: ``[W]`` int true classes.
        pred: ``[W]`` int predicted classes.
        n_classes: 10 or 28.
        max_columns: windows per row.

    Returns:
        A figure of ``W`` 3D axes titled ``window w`` with the true and predicted names.
    """
    true, pred = np.asarray(true, int).ravel(), np.asarray(pred, int).ravel()
    vectors, names = direction_vectors(n_classes), direction_names(n_classes)
    if len(true) != len(pred) or not len(true):
        raise ValueError(f"true ({len(true)}) and pred ({len(pred)}) need the same W > 0")
    if min(true.min(), pred.min()) < 0 or max(true.max(), pred.max()) >= n_classes:
        raise ValueError(f"classes must lie in [0, {n_classes})")
    cols = min(len(true), max_columns)
    rows = math.ceil(len(true) / cols)
    fig = Figure(figsize=(2.4 * cols, 2.6 * rows), layout="constrained")
    # Plot axes (x, y, z) = (u, d, -v): right, away from the camera, up.
    to_plot = np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]], float)
    for w, (t, p) in enumerate(zip(true, pred, strict=True)):
        ax = fig.add_subplot(rows, cols, w + 1, projection="3d")
        for edge in _cube_edges():
            ax.plot(*edge.T, color="tab:red", lw=0.8)
        ax.scatter(0, 0, 0, color="black", s=4)
        tv, pv = to_plot @ vectors[t], to_plot @ vectors[p]
        if not np.isnan(tv).any():
            ax.scatter(*tv, color="limegreen", s=60, edgecolors="darkgreen", depthshade=False)
        if not np.isnan(pv).any():
            if pv.any():
                ax.quiver(0, 0, 0, *pv, color="gold", lw=2.5, arrow_length_ratio=0.25)
            else:
                ax.scatter(0, 0, 0, color="gold", s=30, marker="*", depthshade=False)
        if np.isnan(tv).any() or np.isnan(pv).any():
            ax.text(0, 0, 1.3, "n/a", ha="center", fontsize=9)
        ax.set(xlim=(-1, 1), ylim=(-1, 1), zlim=(-1, 1), xticks=[], yticks=[], zticks=[])
        ax.set_xlabel("u", labelpad=-12)
        ax.set_ylabel("d", labelpad=-12)
        ax.set_zlabel("-v", labelpad=-12)
        ax.set_box_aspect((1, 1, 1))
        ax.set_title(f"window {w}\ntrue {names[t]} / pred {names[p]}", fontsize=8)
    return fig


def _number(cell: str, line: int, column: str, path: Path) -> float:
    try:
        return float(cell)
    except ValueError:
        raise AsmpError(f"line {line}: {column}={cell!r} is not a number", path) from None


def _read_log(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Columns of a training log: name -> (steps, values) of the rows where it is set."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise AsmpError(f"cannot read training log ({exc.strerror})", path) from None
    if not rows or "step" not in rows[0]:
        raise AsmpError("not a training log: no rows or no 'step' column", path)
    points: dict[str, list[tuple[float, float]]] = {c: [] for c in rows[0] if c != "step"}
    for line, row in enumerate(rows, start=2):
        cells = {c: v.strip() for c, v in row.items() if c in points and v and v.strip()}
        if cells:
            step = _number((row["step"] or "").strip(), line, "step", path)
            for c, v in cells.items():
                points[c].append((step, _number(v, line, c, path)))
    return {c: tuple(np.array(p).T) for c, p in points.items() if p}


def training_curves(csv_path: str | os.PathLike[str]) -> Figure:
    """The trainer's CSV log: training losses on one log-scaled axis, then one axis per
    other column (learning rate log-scaled, throughput, ``val_sdr`` and other validation
    metrics), against ``step``. Empty cells are skipped for that column.

    Raises:
        AsmpError: an unreadable file, no ``step`` column, or a cell that is not a number.
    """
    curves = _read_log(Path(csv_path))
    losses = [c for c in curves if c in LOSS_COLUMNS or c.endswith("_loss")]
    groups = ([("training losses", losses)] if losses else []) + [
        (CURVE_TITLES.get(c, c), [c]) for c in curves if c not in losses
    ]
    if not groups:
        raise AsmpError("the training log has no values besides 'step'", csv_path)
    cols = min(2, len(groups))
    rows = math.ceil(len(groups) / cols)
    fig = Figure(figsize=(5.5 * cols, 3 * rows), layout="constrained")
    for k, (title, columns) in enumerate(groups):
        ax = fig.add_subplot(rows, cols, k + 1)
        for c in columns:
            steps, values = curves[c]
            ax.plot(steps, values, marker="o" if len(steps) < 30 else None, ms=3, label=c)
        logged = [curves[c][1] for c in columns]
        if (columns == losses or columns == ["lr"]) and all((v > 0).all() for v in logged):
            ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if len(columns) > 1:
            ax.legend(fontsize=7)
    return fig


def confusion_figure(matrix: np.ndarray, class_names: Sequence[str]) -> Figure:
    """A row-normalised confusion matrix (rows true, columns predicted).

    Args:
        matrix: ``[C,C]`` counts; the caller leaves out classes not to score (padding).
        class_names: ``C`` names (e.g. from :func:`direction_names`).

    Returns:
        One titled axis (fraction of each true class, 0 for a class never seen) with a
        colour bar; row labels carry the true class's count.
    """
    counts = np.asarray(matrix, float)
    c = len(class_names)
    if counts.shape != (c, c):
        raise ValueError(f"matrix {counts.shape} does not match {c} class names")
    totals = counts.sum(axis=1, keepdims=True)
    frac = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    size = 3 + 0.3 * c
    fig = Figure(figsize=(size + 1, size), layout="constrained")
    ax = fig.add_subplot()
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(c), class_names, rotation=90, fontsize=7)
    rows = [f"{n} ({int(t)})" for n, t in zip(class_names, totals[:, 0], strict=True)]
    ax.set_yticks(range(c), rows, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (count)")
    ax.set_title("Direction confusion (row-normalised)")
    if c <= 12:
        for (i, j), v in np.ndenumerate(frac):
            ax.text(
                j,
                i,
                f"{v:.2f}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if v > 0.5 else "black",
            )
    fig.colorbar(im, ax=ax, label="fraction of true class")
    return fig
