"""Grid expansion: axes, collapsing, rejection, validation."""

from __future__ import annotations

import pytest

from bench.errors import GridError
from bench.grid import expand_grid


def doc(**grid):
    return {"study": {"name": "t"}, "data": {"name": "shapes"}, "grid": grid}


def test_cartesian_product_and_seeds():
    grid = expand_grid(
        doc(backbone="resnet20", attention=["none", "se"], reduction=[8, 16], seed=[0, 1, 2])
    )
    # none collapses over reductions: 3 baselines + se x 2 reductions x 3 seeds
    assert len(grid.specs) == 3 + 6
    assert grid.collapsed == 3
    se = [s for s in grid.specs if s.attention == "se"]
    assert {dict(s.hparams)["reduction"] for s in se} == {8, 16}
    assert {s.placement for s in se} == {"block"}  # the module's default placement


def test_none_ignores_placement_and_reduction():
    grid = expand_grid(
        doc(backbone="resnet20", attention="none", placement=["block", "post"], reduction=[4, 8])
    )
    assert len(grid.specs) == 1
    spec = grid.specs[0]
    assert (spec.placement, spec.hparams, spec.stages) == (None, (), None)


def test_run_ids_unique_and_stable():
    a = expand_grid(doc(backbone="resnet20", attention=["none", "se"], seed=[0, 1]))
    b = expand_grid(doc(backbone="resnet20", attention=["none", "se"], seed=[0, 1]))
    assert [s.run_id for s in a.specs] == [s.run_id for s in b.specs]
    assert len({s.run_id for s in a.specs}) == 4
    # seeds share a configuration id
    assert len({s.config_id for s in a.specs}) == 2


def test_union_of_slices_deduplicates():
    d = doc()
    d["grid"] = [
        {"backbone": "resnet20", "attention": ["none", "se"]},
        {"backbone": "resnet20", "attention": ["se"]},
    ]
    assert len(expand_grid(d).specs) == 2


def test_flat_stages_list_is_one_choice():
    grid = expand_grid(doc(backbone="resnet20", attention="se", stages=[2, 3]))
    assert [s.stages for s in grid.specs] == [(2, 3)]


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({"backbone": "resnt20"}, "did you mean 'resnet20'"),
        ({"backbone": "resnet20", "attention": "sse"}, "did you mean 'se'"),
        ({"backbone": "resnet20", "attention": "se", "placement": "blok"}, "did you mean 'block'"),
        ({"backbone": "resnet20", "seed": -1}, "non-negative"),
        ({"backbone": "resnet20", "attention": "se", "alpah": 0.1}, "neither an axis"),
        ({"attention": "se"}, "needs at least"),
    ],
)
def test_bad_grid_values(grid, message):
    with pytest.raises(GridError, match=message):
        expand_grid(doc(**grid))


@pytest.mark.parametrize(
    ("section", "table", "message"),
    [
        ("train", {"epochs": -1}, "must not be negative"),
        ("train", {"epochs": 0}, "between 1 and"),
        ("train", {"epochs": 10**12}, "between 1 and 10_000"),
        ("train", {"epochs": "ten"}, "wrong type"),
        ("train", {"lr": True}, "wrong type"),
        ("train", {"eppochs": 3}, "did you mean 'epochs'"),
        ("data", {"name": "cifar11"}, "unknown dataset"),
    ],
)
def test_bad_tables(section, table, message):
    d = doc(backbone="resnet20")
    d[section] = {"name": "shapes"} | table if section == "data" else table
    with pytest.raises(GridError, match=message):
        expand_grid(d)


def test_ints_accepted_for_floats():
    d = doc(backbone="resnet20")
    d["train"] = {"lr": 1, "milestones": [2, 4]}
    spec = expand_grid(d).specs[0]
    assert spec.train.lr == 1.0 and spec.train.milestones == (2, 4)


def test_specs_store_every_hyper_parameter_resolved():
    import registry

    grid = expand_grid(doc(backbone="resnet20", attention="cbam", reduction=[8, 16]))
    stored = [dict(s.hparams) for s in grid.specs]
    defaults = registry.hparam_defaults("cbam")
    assert stored == [defaults | {"reduction": 8}, defaults]
    assert stored[1]["kernel_size"] == 7  # a default the grid never named is in the spec
    labels = [s.label for s in grid.specs]
    assert labels == ["resnet20 + cbam@block r8", "resnet20 + cbam@block r16"]


def test_a_default_change_changes_the_run_id(monkeypatch):
    import registry

    before = expand_grid(doc(backbone="resnet20", attention="cbam")).specs[0]
    changed = registry.hparam_defaults("cbam") | {"kernel_size": 3}
    monkeypatch.setattr(registry, "resolve_hparams", lambda attention, given=None: changed)
    after = expand_grid(doc(backbone="resnet20", attention="cbam")).specs[0]
    assert after.run_id != before.run_id


def test_zero_init_last_is_a_recipe_choice_with_its_own_id():
    from bench.trial import check_buildable

    cells = [
        {"backbone": "resnet20", "attention": "se"},
        {"backbone": "resnet20", "attention": "se", "train": {"zero_init_last": True}},
    ]
    plain, zeroed = expand_grid({"study": {"name": "t"}, "grid": cells}).specs
    assert "zero_init_last" not in plain.canonical()["train"]  # ids from before the field exist
    assert zeroed.train.zero_init_last and zeroed.run_id != plain.run_id
    preact = expand_grid(
        doc(backbone="preresnet164", attention="se", train={"zero_init_last": True})
    ).specs
    with pytest.raises(GridError, match="pre-activation"):
        check_buildable(preact)


def test_every_attention_passes_the_trial_build():
    """The meta-device trial `bench run` does before training accepts every registered module."""
    import registry
    from bench.trial import check_buildable

    check_buildable(
        expand_grid(doc(backbone="resnet20", attention=registry.ATTENTIONS.names())).specs
    )


def test_a_flat_list_of_kernel_sizes_is_one_choice():
    (spec,) = expand_grid(doc(backbone="resnet20", attention="eca", kernel_sizes=[3, 5, 7])).specs
    assert dict(spec.hparams)["kernel_sizes"] == (3, 5, 7)
    assert spec.label == "resnet20 + eca@block kernel_sizes=(3, 5, 7)"
    default = expand_grid(doc(backbone="resnet20", attention="eca")).specs[0]
    assert dict(default.hparams)["kernel_sizes"] == ()


def test_a_bad_entry_in_a_kernel_size_list_names_the_list():
    with pytest.raises(GridError, match=r"kernel_sizes = \[3, 'a', 5\] must be a list of integers"):
        expand_grid(doc(backbone="resnet20", attention="eca", kernel_sizes=[3, "a", 5]))
    axis = expand_grid(
        doc(backbone="resnet20", attention="eca", kernel_sizes=[[3, 3, 3], [5, 5, 5]])
    )
    assert [dict(s.hparams)["kernel_sizes"] for s in axis.specs] == [(3, 3, 3), (5, 5, 5)]
