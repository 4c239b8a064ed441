"""The attnbench model registry: backbones, attention modules and where the modules go, plus the
data files that enumerate the studies of those models (``GRIDS``) and hold the published numbers
they are compared with (``PAPERS``).

Everything that can be built and every combination worth building; nothing about running it
(``bench`` trains, measures and reports). Depends only on torch, torchvision and timm.

    model = build_model("resnet20", "se", "block", num_classes=10, reduction=16)
"""

from registry.attention import ATTENTIONS
from registry.backbones import BACKBONES
from registry.build import (
    attention_modules,
    build_model,
    check_combination,
    default_placement,
    target_stages,
)
from registry.core import IncompatibleError, InvalidValueError, Registry, UnknownNameError
from registry.files import GRIDS, PAPERS
from registry.hparams import (
    check_constructors,
    describe_hparams,
    hparam_defaults,
    hparam_names,
    list_valued_hparams,
    resolve_hparams,
)
from registry.placement import PLACEMENTS, AttentionSlot, model_stages

__all__ = [
    "ATTENTIONS",
    "BACKBONES",
    "GRIDS",
    "PAPERS",
    "PLACEMENTS",
    "AttentionSlot",
    "IncompatibleError",
    "InvalidValueError",
    "Registry",
    "UnknownNameError",
    "attention_modules",
    "build_model",
    "check_combination",
    "check_constructors",
    "default_placement",
    "describe_hparams",
    "hparam_defaults",
    "hparam_names",
    "list_valued_hparams",
    "model_stages",
    "resolve_hparams",
    "target_stages",
]
