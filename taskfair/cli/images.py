"""Write a synthetic image folder with its labels.csv (image, label, group)."""
from __future__ import annotations

from pathlib import Path

from ..config.values import number_arg
from .options import SEED


def add_parser(sub) -> None:
    m = sub.add_parser("images", help="write a synthetic image folder with labels.csv (image, label, group)")
    m.add_argument("folder")
    m.add_argument("--n", type=number_arg(integer=True, lo=1, hi=1_000_000), default=1200, help="number of images (default 1200)")
    m.add_argument("--size", type=number_arg(integer=True, lo=4, hi=4096), default=32, help="image side in pixels (default 32)")
    m.add_argument("--seed", type=SEED, default=0)
    m.add_argument("--overwrite", action="store_true", help="replace an existing labels.csv")
    m.set_defaults(fn=run)


def run(args) -> int:
    from ..data.images import load_image_folder, synthetic_image_folder
    csv = synthetic_image_folder(args.folder, n=args.n, size=args.size, seed=args.seed, overwrite=args.overwrite)
    data = load_image_folder(csv, group_column="group")
    print(f"wrote {len(data)} images and {csv}")
    print(data.group_sizes().to_string(index=False))
    default = Path("data/synthetic-images/labels.csv")
    same = csv.resolve() == default.resolve()
    print("next: python -m precompute --config images-demo" + ("" if same else f" --set dataset.path={csv}"))
    return 0
