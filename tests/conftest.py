import os

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def redditbias():
    from taskfair import load_redditbias
    return load_redditbias()


@pytest.fixture(scope="session")
def small_real(redditbias):
    """A few hundred real rows of two groups (female, muslims), balanced."""
    from taskfair.data import split_dataset
    two = redditbias.select_groups(["female", "muslims"])
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(len(two), size=480, replace=False))
    return split_dataset(two.subset(idx), seed=13, test_size=0.25, val_size=0.2)


@pytest.fixture
def tiny_bert():
    from taskfair import tiny_classifier
    return tiny_classifier("bert", seed=0)


PICO_OVERRIDES = {
    "model": "tiny-bert",
    "dataset.subgroups": ["female", "muslims", "black"],
    "dataset.max_rows": 360,
    # tiny random BERT needs several epochs at a high rate to stop predicting one class
    "train.epochs": 6,
    "train.learning_rate": 3.0e-3,
    "train.max_length": 32,
    "lora.learning_rate": 3.0e-3,
    "grids.uniform": [0.0, 0.5, 1.0],
    "grids.inject": [0.0, 0.5, 1.0],
    "grids.axis": [0.0, 0.5, 1.0],
    "grids.probes": 6,
    "eval.precision": "fp32",
    "train.min_steps": 0,
}


@pytest.fixture(scope="session")
def pico_store(tmp_path_factory):
    """A finished pico run (tiny BERT, 360 real rows, three groups) in a fresh artifact root."""
    from precompute.profiles import load_profile
    from precompute.pipeline import run_study
    root = tmp_path_factory.mktemp("artifacts")
    cfg = load_profile("quick", {**PICO_OVERRIDES, "name": "pico", "output_root": str(root)})
    run_study(cfg, progress=False)
    return root
