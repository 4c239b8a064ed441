"""Grad-CAM saliency and whether it lands on the object: DAS's sfd, energy in mask, pointing game.

Grad-CAM comes from pytorch-grad-cam (PyPI ``grad-cam``): channel weights = spatial mean of the
gradient of the explained class's logit, map = ReLU(weighted sum of the layer's activations),
upsampled bilinearly to the image (OpenCV) and min-max normalised per image.

Scores per image, with w the normalised map and R the object mask (the dataset's own):

* ``sfd`` (DAS, arXiv:2311.12091, as the paper defines it): with s(w) = (e^w - 1) / (e - 1) and
  B = R u {p not in R : w_p >= tau}, sfd = sum_R s(w) / sum_B s(w). 1 = all salience on the
  object, 0 = all of it elsewhere. Default tau = 0.5 (``MeasureSpec.sfd_tau``).
* ``energy_in_mask``: sum_R w / sum w, the energy-based pointing game (Score-CAM, arXiv:1910.01279).
* ``pointing_hit``: 1 when the map's maximum lies in R (Zhang et al., arXiv:1608.00507; no
  tolerance margin), else 0.

A map with no salience at all (constant) has no defined score: ``None`` per image, left out of
means and counted in ``n_degenerate``. Means carry a percentile-bootstrap 95 % CI.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.image import scale_cam_image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

import registry
from bench.data import BatchSource, ImageDataset, Split
from bench.data.augment import normalize
from bench.errors import BenchError
from bench.spec import SFD_TARGETS, MeasureSpec

CAM_BATCH = 100  # images per Grad-CAM pass at CIFAR sizes; scaled down with the pixel count


def cam_batch(image_size: int) -> int:
    """Images per Grad-CAM pass: 100 at 32 px, 16 at 224 px (the graph is kept for backward)."""
    return max(16, CAM_BATCH * 32 * 32 // (image_size * image_size))


def normalise_map(cam: np.ndarray) -> np.ndarray:
    """Min-max normalise one map to [0, 1]; a constant map becomes all zeros."""
    cam = np.asarray(cam, dtype=np.float64)
    span = cam.max() - cam.min()
    return (cam - cam.min()) / span if span > 0 else np.zeros_like(cam)


def anti_log(w: np.ndarray) -> np.ndarray:
    """DAS's anti-logarithmic scaling s(w) = (e^w - 1) / (e - 1): s(0) = 0, s(1) = 1."""
    return np.expm1(w) / (math.e - 1)


def sfd_score(cam: np.ndarray, mask: np.ndarray, tau: float = 0.5) -> float | None:
    """DAS sfd of one map against one object mask (same H x W); None when the map is blank."""
    w = normalise_map(cam)
    mask = np.asarray(mask, dtype=bool)
    s = anti_log(w)
    inside = s[mask].sum()
    total = inside + s[~mask & (w >= tau)].sum()
    return float(inside / total) if total > 0 else None


def energy_in_mask(cam: np.ndarray, mask: np.ndarray) -> float | None:
    """Share of the normalised map's energy inside the mask; None when the map is blank."""
    w = normalise_map(cam)
    total = w.sum()
    return float(w[np.asarray(mask, dtype=bool)].sum() / total) if total > 0 else None


def pointing_hit(cam: np.ndarray, mask: np.ndarray) -> float | None:
    """1.0 when the map's (first) maximum is inside the mask, 0.0 if not, None when blank."""
    w = normalise_map(cam)
    if w.max() <= 0:
        return None
    return float(np.asarray(mask, dtype=bool).flat[int(w.argmax())])


def bootstrap_ci(
    values: list[float], resamples: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of the mean (fixed seed: repeatable)."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), (resamples, len(v)))].mean(axis=1)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def feature_sizes(model: nn.Module, names: list[str], image_size: int, in_chans: int) -> dict:
    """Spatial size (H, W) of the output of each named module on one image."""
    sizes: dict[str, tuple[int, int]] = {}

    def record(name: str) -> Any:
        def hook(_module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
            sizes.setdefault(name, (output.shape[-2], output.shape[-1]))  # None: output kept

        return hook

    hooks = [model.get_submodule(n).register_forward_hook(record(n)) for n in names]
    device = next(model.parameters()).device
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, in_chans, image_size, image_size, device=device))
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return sizes


