"""``asmp show`` on a real record of a synthetic clip, laid out as the workflow does:
``results/stages/<stage>/<clip>.h5`` and ``results/shards/shard-00000.h5``."""

from __future__ import annotations

import argparse

import pytest

from asmp.config import load_config
from asmp.errors import AsmpError
from asmp.evaluate.show import add_arguments, run, show
from asmp.io.shards import merge
from asmp.preprocess import preprocess
from asmp.synth import generate


@pytest.fixture(scope="module")
def results(tmp_path_factory, synth_config_path, frcnn_checkpoint):
    """``(results dir, clip id)`` of one preprocessed 2-s synthetic clip."""
    root = tmp_path_factory.mktemp("show")
    cfg = load_config(synth_config_path, {"detect": {"weights": str(frcnn_checkpoint)}})
    data = generate(root / "synth", clips=1, seed=7, duration=2.0, height=96, width=128)
    video = next((data / "videos").glob("*.mp4"))
    clip, res, work = video.stem, root / "results", root / "work"
    preprocess(video, cfg, res / "stages" / "record" / f"{clip}.h5", workdir=work)
    for stage in ("decode", "depth", "flow"):
        (res / "stages" / stage).mkdir()
        (work / f"{stage}.h5").rename(res / "stages" / stage / f"{clip}.h5")
    merge([res / "stages" / "record" / f"{clip}.h5"], res / "shards" / "shard-00000.h5")
    return res, clip


def asmp_show(*argv) -> int:
    """``asmp show ARGV...`` through the module's own parser (``run`` is what cli.py calls)."""
    parser = argparse.ArgumentParser(prog="asmp show")
    add_arguments(parser)
    return run(parser.parse_args([str(a) for a in argv]))


def test_show_record_and_shard(results, tmp_path, capsys):
    res, clip = results
    record = res / "stages" / "record" / f"{clip}.h5"
    out = tmp_path / "figs" / "scene"
    assert asmp_show(record, "--video", clip, "--out", out) == 0
    assert capsys.readouterr().out.split() == [str(out) + ".png", str(out) + ".pdf"]
    assert all(p.stat().st_size > 1000 for p in (tmp_path / "figs").iterdir())
    # A shard finds the stages one folder up; a one-video file needs no --video.
    written = show(res / "shards" / "shard-00000.h5", tmp_path / "s.png", video=clip)
    assert [p.name for p in written] == ["s.png", "s.pdf"]
    assert show(record, tmp_path / "only")[0].stat().st_size > 1000


def test_show_bad_input(results, tmp_path):
    res, clip = results
    shard = res / "shards" / "shard-00000.h5"
    out = tmp_path / "fig"
    with pytest.raises(AsmpError) as exc:
        asmp_show(shard, "--video", "nope", "--out", out)
    assert str(exc.value) == f"{shard}: no video 'nope' (it holds {clip})"
    elsewhere = tmp_path / "stages"
    with pytest.raises(AsmpError) as exc:
        asmp_show(shard, "--out", out, "--stages", elsewhere)
    assert str(exc.value) == (
        f"{elsewhere / 'decode' / f'{clip}.h5'}: no decode stage file for video {clip!r}; "
        f"point --stages at the directory holding decode/{clip}.h5"
    )
    assert "\n" not in str(exc.value)
    assert not list(tmp_path.glob("fig*"))
