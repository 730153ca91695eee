"""What a synthetic dataset is made of: validated options, resolved from a dataset config."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asmp.config import Config, load_config, validate_config
from asmp.errors import AsmpError
from asmp.synth.catalogue import SOUND_CLASSES, SOUNDING

#: Camera motions a clip can have; ``random`` picks one of the others per clip.
CAMERA_MOTIONS = ("none", "pan", "dolly")

#: Option -> the config section and key it comes from.
_FROM_CONFIG = {
    "fps": ("video", "fps"),
    "window_frames": ("video", "window_frames"),
    "sample_rate": ("audio", "sample_rate"),
    "hfov_deg": ("camera", "hfov_deg"),
    "still_uv": ("motion", "still_uv"),
    "still_d": ("motion", "still_d"),
}


def default_config() -> Config:
    """The resolved config of the synthetic world when no ``--config`` is given."""
    return validate_config(
        {
            "dataset": {
                "name": "synth",
                "detector_vocabulary": "synth",
                "sound_classes": list(SOUND_CLASSES),
                "class_map": {c: [c] for c in SOUND_CLASSES},
            }
        }
    )


@dataclass(frozen=True)
class SynthOptions:
    """Everything that shapes a clip but its seed and index.

    Build it with :func:`resolve_options`, which takes the config-given fields from a config.

    Attributes:
        fps: video frame rate (Hz).
        sample_rate: audio rate (Hz).
        hfov_deg: the camera's horizontal field of view (degrees).
        window_frames: frames per direction-label window.
        still_uv, still_d: no-motion thresholds of the direction labels.
        config: the resolved dataset config (stored in every ground-truth file).
        duration: clip length (s); ``duration * fps`` must be a whole number of frames.
        height, width: frame size (pixels, even: the video is YUV 4:2:0).
        classes: sound classes the sounding objects are drawn from.
        camera: ``none``, ``pan``, ``dolly`` or ``random`` (one of the three per clip).
        sources: sounding objects per clip, 1 or 2; None draws 1 or 2 per clip.
    """

    fps: float
    sample_rate: int
    hfov_deg: float
    window_frames: int
    still_uv: float
    still_d: float
    config: Config = field(compare=False)
    duration: float = 6.0
    height: int = 256
    width: int = 256
    classes: tuple[str, ...] = SOUND_CLASSES
    camera: str = "random"
    sources: int | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.duration) and self.duration > 0):
            raise AsmpError(f"duration must be a positive number of seconds, got {self.duration}")
        if not (math.isfinite(self.fps) and self.fps > 0):
            raise AsmpError(f"fps must be positive, got {self.fps}")
        frames = self.duration * self.fps
        if abs(frames - round(frames)) > 1e-6:
            raise AsmpError(f"duration x fps must be a whole number of frames, got {frames:g}")
        if round(frames) < self.window_frames:
            raise AsmpError(
                f"a clip needs at least one window of {self.window_frames} frames, "
                f"got {round(frames)}"
            )
        if min(self.height, self.width) < 32 or self.height % 2 or self.width % 2:
            raise AsmpError(
                f"frame size must be even and at least 32x32, got {self.height}x{self.width}"
            )
        if not self.classes:
            raise AsmpError("no sound classes to draw from")
        for cls in self.classes:
            if cls not in SOUNDING:
                raise AsmpError(
                    f"unknown sound class {cls!r} (the synthetic world has "
                    f"{', '.join(SOUND_CLASSES)})"
                )
        if self.camera not in (*CAMERA_MOTIONS, "random"):
            raise AsmpError(
                f"camera motion must be one of {', '.join(CAMERA_MOTIONS)}, random; "
                f"got {self.camera!r}"
            )
        if self.sources not in (None, 1, 2):
            raise AsmpError(f"sources per clip must be 1 or 2, got {self.sources}")
        if (self.sources or 1) > len(self.classes):
            raise AsmpError(
                f"{self.sources} sounding objects per clip need as many distinct "
                f"classes, got {len(self.classes)}"
            )

    @property
    def n_frames(self) -> int:
        return round(self.duration * self.fps)

    @property
    def n_samples(self) -> int:
        return round(self.duration * self.sample_rate)


def resolve_options(config: str | Path | Config | None = None, **overrides: Any) -> SynthOptions:
    """Options from a dataset config (a path, a resolved dict, or None for the defaults).

    The config supplies fps, sample rate, field of view, window length, still thresholds and
    the sound classes; ``overrides`` (any :class:`SynthOptions` field; None means "not
    given") win over it, and the config stored with the data records what was used.

    Raises:
        AsmpError: an invalid config, a config sound class the synthetic world lacks, a
            class that is not among the config's sound classes, or an invalid option.
    """
    source = config if isinstance(config, str | Path) else None
    if config is None:
        cfg = default_config()
    else:
        cfg = load_config(config) if source else validate_config(config)
    config_classes = tuple(cfg["dataset"]["sound_classes"])
    for cls in config_classes:
        if cls not in SOUNDING:
            raise AsmpError(
                f"sound class {cls!r} is not in the synthetic world ({', '.join(SOUND_CLASSES)})",
                source,
            )
    given = {k: v for k, v in overrides.items() if v is not None}
    given["classes"] = tuple(given.get("classes", config_classes))
    for cls in given["classes"]:
        if cls not in config_classes:
            raise AsmpError(
                f"unknown sound class {cls!r} (the config has {', '.join(config_classes)})", source
            )
    cfg = copy.deepcopy(cfg)
    for name, (section, key) in _FROM_CONFIG.items():
        cfg[section][key] = given.setdefault(name, cfg[section][key])
    return SynthOptions(**given, config=cfg)
