"""Attention modules for CNNs, one file per family, all registered in ``ATTENTIONS``.

Every entry is ``cls(channels: int, **hparams) -> nn.Module`` (``none`` returns ``None``: insert
nothing) and keeps the input shape (N, C, H, W). Importing this package registers every family.
``ATTENTIONS`` itself lives in ``_base`` so that family files can import it without a cycle.
"""

from registry.attention import (  # noqa: F401  (imported to register their entries)
    bam,
    cbam,
    cnntention,
    das,
    eca,
    gc,
    mhsa,
    non_local,
    se,
    triplet,
)
from registry.attention._base import ATTENTIONS, hidden_channels, no_attention

__all__ = ["ATTENTIONS", "hidden_channels", "no_attention"]
