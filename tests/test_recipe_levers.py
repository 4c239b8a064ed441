"""The budget recipe's levers (weight EMA, flip test-time augmentation) and the paired design.

The moving average and the flip never change training, so a run records the accuracy of its final
weights scored every way (``eval_variants``); runs with the same seed share the backbone's initial
weights and the batch order whatever the attention module, so comparisons are paired.
"""

from __future__ import annotations

import torch

import registry
from bench.data.augment import normalize
from bench.spec import DataSpec, RunSpec, TrainSpec
from bench.train import build_for_run, evaluate, prepare, train_model
from tests.fake_data import tiny_dataset

CPU = torch.device("cpu")


def _spec(attention: str = "none", **train) -> RunSpec:
    recipe = {"epochs": 2, "batch_size": 16, "lr": 0.05} | train
    placement = None if attention == "none" else registry.default_placement(attention)
    return RunSpec(
        "t",
        "resnet20",
        attention=attention,
        placement=placement,
        hparams=tuple(sorted(registry.resolve_hparams(attention, {}).items())),
        data=DataSpec("shapes"),
        train=TrainSpec(**recipe),
    )


def test_ema_and_flip_do_not_change_training():
    data = tiny_dataset()
    plain = train_model(_spec(), data, CPU)
    levers = train_model(_spec(ema_decay=0.9, tta_flip=True), data, CPU)
    # the raw weights of the run with levers are the plain run's, bit for bit
    raw_top1 = plain.curves[-1]["val_top1_pct"]
    assert levers.eval_variants["raw"] == raw_top1
    assert plain.eval_variants == {"raw": raw_top1, "raw_flip": plain.eval_variants["raw_flip"]}
    # the reported accuracy is the evaluated model's: the average, with the flip
    assert levers.curves[-1]["val_top1_pct"] == levers.eval_variants["ema_flip"]
    assert set(levers.eval_variants) == {"raw", "raw_flip", "ema", "ema_flip"}


def test_the_average_is_what_is_returned_and_differs_from_the_weights():
    session_spec = _spec(ema_decay=0.9)
    result = train_model(session_spec, tiny_dataset(), CPU)
    plain = train_model(_spec(), tiny_dataset(), CPU)
    returned = dict(result.model.state_dict())
    raw = dict(plain.model.state_dict())
    assert returned.keys() == raw.keys()
    assert any(not torch.equal(returned[k], raw[k]) for k in raw if raw[k].is_floating_point()), (
        "the returned model must be the moving average, not the raw weights"
    )


def test_flip_evaluation_averages_the_logits_of_both_mirrors():
    data = tiny_dataset()
    spec = _spec()
    model = build_for_run(spec, data).eval()
    session = prepare(spec, data, CPU)
    mean, std = session.mean, session.std
    images, labels = data.val.images, data.val.labels
    with torch.inference_mode():
        x = normalize(images, mean, std)
        logits = (model(x) + model(x.flip(3))) / 2
    expected = 100 * (logits.argmax(1) == labels).float().mean().item()
    got = evaluate(model, data.val, mean, std, spec.train, CPU, flip=True)["val_top1_pct"]
    assert abs(got - expected) < 1e-9


def test_levers_keep_old_run_ids_at_their_defaults():
    spec = _spec()
    assert "ema_decay" not in spec.canonical()["train"]
    assert "tta_flip" not in spec.canonical()["train"]
    assert _spec(ema_decay=0.99).run_id != spec.run_id
    assert _spec(tta_flip=True).run_id != spec.run_id


def test_same_seed_shares_backbone_init_and_batches_whatever_the_module():
    """The paired design: ``none``, ``se`` and a module that draws random numbers in its
    constructor (CBAM's and BAM's convolutions, ``nonlocal``) start from the same backbone weights
    and see the same first batches at one seed."""
    data = tiny_dataset()
    sessions = {
        name: prepare(_spec(name), data, CPU) for name in ("none", "se", "cbam", "bam", "nonlocal")
    }
    base = sessions.pop("none")
    base_state = base.model.state_dict()
    base_batches = _first_batches(base, data)
    for name, session in sessions.items():
        state = session.model.state_dict()
        shared = [k for k in base_state if k in state]
        assert len(shared) == len(base_state), f"{name}: backbone keys differ"
        for key in shared:
            assert torch.equal(state[key], base_state[key]), f"{name}: {key} differs at init"
        for (a, la), (b, lb) in zip(base_batches, _first_batches(session, data), strict=True):
            assert torch.equal(a, b) and torch.equal(la, lb), f"{name}: batch order differs"


def _first_batches(session, data, count: int = 2):
    batches = data.train.batches(16, CPU, generator=session.generator, augment=True)
    return [(images, labels) for (images, labels, _), _ in zip(batches, range(count), strict=False)]
