"""Random Erasing: the on-device batch version, its place in the recipe and in the run id."""

from __future__ import annotations

import torch

from bench.data.augment import ERASE_AREA, ERASE_FILL, random_erase
from bench.grid import expand_grid
from bench.report.papers import load_paper


def test_erases_one_box_per_chosen_image_with_the_papers_areas():
    images = torch.full((4000, 1, 28, 28), 200, dtype=torch.uint8)
    out = random_erase(images, 0.5, torch.Generator().manual_seed(0))
    fill = round(255 * ERASE_FILL)
    erased = out != 200
    assert set(out.unique().tolist()) == {fill, 200}
    share = erased.float().mean(dim=(1, 2, 3))
    hit = share > 0
    # p = 0.5, minus the draws whose box does not fit (one attempt, as the authors' code)
    assert 0.35 < hit.float().mean() < 0.5
    assert share[hit].min() >= ERASE_AREA[0] * 0.5 and share[hit].max() <= ERASE_AREA[1] * 1.2
    # each erased region is one axis-aligned rectangle: rows x cols of its bounding box
    for image in erased[hit][:50, 0]:
        rows, cols = image.any(1), image.any(0)
        assert image.sum() == rows.sum() * cols.sum()
    assert torch.equal(random_erase(images, 0.0, torch.Generator().manual_seed(0)), images)


def test_run_ids_of_runs_without_erasing_are_unchanged():
    doc = {
        "study": {"name": "x"},
        "grid": [
            {"backbone": "resnet20"},
            {"backbone": "resnet20", "train": {"random_erasing": 0.5}},
        ],
    }
    plain, erased = expand_grid(doc).specs
    assert "random_erasing" not in plain.canonical()["train"]  # ids from before the field exist
    assert erased.train.random_erasing == 0.5 and plain.run_id != erased.run_id
    assert plain.run_id == expand_grid({**doc, "grid": {"backbone": "resnet20"}}).specs[0].run_id


def test_anchor_table_is_the_published_one():
    table = load_paper("random_erasing").tables[0]
    published = {row.label: row.published["top1_err"] for row in table.rows}
    assert published["ResNet-20"] == 4.39 and published["ResNet-20 + RE"] == 4.02
    assert published["WRN-28-10 + RE"] == 3.65 and len(published) == 12
