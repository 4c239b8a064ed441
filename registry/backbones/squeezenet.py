"""SqueezeNet v1.1 (Iandola et al., arXiv:1602.07360; the v1.1 of the authors' repository), the
BAM paper's smallest ImageNet backbone (arXiv:1807.06514, Table 3(b): 1.24M, + BAM 1.26M).

torchvision's ``Fire`` modules in torchvision's order and widths (same 1,235,496 parameters at
1000 classes), regrouped into stages by resolution so the placements find them: stage 2 = Fire
1-2 (stride 4), stage 3 = max-pool + Fire 3-4 (stride 8), stage 4 = max-pool + Fire 5-8 (stride
16). Each max-pool starts its stage, so BAM's ``stage`` slot sits right before the down-sampling,
where the paper puts it. One change from torchvision: the stem conv pads by 1, so the strides are
exact (112/56/28/14 px at 224 instead of 111/55/27/13), which the registry's stage metadata and its
1x1-map check rely on, and a 32 px input still ends on a 2x2 map. Parameters are unchanged; the
larger maps cost 0.387 GMACs at 224 instead of torchvision's 0.349. The paper prints 0.290, which
neither layout gives; BAM's overhead, +0.014, matches (ours +0.0137).

Placements: ``block`` after a Fire module's concatenated expand outputs, ``pre`` before its
squeeze conv; ``after_3x3``, ``post`` and ``identity`` are rejected (the 3x3 runs in parallel with
a 1x1, and there is no shortcut).
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.squeezenet import Fire

from registry.backbones.base import SlottedBlock, register_backbone, set_stages

# (in, squeeze, expand 1x1, expand 3x3) per Fire module, per stage (torchvision squeezenet1_1)
STAGES = [
    [(64, 16, 64, 64), (128, 16, 64, 64)],
    [(128, 32, 128, 128), (256, 32, 128, 128)],
    [(256, 48, 192, 192), (384, 48, 192, 192), (384, 64, 256, 256), (512, 64, 256, 256)],
]


class FireBlock(SlottedBlock):
    """torchvision's ``Fire`` with the ``pre`` and ``block`` attention slots around it."""

    def __init__(self, c_in: int, squeeze: int, expand1x1: int, expand3x3: int) -> None:
        super().__init__(c_in, None, expand1x1 + expand3x3, residual=False)
        self.fire = Fire(c_in, squeeze, expand1x1, expand3x3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attn_block(self.fire(self.attn_pre(x)))


class SqueezeNet(nn.Module):
    """Stem (3x3/2 conv, max-pool), ``stage2`` .. ``stage4``, 1x1-conv classifier, global pool."""

    stage_names: dict[int, str]
    stage2: nn.Sequential
    stage3: nn.Sequential
    stage4: nn.Sequential

    def __init__(self, num_classes: int, in_chans: int = 3) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, 64, 3, 2, 1), nn.ReLU(inplace=True), self._pool()
        )
        for num, spec in enumerate(STAGES, start=2):
            blocks: list[nn.Module] = [self._pool()] if num > 2 else []
            blocks += [FireBlock(*fire) for fire in spec]
            self.add_module(f"stage{num}", nn.Sequential(*blocks))
        final_conv = nn.Conv2d(512, num_classes, 1)
        self.classifier = nn.Sequential(
            nn.Dropout(0.5), final_conv, nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1)
        )
        set_stages(self, ["stage2", "stage3", "stage4"])
        for m in self.modules():  # torchvision's init
            if isinstance(m, nn.Conv2d):
                if m is final_conv:
                    nn.init.normal_(m.weight, 0.0, 0.01)
                else:
                    nn.init.kaiming_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    @staticmethod
    def _pool() -> nn.MaxPool2d:
        return nn.MaxPool2d(3, 2, ceil_mode=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage4(self.stage3(self.stage2(self.stem(x))))
        return torch.flatten(self.classifier(x), 1)


register_backbone(
    "squeezenet1_1",
    SqueezeNet,
    family="imagenet",
    block="fire",
    stage_strides={2: 4, 3: 8, 4: 16},
    reference="torchvision squeezenet1_1 (1.24M, BAM Table 3b), stem padded by 1",
    description="SqueezeNet v1.1 (Fire modules, no shortcuts)",
    rejected={
        "after_3x3": "a Fire module's 3x3 runs in parallel with a 1x1; use 'block' (after both)",
        "post": "Fire modules have no residual addition; use 'block'",
        "identity": "Fire modules have no shortcut; use 'block' or 'pre'",
    },
)
