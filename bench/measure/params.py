"""Parameter counts: total and the share the attention modules add, in millions."""

from __future__ import annotations

from torch import nn

import registry


def count_params(model: nn.Module) -> dict[str, float]:
    """Total and attention-only parameters, in millions (trainable and frozen alike).

    Attention parameters are those of the modules the placement inserted
    (``registry.attention_modules``), so the backbone's own parameters never count as attention.
    """
    total = sum(p.numel() for p in model.parameters())
    attention = sum(
        p.numel() for _, module in registry.attention_modules(model) for p in module.parameters()
    )
    return {"total_m": total / 1e6, "attention_m": attention / 1e6}
