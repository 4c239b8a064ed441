"""sfd and the pointing games on hand-made maps; Grad-CAM layers; the record fields."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

import registry
from bench.data import ImageDataset, Split
from bench.errors import BenchError
from bench.measure.saliency import (
    anti_log,
    bootstrap_ci,
    cam_layers,
    energy_in_mask,
    gradcam_maps,
    measure_saliency,
    pointing_hit,
    sfd_score,
    upsample,
)
from bench.spec import MeasureSpec

MASK = np.array([[True, True, False, False]] * 2)


def test_anti_log_keeps_the_ends() -> None:
    assert anti_log(np.array([0.0, 1.0])).tolist() == pytest.approx([0.0, 1.0])
    assert anti_log(np.array(0.5)) == pytest.approx((math.exp(0.5) - 1) / (math.e - 1))


def test_sfd_all_inside_is_one_and_all_outside_is_zero() -> None:
    inside = np.array([[0.2, 0.9, 0, 0]] * 2)
    outside = np.array([[0, 0, 0.7, 0.3]] * 2)
    assert sfd_score(inside, MASK) == 1.0
    assert sfd_score(outside, MASK) == 0.0
    assert energy_in_mask(inside, MASK) == 1.0 and energy_in_mask(outside, MASK) == 0.0
    assert pointing_hit(inside, MASK) == 1.0 and pointing_hit(outside, MASK) == 0.0


def test_sfd_of_a_known_mix() -> None:
    # min-max normalised this is w = [1, 0.5, 0.25, 0] with R = the first pixel: B adds the
    # 0.5 pixel (>= tau) but not the 0.25 one; sfd = s(1) / (s(1) + s(0.5))
    cam = np.array([[2.0, 1.5, 1.25, 1.0]])
    mask = np.array([[True, False, False, False]])
    s_half = (math.exp(0.5) - 1) / (math.e - 1)
    assert sfd_score(cam, mask) == pytest.approx(1 / (1 + s_half))  # 0.7259
    assert sfd_score(cam, mask, tau=0.2) == pytest.approx(1 / (1 + s_half + anti_log(0.25)))
    assert sfd_score(cam, mask, tau=0.9) == 1.0
    assert energy_in_mask(cam, mask) == pytest.approx(1 / 1.75)
    assert pointing_hit(cam, mask) == 1.0


def test_a_blank_map_has_no_score() -> None:
    blank = np.full((2, 4), 0.3)
    assert sfd_score(blank, MASK) is None
    assert energy_in_mask(blank, MASK) is None
    assert pointing_hit(blank, MASK) is None


def test_bootstrap_ci_brackets_the_mean_and_repeats() -> None:
    values = [0.1, 0.5, 0.9, 0.4, 0.6, 0.3]
    low, high = bootstrap_ci(values, 500)
    assert low < np.mean(values) < high
    assert bootstrap_ci(values, 500) == (low, high)
    assert bootstrap_ci([0.5] * 5) == pytest.approx((0.5, 0.5))


def test_default_layers_skip_1x1_maps_and_explicit_1x1_is_rejected() -> None:
    model = registry.build_model("resnet18", num_classes=10)  # ImageNet stem: layer4 is 1x1 at 32
    assert cam_layers(model, 32, 3) == ["layer3", "layer2"]
    assert cam_layers(model, 224, 3) == ["layer4", "layer3"]
    with pytest.raises(BenchError, match="1x1"):
        cam_layers(model, 32, 3, ("layer4",))
    with pytest.raises(BenchError, match="not a module path"):
        cam_layers(model, 32, 3, ("layer9",))


def test_gradcam_maps_match_pytorch_grad_cam() -> None:
    torch.manual_seed(0)
    model = registry.build_model("resnet20", "se", num_classes=4)
    x = torch.randn(3, 3, 32, 32)
    raw, explained, predicted = gradcam_maps(model, x, ["layer3", "layer2"])
    assert raw["layer3"].shape == (3, 8, 8) and raw["layer2"].shape == (3, 16, 16)
    assert (explained == predicted).all()
    assert all(p.grad is None for p in model.parameters())  # gradients cleared afterwards
    targets = [ClassifierOutputTarget(int(c)) for c in explained]
    with GradCAM(model, [model.layer2]) as cam:
        reference = cam(input_tensor=x, targets=targets)
    assert np.allclose(upsample(raw["layer2"], (32, 32)), reference, atol=1e-5)


def tiny_dataset(masks: bool = True) -> ImageDataset:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (12, 3, 32, 32), dtype=torch.uint8, generator=g)
    labels = torch.arange(12) % 4
    box = torch.zeros(12, 32, 32, dtype=torch.bool)
    box[:, 8:24, 8:24] = True
    val = Split(images, labels, box if masks else None)
    return ImageDataset("tiny", 4, val, val, (0.5,) * 3, (0.25,) * 3)


def test_measure_saliency_record_fields() -> None:
    model = registry.build_model("resnet20", num_classes=4)
    spec = MeasureSpec(sfd_images=10, cam_images=3, bootstrap=200, sfd_target="true")
    sfd, cam = measure_saliency(model, tiny_dataset(), torch.device("cpu"), spec)
    assert sfd["layer"] == "layer3" and set(sfd["by_layer"]) == {"layer3", "layer2"}
    assert sfd["n"] + sfd["n_degenerate"] == 10 and len(sfd["per_image"]) == 10
    assert 0 <= sfd["ci95_low"] <= sfd["mean"] <= sfd["ci95_high"] <= 1
    assert 0 <= sfd["energy_in_mask_mean"] <= 1 and 0 <= sfd["pointing_hit_rate"] <= 1
    assert sfd["tau"] == 0.5 and sfd["target"] == "true"
    assert cam["images"] == [0, 1, 2] and cam["explained_class"] == [0, 1, 2]
    assert np.asarray(cam["maps"]["layer3"]).shape == (3, 8, 8)


def test_a_dataset_without_masks_skips_sfd_but_keeps_maps() -> None:
    model = registry.build_model("resnet20", num_classes=4)
    spec = MeasureSpec(sfd_images=4, cam_images=2)
    sfd, cam = measure_saliency(model, tiny_dataset(masks=False), torch.device("cpu"), spec)
    assert "no object masks" in sfd["skipped"]
    assert cam is not None and len(cam["maps"]["layer3"]) == 2