def cam_layers(
    model: nn.Module, image_size: int, in_chans: int, names: tuple[str, ...] = ()
) -> list[str]:
    """The Grad-CAM layers: ``names`` checked, or the last two stages with maps larger than 1x1.

    Raises:
        BenchError: an unknown module path, or a layer whose map is 1x1 at ``image_size``.
    """
    paths = {id(module): path for path, module in model.named_modules()}
    stages = [paths[id(stage)] for _, stage in sorted(registry.model_stages(model).items())]
    for name in names:
        try:
            model.get_submodule(name)
        except AttributeError:
            raise BenchError(
                f"Grad-CAM layer {name!r} is not a module path of the model; "
                f"its stages are {stages}"
            ) from None
    sizes = feature_sizes(model, list(names or stages), image_size, in_chans)
    if names:
        flat = [n for n in names if math.prod(sizes[n]) <= 1]
        if flat:
            raise BenchError(
                f"Grad-CAM layer(s) {flat} give a 1x1 map at {image_size} px (an ImageNet stem on "
                f"small images); choose earlier layers (stages: {stages}) or a larger image_size"
            )
        return list(names)
    usable = [s for s in stages if math.prod(sizes[s]) > 1]
    if not usable:
        raise BenchError(f"every stage of the model is 1x1 at {image_size} px; Grad-CAM needs more")
    return usable[::-1][:2]  # the last stage first: the record's sfd uses it


