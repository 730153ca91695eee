"""Every failure mode of the validator, on corrupted copies of a sound shard."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest

from asmp.io.shards import write_shard
from asmp.io.validate import validate_file
from asmp.testing import random_record, shard_attrs


@pytest.fixture()
def shard(tmp_path):
    rng = np.random.default_rng(0)
    records = [random_record(rng, f"v{i}") for i in range(3)]
    return write_shard(tmp_path / "good.h5", records, shard_attrs())


def corrupt(shard, tmp_path, edit):
    bad = tmp_path / "bad.h5"
    shutil.copy(shard, bad)
    with h5py.File(bad, "r+") as f:
        edit(f)
    return validate_file(bad)


def test_sound_shard_passes(shard):
    assert validate_file(shard) == []


def test_wrong_schema_version(shard, tmp_path):
    problems = corrupt(shard, tmp_path, lambda f: f.attrs.modify("schema_version", 2))
    assert problems == ["schema_version 2, expected 1"]


def test_offsets_not_monotone(shard, tmp_path):
    def edit(f):
        off = f["nodes/offsets"][()]
        off[1], off[2] = off[2], off[1]
        f["nodes/offsets"][...] = off

    assert corrupt(shard, tmp_path, edit) == ["nodes/offsets: not monotone from 0"]


def test_offsets_wrong_end(shard, tmp_path):
    def edit(f):
        f["edges/offsets"][-1] = f["edges/offsets"][-1] - 1

    assert corrupt(shard, tmp_path, edit) == ["edges/offsets: ends at 62, tables rows differ"]


def test_edge_index_out_of_range(shard, tmp_path):
    def edit(f):
        idx = f["edges/index"][()]
        idx[25, 1] = 7  # video v1 has nodes 0..6
        f["edges/index"][...] = idx

    assert corrupt(shard, tmp_path, edit) == ["edges/index: row 25 (video v1) out of range"]


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_nan_or_inf(shard, tmp_path, value):
    def edit(f):
        f["motion/displacement"][3, 1] = value

    assert corrupt(shard, tmp_path, edit) == ["motion/displacement: holds NaN or inf"]


def test_missing_dataset(shard, tmp_path):
    problems = corrupt(shard, tmp_path, lambda f: f.__delitem__("nodes/feature"))
    assert problems == ["nodes/feature: missing dataset"]


def test_weight_outside_unit_interval(shard, tmp_path):
    problems = corrupt(shard, tmp_path, lambda f: f["edges/weight"].__setitem__(0, 1.5))
    assert problems == ["edges/weight: values outside [0, 1]"]


def test_sound_class_out_of_range(shard, tmp_path):
    problems = corrupt(shard, tmp_path, lambda f: f["objects/sound_class"].__setitem__(0, 6))
    assert problems == ["objects/sound_class: values outside [0, 6)"]


def test_motion_rows_mismatch(shard, tmp_path):
    def edit(f):
        off = f["motion/offsets"][()]
        off[1] -= 1
        f["motion/offsets"][...] = off

    assert corrupt(shard, tmp_path, edit) == [
        "video v0: motion rows != objects x windows",
        "video v1: motion rows != objects x windows",
    ]


def test_not_hdf5_and_truncated(shard, tmp_path):
    text = tmp_path / "x.h5"
    text.write_text("hello")
    assert validate_file(text) == ["not an HDF5 file (or truncated)"]
    cut = tmp_path / "cut.h5"
    cut.write_bytes(shard.read_bytes()[:2000])
    assert len(validate_file(cut)) == 1
    assert validate_file(tmp_path / "nope.h5") == ["no such file"]


def test_other_kind(tmp_path):
    with h5py.File(tmp_path / "o.h5", "w") as f:
        f.attrs["kind"] = "stage/depth"
    assert validate_file(tmp_path / "o.h5") == ["not a shard (kind 'stage/depth')"]


def test_missing_attribute_and_complex_nan(shard, tmp_path):
    assert corrupt(shard, tmp_path, lambda f: f.attrs.__delitem__("stft_bins")) == [
        "attribute stft_bins: missing"
    ]

    def edit(f):
        f["crops/stft"][1, 2, 3] = complex(np.nan, 0)

    assert corrupt(shard, tmp_path, edit) == ["crops/stft: holds NaN or inf"]
