"""The bare script ``test_end_to_end.py`` times ``bench run`` against: same data, same models, same
SGD steps, written the way a researcher would write it by hand (no records, no measurement).

    python benchmarks/bare_train.py ATTENTION [ATTENTION ...] --epochs E --batch B --train N --val M
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import registry
from bench.data import load_dataset
from bench.spec import DataSpec


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("attention", nargs="+")
    parser.add_argument("--backbone", default="resnet20")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--train", type=int, default=512)
    parser.add_argument("--val", type=int, default=256)
    args = parser.parse_args()
    data = load_dataset(DataSpec("shapes", image_size=32, train_size=args.train, val_size=args.val))
    mean = torch.tensor(data.mean).view(1, -1, 1, 1)
    std = torch.tensor(data.std).view(1, -1, 1, 1)
    x_train = (data.train.images.float() / 255 - mean) / std
    x_val = (data.val.images.float() / 255 - mean) / std
    for attention in args.attention:
        torch.manual_seed(0)
        model = registry.build_model(args.backbone, attention, num_classes=data.num_classes)
        opt = torch.optim.SGD(
            model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4
        )
        steps = args.epochs * -(-len(x_train) // args.batch)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, 0.1, total_steps=steps)
        for _ in range(args.epochs):
            model.train()
            order = torch.randperm(len(x_train))
            for i in range(0, len(order), args.batch):
                idx = order[i : i + args.batch]
                x = x_train[idx]
                x = torch.where(torch.rand(len(x), 1, 1, 1) < 0.5, x.flip(3), x)
                loss = F.cross_entropy(model(x), data.train.labels[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
            model.eval()
            with torch.no_grad():
                top1 = (model(x_val).argmax(1) == data.val.labels).float().mean().item()
        print(f"{attention}: val top-1 {100 * top1:.2f} %")


if __name__ == "__main__":
    main()
