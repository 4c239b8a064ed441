"""`bench describe` describes the model as trained: the backbone's own classes and input size by
default, a 1-channel stem on request, a stored run at its data's input."""

from __future__ import annotations

import json

import pytest

from bench.describe import describe_model, describe_record
from bench.errors import BenchError
from bench.store import record_path, write_record
from tests.conftest import golden_record, run_cli


def test_a_cifar_backbone_is_described_at_10_classes_and_32_px(tmp_path):
    result = run_cli(
        "describe", "--backbone", "resnet20", "--attention", "se", "--json", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)
    assert (facts["num_classes"], facts["image_size"], facts["in_chans"]) == (10, 32, 3)
    # the ResNet-20 + SE of the reports (0.275 M, 0.041 GMACs), not an ImageNet-sized one
    assert facts["params"]["total_m"] == pytest.approx(0.2753, abs=5e-4)
    assert facts["gmacs"] == pytest.approx(0.041, abs=2e-3)


def test_an_imagenet_backbone_keeps_1000_classes_at_224_px():
    facts = describe_model("resnet18")
    assert (facts["num_classes"], facts["image_size"]) == (1000, 224)


def test_in_chans_sets_the_stem():
    grey, rgb = describe_model("resnet20", in_chans=1), describe_model("resnet20")
    # the first conv (16 filters of 3x3) loses 2 input channels: 2 x 9 x 16 weights
    assert rgb["params"]["total_m"] - grey["params"]["total_m"] == pytest.approx(288e-6, abs=1e-9)


def test_a_stored_run_is_described_at_its_data(tmp_path):
    record = golden_record("mine", "se", 0, 80.0, dataset="fashion_mnist")
    record["data"] = {"num_classes": 10, "in_chans": 1, "image_size": 28}
    write_record(record_path(tmp_path, "mine", record["run_id"]), record)
    facts = describe_record(tmp_path, record["run_id"])
    assert (facts["in_chans"], facts["image_size"], facts["attention"]) == (1, 28, "se")
    with pytest.raises(BenchError, match="no record 'abcdef012345'"):
        describe_record(tmp_path, "abcdef012345")
