"""Class-name lists of the detectors (config ``dataset.detector_vocabulary``).

A detection's label is an index into one of these lists, which the detect stage stores as
its ``detector_classes`` attribute; ``dataset.class_map`` names auditory objects by them.

* ``coco``: torchvision's 91 COCO category slots (``__background__`` and ``N/A`` included,
  so torchvision's label ``k`` is entry ``k``).
* ``visual_genome``: the 1600 classes of the bottom-up-attention Faster R-CNN (ids 0-1599).
  The full name list is not shipped: names come from a local ``objects_vocab.txt`` (one
  class per line, synonyms comma-separated) when one is given, else ``vg<id>``; either way
  the ASIW words of :data:`ASIW_VISUAL_GENOME_WORDS` name their ids.
* ``synth``: the synthetic world's sounding then context classes.
"""

from __future__ import annotations

from pathlib import Path

from torchvision.models.detection import FasterRCNN_ResNet50_FPN_V2_Weights

from asmp.errors import AsmpError
from asmp.synth.catalogue import CONTEXT, SOUNDING

#: Number of Visual Genome classes of the bottom-up-attention detector.
VISUAL_GENOME_SIZE = 1600

#: Visual Genome class id -> the word ASIW groups into its 14 sound classes (the facts in
#: ``data/asiw/vg_class_words.csv``; ``workflow/config/asiw.yaml``'s class_map uses them).
ASIW_VISUAL_GENOME_WORDS: dict[int, str] = {
    706: "baby", 366: "child", 952: "little girl", 817: "bell", 180: "bird", 999: "birds",
    341: "duck", 351: "ducks", 739: "camera", 118: "clock", 1392: "clocks",
    294: "clock tower", 6: "alarm clocks", 117: "dog", 337: "dogs", 543: "drain",
    14: "toilet", 84: "toilet seat", 384: "toilet bowl", 443: "toilet lid", 42: "horse",
    186: "horses", 50: "man", 90: "woman", 1510: "young man", 540: "people", 226: "boy",
    509: "boys", 139: "girl", 753: "girls", 161: "sheep", 711: "goat", 612: "goats",
    1019: "chicken", 581: "telephone", 70: "train", 814: "trains", 625: "train car",
    1181: "train cars", 898: "train front", 1447: "passenger train", 566: "train engine",
    663: "vehicle", 52: "car", 685: "cars", 155: "truck", 838: "trucks", 183: "water",
    733: "water tank", 475: "water bottle",
}  # fmt: skip

#: File name of a Visual Genome vocabulary looked up beside the detector's data.
VISUAL_GENOME_VOCAB_FILE = "objects_vocab.txt"


def coco_classes() -> list[str]:
    """torchvision's COCO category slots, index = torchvision label (91 entries)."""
    return list(FasterRCNN_ResNet50_FPN_V2_Weights.COCO_V1.meta["categories"])


def synth_classes() -> list[str]:
    """The synthetic world's classes: sounding (``SOUNDING``) then context (``CONTEXT``)."""
    return [*SOUNDING, *CONTEXT]


def visual_genome_classes(vocab_file: str | Path | None = None) -> list[str]:
    """The 1600 Visual Genome class names, index = class id.

    Args:
        vocab_file: optional ``objects_vocab.txt`` (1600 lines; the first of a line's
            comma-separated synonyms is its name); without it unknown ids are ``vg<id>``.

    Raises:
        AsmpError: naming ``vocab_file`` when it does not hold 1600 lines.
    """
    if vocab_file is None:
        names = [f"vg{i}" for i in range(VISUAL_GENOME_SIZE)]
    else:
        lines = Path(vocab_file).read_text().splitlines()
        if len(lines) != VISUAL_GENOME_SIZE:
            raise AsmpError(f"{len(lines)} classes, expected {VISUAL_GENOME_SIZE}", vocab_file)
        names = [line.split(",")[0].strip() for line in lines]
    for i, word in ASIW_VISUAL_GENOME_WORDS.items():
        names[i] = word
    return names


def vocabulary_file(directory: str | Path) -> Path | None:
    """``directory/objects_vocab.txt`` when it exists."""
    path = Path(directory) / VISUAL_GENOME_VOCAB_FILE
    return path if path.is_file() else None
