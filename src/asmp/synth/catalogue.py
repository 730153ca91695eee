"""The object classes of the synthetic world: what each looks like in size and how it moves.

Sounding classes are named after their sound (the config's ``class_map`` maps each sound
class to the visual class of the same name); context classes make no sound. Appearance
(``render.SPRITES``) and timbre (``sound.TIMBRES``) are keyed by these names.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VisualClass:
    """One object class.

    Attributes:
        name: class name (the sound class of a sounding object).
        size: billboard ``(width, height)`` in metres.
        max_speed: fastest motion of a free object of this class (m/s); 0 = always static.
        flies: hovers ``lift`` metres above the ground instead of standing on it.
        attachable: a context object that may stand next to a sounding one and move with it.
    """

    name: str
    size: tuple[float, float]
    max_speed: float
    flies: bool = False
    attachable: bool = False


SOUNDING: dict[str, VisualClass] = {c.name: c for c in (
    VisualClass("bell", (1.2, 1.4), 15.0),
    VisualClass("engine", (3.2, 1.6), 15.0),
    VisualClass("bird", (1.2, 0.8), 15.0, flies=True),
    VisualClass("dog", (1.3, 1.0), 10.0),
    VisualClass("horn", (1.5, 0.8), 15.0),
    VisualClass("water", (1.6, 1.8), 8.0),
)}  # fmt: skip

CONTEXT: dict[str, VisualClass] = {c.name: c for c in (
    VisualClass("person", (0.7, 1.8), 2.5, attachable=True),
    VisualClass("tree", (2.4, 4.5), 0.0),
    VisualClass("crate", (1.0, 1.0), 0.0, attachable=True),
)}  # fmt: skip

#: Every visual class by name.
CLASSES: dict[str, VisualClass] = {**SOUNDING, **CONTEXT}

#: The sound classes in label order (the default config's ``dataset.sound_classes``).
SOUND_CLASSES: tuple[str, ...] = tuple(SOUNDING)
