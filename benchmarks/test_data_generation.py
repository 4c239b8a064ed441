"""How long the generated datasets take: fashion_clutter (from the real files) and shapes.

The docs quote these: generation has to stay a matter of seconds, or every grid pays it per process.
"""

from __future__ import annotations

import pytest
import torch

from bench.data import clutter, idx
from bench.data.shapes import make_shapes_splits
from bench.spec import DataSpec

REAL = (idx.FASHION_MNIST.system[0] / "train-images-idx3-ubyte.gz").is_file()


@pytest.mark.skipif(not REAL, reason="needs Debian's dataset-fashion-mnist")
def test_fashion_clutter_10k_canvases(benchmark):
    source = idx.load_idx(DataSpec("fashion_mnist"))
    items, labels = source.train.images, source.train.labels
    assert isinstance(items, torch.Tensor)
    benchmark.pedantic(
        clutter.make_canvases,
        args=(items, labels, 10_000, clutter.CANVAS, 0, clutter.DEFAULTS),
        rounds=3,
    )


def test_shapes_4k_images(benchmark):
    benchmark.pedantic(make_shapes_splits, args=(4000, 1000), kwargs={"seed": 0}, rounds=3)
