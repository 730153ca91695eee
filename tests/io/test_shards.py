"""Shard round trip and the reader's behaviour."""

from __future__ import annotations

import pickle
from dataclasses import fields

import numpy as np
import pytest

from asmp.errors import AsmpError
from asmp.io.shards import ShardReader, VideoRecord, read_shard, write_shard
from asmp.io.validate import validate_file
from asmp.testing import random_record, shard_attrs


def assert_records_equal(a: VideoRecord, b: VideoRecord) -> None:
    for f in fields(VideoRecord):
        if f.name == "extra":
            continue
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            np.testing.assert_array_equal(np.asarray(y), x.astype(np.asarray(y).dtype), f.name)
        else:
            assert x == y, f.name


@pytest.mark.parametrize("compression", ["none", "lzf", "gzip"])
def test_round_trip(tmp_path, compression):
    rng = np.random.default_rng(1)
    records = [
        random_record(rng, f"v{i}", n_objects=1 + i % 2, n_context=i, n_windows=2 + i)
        for i in range(4)
    ]
    path = write_shard(tmp_path / "s.h5", records, shard_attrs(), compression=compression)
    assert validate_file(path) == []
    back = read_shard(path)
    assert [r.id for r in back] == [r.id for r in records]
    for a, b in zip(records, back, strict=True):
        assert_records_equal(a, b)


def test_reader_is_lazy_and_picklable(tmp_path):
    rng = np.random.default_rng(2)
    path = write_shard(
        tmp_path / "s.h5", [random_record(rng, "a"), random_record(rng, "b")], shard_attrs()
    )
    reader = ShardReader(path)
    assert reader._file is None and len(reader) == 2 and reader.ids == ["a", "b"]
    first = reader[1]
    clone = pickle.loads(pickle.dumps(reader))  # what a DataLoader worker receives
    assert clone._file is None
    assert_records_equal(first, clone[-1])
    with pytest.raises(IndexError):
        reader[2]


def test_writer_rejects_inconsistent_record_and_leaves_nothing(tmp_path):
    rng = np.random.default_rng(3)
    rec = random_record(rng, "bad")
    rec.edge_chamfer[0] = np.nan
    with pytest.raises(AsmpError, match="edges/chamfer holds NaN"):
        write_shard(tmp_path / "s.h5", [rec], shard_attrs())
    rec = random_record(rng, "bad")
    rec.edge_index[0, 1] = len(rec.node_box)
    with pytest.raises(AsmpError, match="edges/index out of range"):
        write_shard(tmp_path / "s.h5", [rec], shard_attrs())
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_existing_file(tmp_path):
    rng = np.random.default_rng(4)
    path = write_shard(tmp_path / "s.h5", [random_record(rng, "good")], shard_attrs())
    before = path.read_bytes()
    bad = random_record(rng, "bad")
    bad.waveform[:] = np.inf
    with pytest.raises(AsmpError):
        write_shard(path, [bad], shard_attrs())
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.h5"]
