"""The measured columns of reports: name -> records-frame column and how it reads.

Paper files (``papers``) name them, layouts fill them, render formats them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    """A measured column: where it comes from in the records' frame and how it reads."""

    header: str
    column: str
    error: bool = False  # shown as 100 - accuracy
    scale: float = 1.0
    digits: int = 2
    per_seed: bool = True  # False: the same for every seed (params, MACs): shown once, no test


METRICS: dict[str, Metric] = {
    "top1_err": Metric("top-1 err. (%)", "final_val_top1_pct", error=True),
    "top5_err": Metric("top-5 err. (%)", "final_val_top5_pct", error=True),
    "best_top1_err": Metric("best-epoch top-1 err. (%)", "best_epoch_val_top1_pct", error=True),
    "top1_acc": Metric("top-1 acc. (%)", "final_val_top1_pct"),
    "top5_acc": Metric("top-5 acc. (%)", "final_val_top5_pct"),
    "train_top1_acc": Metric("train top-1 acc. (%)", "final_train_top1_pct"),
    "train_loss": Metric("train loss", "final_train_loss", digits=3),
    "val_loss": Metric("val loss", "final_val_loss", digits=3),
    "params_m": Metric("params (M)", "params_total_m", digits=3, per_seed=False),
    "gmacs": Metric("GMACs", "gmacs_paper", digits=3, per_seed=False),
    "mmacs": Metric("MMACs", "gmacs_paper", scale=1000.0, digits=1, per_seed=False),
    "sfd": Metric("sfd", "sfd_mean", digits=3),
    "pointing": Metric("pointing hit rate", "sfd_pointing_hit_rate", digits=3),
}
