"""The ASMP networks (paper section 3.3 and appendix H). Shapes and sizes: docs/model.md."""

from asmp.model.asmp import ASMP, DirectionHead
from asmp.model.graph import GraphEncoder, node_mlp
from asmp.model.resnet import ResNet18
from asmp.model.spec import SIZES, ModelSpec
from asmp.model.unet import DOWNSAMPLE, UNet

__all__ = [
    "ASMP",
    "DOWNSAMPLE",
    "SIZES",
    "DirectionHead",
    "GraphEncoder",
    "ModelSpec",
    "ResNet18",
    "UNet",
    "node_mlp",
]
