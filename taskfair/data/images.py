"""Image datasets: an image folder with a labels-and-groups CSV, read into the same
:class:`~taskfair.data.Dataset` as text (its ``texts`` are the images' absolute paths), and a
synthetic image folder for demos and tests.

The CSV has one row per image: a path relative to the image root (column ``image``), a binary
``label`` and subgroup membership, either one 0/1 column per subgroup or one column listing
groups (``"women|over-60"``), exactly as :func:`taskfair.data.dataset_from_frame` takes them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from .dataset import DataError, Dataset
from .tables import dataset_from_frame, read_table

__all__ = ["IMAGE_SUFFIXES", "is_image_run", "load_image_folder", "open_image", "synthetic_image_folder",
           "SYNTHETIC_GROUPS"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def is_image_run(config: Mapping) -> bool:
    """Whether a run's config (the dict stored in its manifest) read an image folder: its
    ``text`` column then holds image paths."""
    return config["dataset"]["name"] == "image_folder"


def open_image(path: str | Path):
    """The image at ``path`` as an RGB PIL image; a missing or unreadable file is a
    :class:`DataError` that names it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except FileNotFoundError:
        raise DataError(f"image {path} does not exist. The images must stay where the run found "
                        "them; move them back or rerun precompute.") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"image {path} cannot be read as an image ({exc}). Replace the file or "
                        "drop its row from the CSV.") from None


def load_image_folder(
    csv: str | Path,
    *,
    image_root: str | Path | None = None,
    image_column: str = "image",
    check_images: bool = True,
    **kwargs,
) -> Dataset:
    """An image classification dataset from ``csv`` (CSV/TSV/parquet/JSONL).

    Args:
        csv: the table of images, labels and groups.
        image_root: folder the image paths are relative to; default: the table's folder.
        image_column: the column holding the image paths.
        check_images: open every image's header once, so a broken file fails here and not
            halfway through training.
        **kwargs: ``label_column``, ``group_columns`` / ``group_column``, ``groups``,
            ``label_threshold`` … as in :func:`taskfair.data.dataset_from_frame`.
    """
    from PIL import Image, UnidentifiedImageError

    csv = Path(csv)
    if not csv.exists():
        raise DataError(f"image table {csv} does not exist. Point dataset.path at your labels CSV, or "
                        f"write the synthetic demo folder first: python -m taskfair images {csv.parent}")
    df = read_table(csv)
    source = str(csv)
    root = Path(image_root) if image_root is not None else csv.parent
    if not root.is_dir():
        raise DataError(f"{source}: image root {root} is not a folder; set dataset.image_root")
    if image_column not in df.columns:
        raise DataError(f"{source}: no image column '{image_column}'; columns: {list(df.columns)}. "
                        "Set dataset.image_column to the column holding the image paths.")
    cells = df[image_column]
    empty = np.flatnonzero(~cells.map(lambda v: isinstance(v, str) and v.strip() != "").to_numpy())
    if len(empty):
        raise DataError(f"{source}: column '{image_column}' is empty in {len(empty)} row(s) "
                        f"(row {', '.join(map(str, empty[:8]))}). Drop those rows.")
    paths = [(root / p.strip()).resolve() for p in cells]
    suffix = [i for i, p in enumerate(paths) if p.suffix.lower() not in IMAGE_SUFFIXES]
    if suffix:
        raise DataError(f"{source}: {len(suffix)} path(s) are not image files (row {suffix[0]}: "
                        f"{paths[suffix[0]].name}); taskfair reads {list(IMAGE_SUFFIXES)}.")
    missing = [i for i, p in enumerate(paths) if not p.is_file()]
    if missing:
        shown = ", ".join(f"row {i}: {paths[i]}" for i in missing[:3])
        raise DataError(f"{source}: {len(missing)} image(s) do not exist ({shown}"
                        f"{' …' if len(missing) > 3 else ''}). Check dataset.image_root "
                        f"(now {root}) or drop those rows.")
    if check_images:
        for i, p in enumerate(paths):
            try:
                with Image.open(p) as im:
                    im.verify()
            except (UnidentifiedImageError, OSError) as exc:
                raise DataError(f"{source}: row {i}: {p} is not a readable image ({exc}). "
                                "Replace the file or drop its row.") from None
    df = df.assign(**{image_column: [str(p) for p in paths]})
    kwargs.setdefault("name", f"images:{csv.stem}")
    return dataset_from_frame(df, text_column=image_column, **kwargs)


# --------------------------------------------------------------------------- synthetic

SYNTHETIC_GROUPS: tuple[str, ...] = ("bright", "dim", "noisy")
# share of images, positive rate, shape contrast, pixel noise: the groups differ in how hard the
# task is and in their base rate, so a model trained on all of them is not equally fair to each
_SYNTHETIC = {
    "bright": (0.5, 0.5, 0.8, 0.05),
    "dim": (0.3, 0.3, 0.15, 0.08),
    "noisy": (0.2, 0.6, 0.6, 0.4),
}


def synthetic_image_folder(folder: str | Path, *, n: int = 600, size: int = 32, seed: int = 0,
                           overwrite: bool = False) -> Path:
    """Write ``n`` generated PNG images and ``labels.csv`` (``image, label, group``) to ``folder``.

    Label 1 is vertical stripes, label 0 horizontal ones, in a random box on a coloured background.
    The three subgroups (``bright``, ``dim``, ``noisy``) differ in contrast, noise and positive
    rate. Not a real benchmark: it exercises the image pipeline where real images cannot be had.
    Returns the CSV's path.
    """
    from PIL import Image

    folder = Path(folder)
    csv = folder / "labels.csv"
    if csv.exists() and not overwrite:
        raise DataError(f"{csv} already exists; pass overwrite=True (--overwrite) or choose another folder")
    if n < 30 or size < 16:
        raise DataError(f"need n ≥ 30 and size ≥ 16, got n={n}, size={size}")
    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    shares = np.array([v[0] for v in _SYNTHETIC.values()])
    groups = rng.choice(len(_SYNTHETIC), size=n, p=shares / shares.sum())
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    rows = []
    for i, gi in enumerate(groups):
        name = SYNTHETIC_GROUPS[gi]
        _, pos_rate, contrast, noise = _SYNTHETIC[name]
        label = int(rng.random() < pos_rate)
        background = rng.uniform(0.2, 0.8, size=3)
        shade = rng.choice([-1, 1]) * contrast * rng.uniform(0.6, 1.0, size=3) / 2
        period = rng.uniform(4, 9)
        axis = xx if label else yy
        stripes = np.sin(2 * np.pi * (axis / period + rng.random())) > 0
        # the stripes fill a random box; the rest is plain background
        w, h = rng.uniform(0.5, 1.0, size=2) * size
        x0, y0 = rng.uniform(0, size - w), rng.uniform(0, size - h)
        box = (xx >= x0) & (xx <= x0 + w) & (yy >= y0) & (yy <= y0 + h)
        img = background + np.where((stripes & box)[..., None], shade, -shade * box[..., None])
        img = np.clip(img + rng.normal(0, noise, size=img.shape), 0, 1)
        rel = f"images/{i:05d}.png"
        Image.fromarray((img * 255).round().astype(np.uint8)).save(folder / rel)
        rows.append((rel, label, name))
    tmp = csv.with_suffix(".csv.tmp")
    pd.DataFrame(rows, columns=["image", "label", "group"]).to_csv(tmp, index=False)
    tmp.replace(csv)
    return csv

