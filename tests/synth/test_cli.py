"""``asmp synth``: options, one-line errors that leave nothing behind, workers."""

from __future__ import annotations

import csv

import h5py
import numpy as np
import pytest

import asmp.synth.dataset as dataset
from asmp.cli import main

SMALL = ["--clips", "2", "--duration", "1", "--size", "64x64"]


def rows(root):
    with open(root / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--clips", "0"], "the number of clips must be a positive integer, got 0"),
        (
            ["--clips", "1", "--duration", "-2"],
            "duration must be a positive number of seconds, got -2.0",
        ),
        (["--clips", "1", "--classes", "bell,cat"], "unknown sound class 'cat'"),
        (["--clips", "1", "--size", "64by64"], "--size must look like 256x256"),
        (["--clips", "1", "--size", "63x64"], "frame size must be even and at least 32x32"),
        (["--clips", "1", "--sources", "3"], "sources per clip must be 1 or 2, got 3"),
        (
            ["--clips", "1", "--classes", "dog", "--sources", "2"],
            "2 sounding objects per clip need",
        ),
        (
            ["--clips", "1", "--camera", "crane"],
            "camera motion must be one of none, pan, dolly, random",
        ),
        (["--clips", "1", "--duration", "1.1"], "duration x fps must be a whole number of frames"),
        (["--clips", "1", "--seed", "-1"], "the seed must be a non-negative integer"),
    ],
)
def test_bad_input_is_one_line_and_leaves_nothing(tmp_path, capsys, args, message):
    out = tmp_path / "data"
    assert main(["synth", "--out", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("asmp: error: ") and message in err
    assert list(tmp_path.iterdir()) == []


def test_refuses_a_directory_that_holds_files(tmp_path, capsys):
    out = tmp_path / "data"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["synth", "--out", str(out), *SMALL]) == 2
    assert capsys.readouterr().err == f"asmp: error: {out}: exists and is not an empty directory\n"
    assert [p.name for p in out.iterdir()] == ["keep.txt"] and len(list(tmp_path.iterdir())) == 1


def test_missing_config_is_an_error(tmp_path, capsys):
    assert (
        main(
            [
                "synth",
                "--out",
                str(tmp_path / "d"),
                "--clips",
                "1",
                "--config",
                str(tmp_path / "no.yaml"),
            ]
        )
        == 2
    )
    assert "config file not found" in capsys.readouterr().err


def test_failure_midway_leaves_nothing(tmp_path, monkeypatch):
    made = []

    def flaky(spec, options):
        if made:
            raise RuntimeError("disk on fire")
        made.append(spec)
        return real(spec, options)

    real = dataset.make_clip
    monkeypatch.setattr(dataset, "make_clip", flaky)
    assert main(["synth", "--out", str(tmp_path / "data"), *SMALL]) == 1
    assert made and list(tmp_path.iterdir()) == []


def test_options_reach_the_data(tmp_path, synth_config_path, capsys):
    out = tmp_path / "data"
    args = [
        *SMALL,
        "--classes",
        "dog",
        "bell",
        "--sources",
        "2",
        "--camera",
        "dolly",
        "--seed",
        "4",
    ]
    assert main(["synth", "--out", str(out), *args, "--config", str(synth_config_path)]) == 0
    assert capsys.readouterr().out == f"{out}: 2 clips\n"
    assert [set(r["classes"].split(";")) for r in rows(out)] == [{"dog", "bell"}] * 2
    with h5py.File(out / "gt" / "s4_00001.h5") as f:
        assert f.attrs["camera_motion"] == "dolly" and f["depth"].shape == (8, 64, 64)
        assert f.attrs["seed"] == 4 and f.attrs["fps"] == 8 and f.attrs["sample_rate"] == 11025


def test_empty_directory_and_workers_give_the_same_data(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    two.mkdir()
    assert main(["synth", "--out", str(one), *SMALL]) == 0
    assert main(["synth", "--out", str(two), *SMALL, "--workers", "2"]) == 0
    assert rows(one) == rows(two)
    for r in rows(one):
        with (
            h5py.File(one / "gt" / f"{r['clip_id']}.h5") as a,
            h5py.File(two / "gt" / f"{r['clip_id']}.h5") as b,
        ):
            for key in ("depth", "instance", "sources/0", "direction28", "cam_T_world"):
                np.testing.assert_array_equal(a[key][()], b[key][()])
