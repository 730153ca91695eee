"""The ``asmp`` command.

Each subcommand lives in the module that does its work; the module provides
``add_arguments(parser)`` and ``run(args) -> int | None``. Modules are imported only when
their subcommand is chosen, so ``asmp --help`` stays fast. Failures a user can fix
(:class:`~asmp.errors.AsmpError`) print one line on stderr and exit 2; ``--debug`` shows
the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from asmp.errors import AsmpError

#: name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "inspect": ("asmp.io.inspect", "print a readable tree of any HDF5 file asmp writes"),
    "validate": ("asmp.io.validate", "check a shard or record file; one line per problem"),
    "config": ("asmp.config.cli", "print a dataset config with every default filled in"),
    "synth": ("asmp.synth.cli", "generate the synthetic audio-visual dataset"),
    "preprocess": ("asmp.preprocess", "run every per-video stage: video -> validated record"),
    "released": ("asmp.preprocess.released", "import the authors' released ASIW data as records"),
    "shard": ("asmp.io.shards", "pack video records into shards and write their manifest"),
    "synth-score": ("asmp.synth.score", "score preprocessing outputs against synthetic truth"),
    "train": ("asmp.train.cli", "train ASMP or an ablation preset on a dataset's shards"),
    "evaluate": (
        "asmp.evaluate.protocol",
        "evaluate checkpoints on the test split: report + metrics",
    ),
    "report": (
        "asmp.evaluate.report",
        "render an evaluation directory and training logs as a report",
    ),
    "separate": ("asmp.evaluate.separate", "separate the sounds of a video: one WAV per source"),
    "score": ("asmp.evaluate.score", "BSS-Eval v3 SDR, SIR and SAR of estimated vs reference WAVs"),
    "show": ("asmp.evaluate.show", "draw a video's scene graph (paper Figure 2) from its files"),
}

#: ``asmp stage NAME``: per-video preprocessing stages, one file in, one file out.
STAGES: dict[str, tuple[str, str]] = {
    "decode": ("asmp.preprocess.decode", "video -> frames at video.fps and mono audio"),
    "depth": ("asmp.preprocess.depth", "frames -> pseudo-depth (MiDaS or ground truth)"),
    "rectify": ("asmp.preprocess.rectify", "LK tracks + ICP -> per-window camera transforms"),
    "detect": ("asmp.preprocess.detect", "detections, box features and background crop per window"),
    "flow": ("asmp.preprocess.flow", "optical flow from each window's reference to last frame"),
    "motion": ("asmp.preprocess.motion", "per-object 3D displacement and direction classes"),
    "graph": ("asmp.preprocess.graph", "detections + depth + motion -> the video's scene graph"),
    "audio": ("asmp.preprocess.audio", "waveform -> exact STFTs of every whole-second crop"),
    "record": ("asmp.preprocess.record", "stage outputs -> one validated video record"),
}

_GROUPS = {"stage": (STAGES, "run one per-video preprocessing stage")}


def _debug_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the full traceback on errors",
    )
    return parent


def _add_leaf(
    sub: argparse._SubParsersAction, name: str, module: str, help_: str, chosen: bool
) -> None:
    p = sub.add_parser(name, help=help_, description=help_, parents=[_debug_parent()])
    p.set_defaults(_module=module)
    if chosen:
        importlib.import_module(module).add_arguments(p)


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The full parser, with arguments only for the subcommand named in ``argv``."""
    words = [a for a in argv if not a.startswith("-")]
    parser = argparse.ArgumentParser(
        prog="asmp",
        description="Audio Separator and Motion Predictor: preprocessing, training, evaluation.",
    )
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, help_) in COMMANDS.items():
        _add_leaf(sub, name, module, help_, chosen=words[:1] == [name])
    for group, (table, help_) in _GROUPS.items():
        gp = sub.add_parser(group, help=help_, description=help_)
        gsub = gp.add_subparsers(dest="name", metavar="NAME", required=True)
        for name, (module, leaf_help) in table.items():
            _add_leaf(gsub, name, module, leaf_help, chosen=words[:2] == [group, name])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``asmp`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    try:
        status = importlib.import_module(args._module).run(args)
    except AsmpError as exc:
        if args.debug:
            raise
        print(f"asmp: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("asmp: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence for users
        if args.debug:
            raise
        print(
            f"asmp: error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
