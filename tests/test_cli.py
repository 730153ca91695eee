"""The ``asmp`` command: help everywhere, exit codes, one-line errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from asmp.cli import _GROUPS, COMMANDS, main
from asmp.io.shards import write_shard
from asmp.testing import random_record, shard_attrs

LEAVES = [[name] for name in COMMANDS] + [
    [group, name] for group, (table, _) in _GROUPS.items() for name in table
]


@pytest.mark.parametrize("words", LEAVES, ids=" ".join)
def test_every_subcommand_has_help(words, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*words, "--help"])
    assert exc.value.code == 0
    assert "usage: asmp " + " ".join(words) in capsys.readouterr().out


def test_top_level_help_lists_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert all(name in out for name in [*COMMANDS, *_GROUPS])


@pytest.fixture()
def shard(tmp_path):
    rng = np.random.default_rng(0)
    return write_shard(tmp_path / "s.h5", [random_record(rng, "v0")], shard_attrs())


def test_validate_exit_codes(shard, tmp_path, capsys):
    assert main(["validate", str(shard)]) == 0
    assert capsys.readouterr().out.strip() == f"{shard}: ok"
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"\x00" * 100)
    assert main(["validate", str(shard), str(junk)]) == 1
    assert capsys.readouterr().err.strip() == f"{junk}: not an HDF5 file (or truncated)"


def test_inspect_shard(shard, capsys):
    assert main(["inspect", str(shard)]) == 0
    out = capsys.readouterr().out
    assert "shard v1: 1 videos, 7 nodes, 21 edges" in out
    assert "v0 [train]" in out and "feature: (7, 16) float16" in out


def test_bad_input_is_one_line_without_traceback(tmp_path):
    junk = tmp_path / "junk.h5"
    junk.write_text("not hdf5")
    run = subprocess.run(
        [sys.executable, "-m", "asmp.cli", "inspect", str(junk)], capture_output=True, text=True
    )
    assert run.returncode == 2
    assert run.stderr == f"asmp: error: {junk}: not an HDF5 file (or truncated)\n"
    debug = subprocess.run(
        [sys.executable, "-m", "asmp.cli", "--debug", "inspect", str(junk)],
        capture_output=True,
        text=True,
    )
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2