def gradcam_maps(
    model: nn.Module, images: torch.Tensor, layers: list[str], labels: torch.Tensor | None = None
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Raw Grad-CAM maps at each layer's own resolution, for normalised ``images``.

    Args:
        model: the trained network (left in its original train/eval mode, gradients cleared).
        images: (N, C, H, W) float, already normalised.
        layers: module paths.
        labels: explain these classes; None = the predicted ones.

    Returns:
        layer -> (N, h, w) float32 maps after the ReLU (not normalised), the explained classes and
        the predicted classes (both (N,) int).
    """
    order = [p for p, _ in model.named_modules() if p in layers]  # hooks fire in forward order
    was_training = model.training
    raw: dict[str, list[np.ndarray]] = {name: [] for name in layers}
    explained, predicted = [], []
    step = cam_batch(images.shape[-1])
    with GradCAM(model, [model.get_submodule(p) for p in order]) as cam, torch.enable_grad():
        for start in range(0, len(images), step):
            x = images[start : start + step].to(cam.device)
            logits = cam.activations_and_grads(x)
            pred = logits.argmax(1).cpu()
            classes = pred if labels is None else labels[start : start + step].cpu()
            targets = [ClassifierOutputTarget(int(c)) for c in classes]
            model.zero_grad(set_to_none=True)
            sum(t(out) for t, out in zip(targets, logits, strict=True)).backward()
            acts = cam.activations_and_grads.activations
            grads = cam.activations_and_grads.gradients
            for i, path in enumerate(order):
                layer = model.get_submodule(path)
                maps = cam.get_cam_image(x, layer, targets, acts[i].numpy(), grads[i].numpy())
                raw[path].append(np.maximum(maps, 0).astype(np.float32))
            explained.append(classes)
            predicted.append(pred)
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    stacked = {name: np.concatenate(raw[name]) for name in layers}
    return stacked, torch.cat(explained).numpy(), torch.cat(predicted).numpy()


def upsample(raw: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(N, H, W) maps as pytorch-grad-cam returns them for one layer: min-max, bilinear resize
    to (H, W) (OpenCV), min-max again (the resize moves the minimum)."""
    return scale_cam_image(scale_cam_image(raw, (size[1], size[0])))


def score_maps(
    maps: np.ndarray, masks: np.ndarray, tau: float = 0.5, resamples: int = 1000
) -> dict[str, Any]:
    """Per-image sfd, energy in mask and pointing hits for (N, H, W) maps and masks; summaries."""
    sfd = [sfd_score(m, r, tau) for m, r in zip(maps, masks, strict=True)]
    energy = [energy_in_mask(m, r) for m, r in zip(maps, masks, strict=True)]
    hits = [pointing_hit(m, r) for m, r in zip(maps, masks, strict=True)]
    valid = [v for v in sfd if v is not None]
    low, high = bootstrap_ci(valid, resamples)
    return {
        "mean": float(np.mean(valid)) if valid else None,
        "ci95_low": low if valid else None,
        "ci95_high": high if valid else None,
        "n": len(valid),
        "n_degenerate": len(sfd) - len(valid),
        "tau": tau,
        "energy_in_mask_mean": _mean(energy),
        "pointing_hit_rate": _mean(hits),
        "per_image": sfd,
        "energy_in_mask_per_image": energy,
        "pointing_hit_per_image": hits,
    }


def _mean(values: list[float | None]) -> float | None:
    valid = [v for v in values if v is not None]
    return float(np.mean(valid)) if valid else None


def measure_saliency(
    model: nn.Module, data: ImageDataset, device: torch.device, spec: MeasureSpec
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The record's ``sfd`` (or ``{"skipped": reason}``) and ``cam`` (maps for ``bench cam``).

    Grad-CAM runs on the first ``spec.sfd_images`` validation images; the record's sfd uses the
    first layer, every layer's summary is under ``by_layer``.
    """
    if spec.sfd_target not in SFD_TARGETS:
        raise BenchError(f"[measure] sfd_target = {spec.sfd_target!r}; choose one of {SFD_TARGETS}")
    n = min(spec.sfd_images, len(data.val))
    if n == 0:
        return {"skipped": "sfd_images = 0"}, None
    layers = cam_layers(model, data.image_size, data.in_chans, spec.cam_layers)
    mean = torch.tensor(data.mean, device=device)
    std = torch.tensor(data.std, device=device)
    pixels, true_labels, true_masks = first_images(data.val, n, device)
    images = normalize(pixels, mean, std)
    labels = None if spec.sfd_target == "predicted" else true_labels
    raw, explained, predicted = gradcam_maps(model, images, layers, labels)
    k = min(spec.cam_images, n)
    cam = {
        "layers": layers,
        "target": spec.sfd_target,
        "images": list(range(k)),
        "explained_class": explained[:k].tolist(),
        "predicted_class": predicted[:k].tolist(),
        "true_class": true_labels[:k].tolist(),
        "maps": {name: np.round(raw[name][:k], 5).tolist() for name in layers},
    }
    if true_masks is None:
        return {"skipped": f"dataset {data.name!r} has no object masks or boxes"}, cam
    masks = _masks_at(true_masks, data.image_size)
    by_layer = {}
    for name in layers:
        maps = upsample(raw[name], masks.shape[-2:])
        by_layer[name] = score_maps(maps, masks, spec.sfd_tau, spec.bootstrap)
    sfd = {"layer": layers[0], "target": spec.sfd_target, **by_layer[layers[0]]}
    sfd["by_layer"] = {
        name: {k: v for k, v in scores.items() if not k.endswith("per_image")}
        for name, scores in by_layer.items()
    }
    return sfd, cam


def first_images(
    split: Split | BatchSource, n: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The first ``n`` validation images (uint8), labels and masks (None if any batch has none)."""
    images, labels, masks = [], [], []
    for x, y, m in split.batches(min(n, CAM_BATCH), device):
        images.append(x)
        labels.append(y)
        masks.append(m)
        if sum(len(b) for b in labels) >= n:
            break
    has_masks = all(m is not None for m in masks)
    return (
        torch.cat(images)[:n],
        torch.cat(labels)[:n].cpu(),
        torch.cat(masks)[:n] if has_masks else None,  # type: ignore[arg-type]
    )


def _masks_at(masks: torch.Tensor, size: int) -> np.ndarray:
    """Boolean (N, size, size) masks; resized (nearest) when the dataset's differ."""
    if masks.shape[-1] != size or masks.shape[-2] != size:
        masks = nn.functional.interpolate(masks[:, None].float(), (size, size), mode="nearest")
        masks = masks[:, 0] > 0.5
    return masks.bool().cpu().numpy()
