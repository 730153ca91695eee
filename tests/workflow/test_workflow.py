"""The Snakemake workflow: DAGs for every dataset config, lint, a real run of ``graphs`` on
synthetic clips, incremental reruns, the SLURM profile, and manifest errors."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from asmp.io.validate import validate_file

REPO = Path(__file__).resolve().parents[2]


def snakemake(workdir: Path, *args: str, configs: list[Path]) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        *args,
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--cores",
        "2",
        "--configfile",
        *map(str, configs),
    ]
    return subprocess.run(cmd, capture_output=True, text=True, env={**os.environ})


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def write_manifest(root: Path, rows: list[dict]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for row in rows:
        (root / row["video"]).parent.mkdir(parents=True, exist_ok=True)
        (root / row["video"]).write_bytes(b"not decoded in a dry run")
    path = root / "manifest.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["clip_id", "split", "video", "audio", "classes"])
        w.writeheader()
        w.writerows(rows)
    return path


def jobs(out: str) -> dict[str, int]:
    """Rule -> job count from Snakemake's job stats table."""
    lines = out.split("Job stats:")[-1].splitlines()
    table = {}
    for line in lines[3:]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        table[parts[0]] = int(parts[1])
    return table


@pytest.mark.parametrize(("dataset", "classes"), [("asiw", "dog;bell"), ("ave", "horse")])
@pytest.mark.parametrize("target", ["graphs", "demo"])
def test_dry_run_builds_the_dag(tmp_path, dataset, classes, target):
    rows = [
        {
            "clip_id": f"v{i}",
            "split": "train",
            "video": f"videos/v{i}.mp4",
            "audio": "",
            "classes": classes,
        }
        for i in range(3)
    ]
    manifest = write_manifest(tmp_path / "data", rows)
    overlay = write_yaml(
        tmp_path / "o.yaml",
        {"dataset": {"manifest": str(manifest)}, "shards": {"records_per_shard": 2}},
    )
    run = snakemake(
        tmp_path, "-n", target, configs=[REPO / "workflow" / "config" / f"{dataset}.yaml", overlay]
    )
    assert run.returncode == 0, run.stderr
    counts = jobs(run.stdout)
    per_video = (
        "decode",
        "depth",
        "detect",
        "rectify",
        "flow",
        "motion",
        "graph",
        "audio",
        "record",
    )
    assert {r: counts.get(r) for r in per_video} == dict.fromkeys(per_video, 3)
    assert counts["shard"] == 2 and counts["shards_manifest"] == 1


def test_lint_is_clean(tmp_path):
    overlay = write_yaml(tmp_path / "o.yaml", {"dataset": {"manifest": "data/synth/manifest.csv"}})
    run = snakemake(tmp_path, "--lint", configs=[REPO / "workflow/config/synth.yaml", overlay])
    assert run.returncode == 0 and "Congratulations" in run.stdout + run.stderr, run.stdout


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda rows: rows.append(dict(rows[0])), "(clip 'v0'): duplicate clip_id"),
        (lambda rows: rows[1].update(video="videos/missing.mp4"), "video"),
        (lambda rows: rows[2].update(classes="kazoo"), "unknown sound class 'kazoo'"),
    ],
)
def test_bad_manifest_stops_before_any_job(tmp_path, edit, message):
    rows = [
        {
            "clip_id": f"v{i}",
            "split": "test",
            "video": f"videos/v{i}.mp4",
            "audio": "",
            "classes": "dog",
        }
        for i in range(3)
    ]
    manifest = write_manifest(tmp_path / "data", rows)
    edit(rows)
    with open(manifest, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    overlay = write_yaml(tmp_path / "o.yaml", {"dataset": {"manifest": str(manifest)}})
    run = snakemake(tmp_path, "-n", "graphs", configs=[REPO / "workflow/config/asiw.yaml", overlay])
    out = run.stdout + run.stderr
    assert run.returncode != 0 and message in out and f"{manifest}:" in out


def test_config_failing_the_schema_stops(tmp_path):
    overlay = write_yaml(tmp_path / "o.yaml", {"graph": {"edge_mode": "fancy"}})
    run = snakemake(tmp_path, "-n", configs=[REPO / "workflow/config/synth.yaml", overlay])
    assert run.returncode != 0 and "edge_mode" in run.stdout + run.stderr


@pytest.fixture(scope="module")
def synth_run(tmp_path_factory, frcnn_checkpoint):
    work = tmp_path_factory.mktemp("workflow")
    overlay = write_yaml(
        work / "o.yaml",
        {
            "dataset": {"manifest": "data/synth/manifest.csv"},
            "synth": {"clips": 3, "seed": 4, "duration": 2.0},
            "detect": {"weights": str(frcnn_checkpoint)},
            "shards": {"records_per_shard": 2},
        },
    )
    configs = [REPO / "workflow/config/synth.yaml", overlay]
    run = snakemake(work, "graphs", configs=configs)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    return work, configs


def test_graphs_on_synthetic_clips(synth_run):
    work, configs = synth_run
    shards = sorted((work / "results/synth/shards").glob("shard-*.h5"))
    assert [p.name for p in shards] == ["shard-00000.h5", "shard-00001.h5"]
    assert all(validate_file(p) == [] for p in shards)
    assert (work / "results/synth/benchmarks/depth").is_dir()
    again = snakemake(work, "graphs", configs=configs)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


def test_changed_intermediate_reruns_only_its_clip(synth_run):
    work, configs = synth_run
    depth = work / "results/synth/stages/depth/s4_00001.h5"
    os.utime(depth)  # as if the depth stage had been rerun for this clip
    run = snakemake(work, "-n", "graphs", configs=configs)
    counts = jobs(run.stdout)
    assert {r: counts.get(r) for r in ("rectify", "motion", "graph", "record", "decode")} == {
        "rectify": 1,
        "motion": 1,
        "graph": 1,
        "record": 1,
        "decode": None,
    }
    assert counts["shard"] == 1  # only the shard holding s4_00001
    outputs = [line for line in run.stdout.splitlines() if line.strip().startswith("output:")]
    assert not any("s4_00000" in line or "s4_00002" in line for line in outputs)


def test_slurm_profile_requests_gpus(synth_run):
    work, configs = synth_run
    run = snakemake(
        work,
        "-n",
        "graphs",
        "--workflow-profile",
        str(REPO / "workflow/profiles/slurm"),
        "--forcerun",
        "depth",
        configs=configs,
    )
    assert run.returncode == 0, run.stderr
    profile = yaml.safe_load((REPO / "workflow/profiles/slurm/config.yaml").read_text())
    assert profile["executor"] == "slurm"
    assert all(profile["set-resources"][r]["gpu"] == 1 for r in ("depth", "detect", "flow"))
    blocks = run.stdout.split("rule depth:")[1:]
    assert len(blocks) == 3
    for block in blocks:
        resources = next(x for x in block.splitlines() if x.strip().startswith("resources:"))
        assert "gpu=1" in resources and "cpus_per_gpu=4" in resources
        assert "slurm_partition=REPLACE_WITH_GPU_PARTITION" in resources
