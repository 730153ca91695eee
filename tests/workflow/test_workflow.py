"""The Snakemake workflow: DAGs of every target for each dataset config, lint, a real run of
``graphs`` on synthetic clips (with a broken video, then a killed job on the way),
incremental reruns, the SLURM profile, and manifest errors."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from asmp.io.validate import validate_file

REPO = Path(__file__).resolve().parents[2]
#: The per-video stages, each writing results/<dataset>/stages/<stage>/<clip>.h5.
STAGES = ("decode", "depth", "detect", "flow", "rectify", "motion", "graph", "audio", "record")


def snakemake_cmd(workdir: Path, *args: str, configs: list[Path]) -> list[str]:
    return [
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


def snakemake(workdir: Path, *args: str, configs: list[Path]) -> subprocess.CompletedProcess:
    return subprocess.run(
        snakemake_cmd(workdir, *args, configs=configs), capture_output=True, text=True
    )


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


def write_dataset(root: Path, classes: str) -> Path:
    """A 3-clip manifest (one clip per split) whose videos are placeholders."""
    rows = [
        {
            "clip_id": f"v{i}",
            "split": split,
            "video": f"videos/v{i}.mp4",
            "audio": "",
            "classes": classes,
        }
        for i, split in enumerate(["train", "val", "test"])
    ]
    return write_manifest(root, rows)


@pytest.mark.parametrize(("dataset", "classes"), [("asiw", "dog;bell"), ("ave", "horse")])
def test_dry_run_builds_the_dag(tmp_path, dataset, classes):
    manifest = write_dataset(tmp_path / "data", classes)
    overlay = write_yaml(
        tmp_path / "o.yaml",
        {
            "dataset": {"manifest": str(manifest)},
            "shards": {"records_per_shard": 2},
            "workflow": {"presets": ["no_direction", "asmp"]},
        },
    )
    targets = ["graphs", f"train_{dataset}", f"evaluate_{dataset}", "report"]
    run = snakemake(
        tmp_path,
        "-n",
        "-p",
        *targets,
        configs=[REPO / "workflow" / "config" / f"{dataset}.yaml", overlay],
    )
    assert run.returncode == 0, run.stderr
    counts = jobs(run.stdout)
    assert {r: counts.get(r) for r in ("gpu_stages", "cpu_stages")} == {
        "gpu_stages": 3,
        "cpu_stages": 3,
    }
    assert counts["shard"] == 2 and counts["shards_manifest"] == 1
    assert counts["train"] == 2 and counts["evaluate"] == 1 and counts["report"] == 1
    results = f"results/{dataset}"
    checkpoints = f"{results}/train/no_direction/best.pt {results}/train/asmp/best.pt"
    assert f"asmp evaluate --checkpoint {checkpoints} " in run.stdout  # workflow.presets order
    assert f"--preset no_direction --out $(dirname {results}/train/no_direction/best.pt)" in (
        run.stdout
    )


def test_demo_dry_run_generates_the_synthetic_dataset(tmp_path):
    run = snakemake(
        tmp_path,
        "-n",
        "demo",
        "train_synth",
        "evaluate_synth",
        configs=[REPO / "workflow/config/synth.yaml"],
    )
    assert run.returncode == 0, run.stderr
    counts = jobs(run.stdout)
    # The per-video jobs join the DAG once the synth_data checkpoint has run.
    assert {r: counts.get(r) for r in ("synth_data", "train", "evaluate", "report")} == {
        "synth_data": 1,
        "train": 1,
        "evaluate": 1,
        "report": 1,
    }


@pytest.mark.parametrize(("target", "configfile"), [("train_ave", "ave"), ("demo", "synth")])
def test_target_of_another_dataset_names_its_config(tmp_path, target, configfile):
    manifest = write_dataset(tmp_path / "data", "dog")
    overlay = write_yaml(tmp_path / "o.yaml", {"dataset": {"manifest": str(manifest)}})
    run = snakemake(tmp_path, "-n", target, configs=[REPO / "workflow/config/asiw.yaml", overlay])
    out = run.stdout + run.stderr
    assert run.returncode != 0
    assert f"run snakemake {target} --configfile workflow/config/{configfile}.yaml" in out


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


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"snakemake ended before {path} appeared"
        assert time.monotonic() < deadline, f"{path} did not appear in {timeout} s"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def synth_run(tmp_path_factory, frcnn_checkpoint):
    """A finished ``graphs`` run on 3 synthetic clips, reached the hard way: first with clip
    s4_00002's video broken (``--keep-going``), then, with the video restored, killed while
    that clip's GPU job runs, and finished with ``--rerun-incomplete``. Returns the workdir,
    the configs and what the interrupted runs left."""
    work = tmp_path_factory.mktemp("workflow")
    overlay = write_yaml(
        work / "o.yaml",
        {
            "dataset": {"manifest": "data/synth/manifest.csv"},
            "synth": {"clips": 3, "seed": 4, "duration": 2.0},
            "detect": {"weights": str(frcnn_checkpoint)},
            # s4_00000 and s4_00001 share shard 00000; s4_00002 is alone in shard 00001.
            "shards": {"records_per_shard": 2},
        },
    )
    configs = [REPO / "workflow/config/synth.yaml", overlay]
    seen = {}

    data = snakemake(work, "synth_data", configs=configs)
    assert data.returncode == 0, (data.stdout + data.stderr)[-3000:]
    video = work / "data/synth/videos/s4_00002.mp4"
    original = video.read_bytes()
    video.write_bytes(original[:1000])  # truncated: not a readable mp4
    broken = snakemake(work, "graphs", "--keep-going", configs=configs)
    seen["keep_going"] = broken
    seen["after_keep_going"] = {
        p.relative_to(work).as_posix() for p in (work / "results/synth").rglob("*.h5")
    }
    seen["failed_log"] = (work / "results/synth/logs/gpu_stages/s4_00002.log").read_text()
    assert (work / "results/synth/shards/shard-00000.h5").exists()  # before anything reruns
    seen["shard0_problems"] = validate_file(work / "results/synth/shards/shard-00000.h5")

    video.write_bytes(original)
    proc = subprocess.Popen(
        snakemake_cmd(work, "graphs", configs=configs),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        # decode is the job's first stage: once its file is there, depth is running.
        wait_for(work / "results/synth/stages/decode/s4_00002.h5", proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # snakemake and the job's shell and asmp process
        proc.wait()
    seen["after_kill"] = {
        stage: (work / f"results/synth/stages/{stage}/s4_00002.h5").exists()
        for stage in ("decode", "depth", "detect", "flow")
    }
    # SIGKILL leaves Snakemake's lock behind.
    assert snakemake(work, "--unlock", configs=configs).returncode == 0
    done = snakemake(work, "graphs", "--rerun-incomplete", configs=configs)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    seen["rerun_jobs"] = jobs(done.stdout + done.stderr)
    return work, configs, seen


def test_keep_going_fails_only_the_broken_video(synth_run):
    work, _, seen = synth_run
    assert seen["keep_going"].returncode != 0
    video = "data/synth/videos/s4_00002.mp4"
    assert f"asmp: error: {video}: cannot open as media" in seen["failed_log"]
    stages = "results/synth/stages"
    assert seen["after_keep_going"] == {
        *(f"{stages}/{s}/{c}.h5" for s in STAGES for c in ("s4_00000", "s4_00001")),
        "results/synth/shards/shard-00000.h5",
    }
    assert seen["shard0_problems"] == []


def test_killed_job_leaves_nothing_finished(synth_run):
    _, _, seen = synth_run
    # decode had finished when the job was killed; depth, detect and flow had not.
    assert seen["after_kill"] == {"decode": True, "depth": False, "detect": False, "flow": False}
    # The rerun redid the killed job whole, then what waited for it, and nothing else.
    assert seen["rerun_jobs"] == {
        "gpu_stages": 1,
        "cpu_stages": 1,
        "shard": 1,
        "shards_manifest": 1,
        "graphs": 1,
        "total": 5,
    }


def test_graphs_on_synthetic_clips(synth_run):
    work, configs, _ = synth_run
    shards = sorted((work / "results/synth/shards").glob("shard-*.h5"))
    assert [p.name for p in shards] == ["shard-00000.h5", "shard-00001.h5"]
    assert all(validate_file(p) == [] for p in shards)
    assert (work / "results/synth/shards/manifest.csv").is_file()
    assert (work / "results/synth/benchmarks/gpu_stages/s4_00000.tsv").is_file()
    again = snakemake(work, "graphs", configs=configs)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


def test_changed_intermediate_reruns_only_its_clip(synth_run):
    work, configs, _ = synth_run
    depth = work / "results/synth/stages/depth/s4_00001.h5"
    os.utime(depth)  # as if the depth stage had been rerun for this clip
    run = snakemake(work, "-n", "graphs", configs=configs)
    counts = jobs(run.stdout)
    assert counts.get("gpu_stages") is None and counts["cpu_stages"] == 1
    assert counts["shard"] == 1  # only the shard holding s4_00001
    outputs = [line for line in run.stdout.splitlines() if line.strip().startswith("output:")]
    assert not any("s4_00000" in line or "s4_00002" in line for line in outputs)


def test_slurm_profile_requests_gpus(synth_run):
    work, configs, _ = synth_run
    run = snakemake(
        work,
        "-n",
        "graphs",
        "evaluate_synth",
        "--workflow-profile",
        str(REPO / "workflow/profiles/slurm"),
        "--forcerun",
        "gpu_stages",
        configs=configs,
    )
    assert run.returncode == 0, run.stderr
    profile = yaml.safe_load((REPO / "workflow/profiles/slurm/config.yaml").read_text())
    assert profile["executor"] == "slurm"
    gpu_rules = {"gpu_stages": 3, "train": 1, "evaluate": 1}
    assert all(profile["set-resources"][r]["gpu"] == 1 for r in gpu_rules)
    for rule, n in gpu_rules.items():
        blocks = run.stdout.split(f"rule {rule}:")[1:]
        assert len(blocks) == n, rule
        for block in blocks:
            line = next(x for x in block.splitlines() if x.strip().startswith("resources:"))
            resources = dict(r.split("=", 1) for r in line.split(":", 1)[1].strip().split(", "))
            assert resources["gpu"] == "1"
            assert resources["slurm_partition"] == "REPLACE_WITH_GPU_PARTITION"
            # train's CPUs: its data-loader workers (1 in synth.yaml) + 1.
            assert resources["cpus_per_gpu"] == ("2" if rule == "train" else "4")
    # The per-video CPU jobs are submitted as group jobs.
    assert "Group job per_video_cpu" in run.stdout
