"""Backbones, one file per family; importing this package registers them all in ``BACKBONES``."""

from registry.backbones import (  # noqa: F401  (imported to register their entries)
    cifar_resnet,
    densenet,
    mobilenet,
    resnet,
    resnext29,
    shufflenet,
    squeezenet,
    vgg,
    wide_resnet,
)

# isort: split
# last: it derives its entries from those the families above registered
from registry.backbones import extra_block  # noqa: F401
from registry.backbones.base import BACKBONES, SlottedBlock

__all__ = ["BACKBONES", "SlottedBlock"]
