"""The synthetic audio-visual world (``asmp synth``): the demo's and CI's dataset.

A small physical simulation: a pinhole camera (static, panning or dollying) over a textured
ground and backdrop, class-shaped billboards moving in 3D, their sounds propagated to the
camera with 1/r gain and exact retarded-time delay (so Doppler), and ground truth for depth,
boxes, camera poses, clean sources and direction labels. Layout and units: docs/synth.md.

Entry points: :func:`generate` writes a dataset, :func:`synth_clip` makes one clip in memory,
:func:`propagate` renders the sound of any source path heard along any receiver path.
"""

from asmp.synth.dataset import Clip, generate, make_clip, synth_clip
from asmp.synth.options import SynthOptions, resolve_options
from asmp.synth.scene import ClipSpec, Scene, plan_clips, sample_scene
from asmp.synth.sound import propagate

__all__ = [
    "Clip",
    "ClipSpec",
    "Scene",
    "SynthOptions",
    "generate",
    "make_clip",
    "plan_clips",
    "propagate",
    "resolve_options",
    "sample_scene",
    "synth_clip",
]
