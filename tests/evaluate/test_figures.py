"""The paper's figures (asmp.evaluate.figures): every one writes a PNG and a PDF, and has
the axes and titles it promises (structure, not pixels)."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.collections import LineCollection

from asmp.errors import AsmpError
from asmp.evaluate.figures import (
    SCENE_TITLES,
    confusion_figure,
    direction_cube,
    direction_names,
    direction_vectors,
    save_figure,
    scene_figure,
    spectrogram_grid,
    training_curves,
)
from asmp.preprocess.motion import direction_class


def titles(fig):
    return [ax.get_title() for ax in fig.axes if ax.get_title()]


def assert_saved(fig, tmp_path, name):
    """Both files written, non-empty, of the right format, and nothing else left behind."""
    path = tmp_path / "figures" / name
    written = save_figure(fig, path)
    assert [p.suffix for p in written] == [".png", ".pdf"]
    assert all(p.stat().st_size > 1000 for p in written)
    assert written[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert written[1].read_bytes()[:5] == b"%PDF-"
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(p.name for p in written)
    return written


def test_save_figure_names_and_parents(tmp_path):
    fig = direction_cube([0], [0], 10)
    out = tmp_path / "a" / "b"
    assert save_figure(fig, out / "x.png") == [out / "x.png", out / "x.pdf"]
    assert save_figure(fig, out / "y.v2") == [out / "y.v2.png", out / "y.v2.pdf"]
    assert sorted(p.name for p in out.iterdir()) == ["x.pdf", "x.png", "y.v2.pdf", "y.v2.png"]


def test_scene_figure(tmp_path):
    rng = np.random.default_rng(0)
    h, w = 40, 60
    boxes = np.array([[5, 5, 20, 30], [15, 10, 35, 25], [40, 2, 58, 20]], float)
    edges = np.array([[0, 1], [0, 2], [1, 2]])
    fig = scene_figure(
        rng.integers(0, 255, (h, w, 3), dtype=np.uint8),
        rng.normal(size=(h, w)),
        rng.normal(size=(h, w, 2)) * 3,
        boxes,
        np.array([0, 1, 2]),
        ["bell", "person", "background"],
        edges,
        np.array([0.9, 0.1, 0.4]),
        np.array([True, True, False]),
    )
    got = titles(fig)
    assert len(got) == 4
    assert [t.split(" (")[0] for t in got] == list(SCENE_TITLES)
    assert got[2].endswith(" px)")  # the flow panel names its largest magnitude
    assert len(fig.axes) == 5  # four panels and the depth colour bar
    graph = fig.axes[3]
    lines = [c for c in graph.collections if isinstance(c, LineCollection)]
    # Plain edges, then the sounding sub-graph's (nodes 0 and 1), width by weight.
    assert [len(c.get_segments()) for c in lines] == [2, 1]
    np.testing.assert_allclose(lines[1].get_linewidths(), [0.5 + 4 * 0.9])
    assert_saved(fig, tmp_path, "scene")
    with pytest.raises(ValueError, match="one size"):
        scene_figure(
            np.zeros((h, w, 3), np.uint8),
            np.zeros((h + 1, w)),
            np.zeros((h, w, 2)),
            boxes,
            [0, 1, 2],
            ["a", "b", "c"],
            edges,
            [1, 1, 1],
            [True, True, False],
        )


def test_spectrogram_grid(tmp_path):
    rng = np.random.default_rng(1)
    spec = rng.normal(size=(33, 20)) + 1j * rng.normal(size=(33, 20))
    names = ["bell", "dog", "horn"]
    fig = spectrogram_grid(
        spec, [spec * 0.5] * 3, [np.abs(spec) * 0.4] * 3, names, sample_rate=11025, hop=256
    )
    images = [ax for ax in fig.axes if ax.images and ax.get_title()]
    assert len(images) == 1 + 2 * len(names)
    assert titles(fig)[:3] == ["Mixture", "bell: ground truth", "bell: estimate"]
    assert images[0].get_xlabel() == "time (s)"
    assert images[0].get_xlim() == pytest.approx((0, 20 * 256 / 11025))
    assert_saved(fig, tmp_path, "spec")
    with pytest.raises(ValueError, match="names"):
        spectrogram_grid(spec, [spec], [], ["bell"], sample_rate=11025, hop=256)


@pytest.mark.parametrize("n_classes", [10, 28])
def test_direction_cube(tmp_path, n_classes):
    pad = n_classes - 1
    true = np.array([0, 1, pad, 5, n_classes - 2])
    pred = np.array([0, 2, 3, pad, n_classes - 2])
    fig = direction_cube(true, pred, n_classes)
    assert len(fig.axes) == len(true)
    assert all(ax.name == "3d" for ax in fig.axes)
    names = direction_names(n_classes)
    assert fig.axes[0].get_title() == "window 0\ntrue still / pred still"
    assert fig.axes[2].get_title() == f"window 2\ntrue n/a / pred {names[3]}"
    assert [t.get_text() for t in fig.axes[2].texts] == ["n/a"]
    assert_saved(fig, tmp_path, "cube")


def test_direction_vectors_match_the_class_definitions():
    rng = np.random.default_rng(2)
    for n in (10, 28):
        vectors = direction_vectors(n)
        assert np.isnan(vectors[-1]).all() and not vectors[0].any()
        # Each class's vector is classified as that class (still and padding aside).
        cls = direction_class(vectors[1:-1] * 0.5, n, 0.03, 0.03)
        np.testing.assert_array_equal(cls, np.arange(1, n - 1))
        disp = rng.normal(0, 0.2, (50, 3))
        cls = direction_class(disp, n, 0.0, 0.0)
        cos = np.einsum("ij,ij->i", disp, vectors[cls]) / np.linalg.norm(vectors[cls], axis=1)
        assert (cos > 0).all()
    assert direction_names(10)[1] == "+u+v+d" and direction_names(28)[:4] == [
        "still",
        "+d",
        "+v",
        "+u",
    ]


def test_training_curves(tmp_path):
    log = tmp_path / "train.csv"
    rows = ["step,loss,consistency,direction,lr,samples_per_s,val_sdr"]
    for s in range(10):
        val = f"{s * 0.5}" if s % 5 == 4 else ""
        rows.append(f"{s},{1 / (s + 1)},{0.1 / (s + 1)},{2.0},{1e-4},{100 + s},{val}")
    rows.append("10,,,,,,")
    log.write_text("\n".join(rows) + "\n")
    fig = training_curves(log)
    assert titles(fig) == [
        "training losses",
        "learning rate",
        "throughput (samples/s)",
        "validation SDR (dB)",
    ]
    losses, lr, _, sdr = fig.axes
    assert [line.get_label() for line in losses.lines] == ["loss", "consistency", "direction"]
    assert losses.get_yscale() == "log" and lr.get_yscale() == "log"
    assert list(sdr.lines[0].get_xdata()) == [4, 9]  # empty cells are skipped
    assert_saved(fig, tmp_path, "curves")


def test_training_curves_bad_logs(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("step,loss\n0,1.0\n1,oops\n")
    with pytest.raises(AsmpError, match=r"bad.csv: line 3: loss='oops' is not a number"):
        training_curves(bad)
    bad.write_text("step,loss\n0,1.0\n,2.0\n")
    with pytest.raises(AsmpError, match=r"line 3: step='' is not a number"):
        training_curves(bad)
    bad.write_text("epoch,loss\n0,1.0\n")
    with pytest.raises(AsmpError, match="no 'step' column"):
        training_curves(bad)
    with pytest.raises(AsmpError, match="missing.csv: cannot read"):
        training_curves(tmp_path / "missing.csv")


def test_confusion_figure(tmp_path):
    names = direction_names(10)[:-1]  # padding excluded
    matrix = np.diag(np.arange(1, 10)) + 1
    matrix[3] = 0  # a class never seen: a row of zeros, not NaN
    fig = confusion_figure(matrix, names)
    ax = fig.axes[0]
    assert titles(fig) == ["Direction confusion (row-normalised)"]
    assert len(fig.axes) == 2  # the matrix and its colour bar
    frac = ax.images[0].get_array()
    np.testing.assert_allclose(frac.sum(axis=1), [1, 1, 1, 0, 1, 1, 1, 1, 1])
    assert [t.get_text() for t in ax.get_yticklabels()][:2] == ["still (10)", "+u+v+d (11)"]
    assert_saved(fig, tmp_path, "confusion")
    with pytest.raises(ValueError, match="class names"):
        confusion_figure(matrix, names[:3])
