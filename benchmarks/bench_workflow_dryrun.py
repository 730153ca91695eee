"""Scheduling overhead: the time of ``snakemake -n graphs`` over a synthetic manifest of
many videos (default 10,000; the video files are empty placeholders, a dry run reads none).
Prints one JSON line: wall and CPU seconds (the CPU time does not count waiting for a busy
machine's cores) and the number of jobs in the DAG."""

from __future__ import annotations

import argparse
import csv
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--videos", type=int, default=10_000)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "data/videos").mkdir(parents=True)
        with open(root / "data/manifest.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["clip_id", "split", "video", "audio", "classes"])
            for i in range(args.videos):
                (root / f"data/videos/v{i:06d}.mp4").touch()
                w.writerow([f"v{i:06d}", "train", f"videos/v{i:06d}.mp4", "", "dog"])
        (root / "o.yaml").write_text(f"dataset: {{manifest: {root / 'data/manifest.csv'}}}\n")
        cmd = [
            sys.executable,
            "-m",
            "snakemake",
            "-n",
            "graphs",
            "--snakefile",
            str(REPO / "Snakefile"),
            "--directory",
            str(root),
            "--cores",
            "32",
            "--configfile",
            str(REPO / "workflow/config/asiw.yaml"),
            str(root / "o.yaml"),
        ]
        t0 = time.perf_counter()
        run = subprocess.run(cmd, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
    if run.returncode:
        sys.exit(run.stdout[-2000:] + run.stderr[-2000:])
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    jobs = re.findall(r"^total\s+(\d+)$", run.stdout, re.M)
    print(
        json.dumps(
            {
                "bench": "workflow_dryrun",
                "videos": args.videos,
                "jobs": int(jobs[-1]),
                "seconds": round(seconds, 1),
                "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
