"""A dry run of every architecture of a grid on PyTorch's ``meta`` device, before anything trains.

Grid expansion checks names, types, signs and the registry's metadata; what only a constructor or
a forward pass knows (a choice of strings such as ``squeeze = "mean"``, heads that do not divide a
stage's width, a map that shrinks to nothing at a small ``image_size``) surfaces here. A meta
tensor has a shape and no storage, so building the model and running one forward pass costs a
fraction of a second and no memory, whatever the model. The ``[measure]`` settings are checked
on the same model: its Grad-CAM layers exist and give maps larger than 1x1, and the bulk batch and
the bootstrap fit in memory (``bench.domains.check_measure``).
"""

from __future__ import annotations

import torch

import registry
from bench.data import native_image_size
from bench.domains import check_measure
from bench.errors import BenchError, GridError
from bench.measure.saliency import cam_layers
from bench.spec import RunSpec

TRIAL_CLASSES, TRIAL_CHANNELS = 10, 3  # neither changes whether a module fits its slot


def check_buildable(specs: list[RunSpec]) -> None:
    """Build each distinct architecture of ``specs`` on the meta device, run one batch of two
    images of its data's size through it and check its ``[measure]`` settings against it; the
    first failure is one ``GridError``."""
    seen: set[tuple] = set()
    for spec in specs:
        size = spec.data.image_size or native_image_size(spec.data.name)
        arch = (spec.backbone, spec.attention, spec.placement, spec.stages, spec.hparams)
        key = (*arch, size, spec.train.zero_init_last, spec.measure)
        if key in seen:
            continue
        seen.add(key)
        try:
            with torch.device("meta"):
                model = registry.build_model(
                    spec.backbone,
                    spec.attention,
                    spec.placement,
                    num_classes=TRIAL_CLASSES,
                    stages=None if spec.stages is None else list(spec.stages),
                    in_chans=TRIAL_CHANNELS,
                    zero_init_last=spec.train.zero_init_last,
                    **dict(spec.hparams),
                )
                model(torch.empty(2, TRIAL_CHANNELS, size, size))
                check_measure(spec.measure, size)
                if spec.measure.sfd and spec.measure.sfd_images and spec.measure.cam_layers:
                    cam_layers(model, size, TRIAL_CHANNELS, spec.measure.cam_layers)
        except BenchError as err:  # a [measure] setting the model or the images cannot meet
            raise GridError(f"{spec.label} at {size} px: {err} (nothing was trained)") from None
        except NotImplementedError:
            continue  # an op without a meta kernel: the run itself will tell
        except Exception as err:  # a constructor's or a forward pass's own check
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise GridError(
                f"{spec.label} at {size} px cannot be built: {reason}; change that cell "
                "(nothing was trained)"
            ) from None
