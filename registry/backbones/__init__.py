"""Backbones, one file per family; importing this package registers them all in ``BACKBONES``."""

from registry.backbones import (  # noqa: F401  (imported to register their entries)
    cifar_resnet,
    densenet,
    extra_block,
    mobilenet,
    resnet,
    resnext29,
    shufflenet,
    squeezenet,
    vgg,
    wide_resnet,
)
from registry.backbones.base import BACKBONES, SlottedBlock

__all__ = ["BACKBONES", "SlottedBlock"]
