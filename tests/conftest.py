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


def pico_table(path) -> str:
    """A small table a tiny random BERT can learn (a tiny model learns nothing from 250 real
    RedditBias comments: every point of such a run is a constant predictor). 420 short comments
    about women, Muslims and Black people (a few about two groups); the label follows a hostile or
    friendly word, with 10% of labels flipped and a base rate that differs by group, so accuracy
    stays below 1 and the groups' selection rates differ."""
    import pandas as pd
    terms = {"female": ["women", "girls", "ladies", "she"], "muslims": ["muslims", "islam", "mosques"],
             "black": ["black people", "black folks", "black neighbours"]}
    bad = ["awful", "stupid", "hateful", "ugly", "nasty", "rude", "dirty", "evil", "lazy", "violent"]
    good = ["lovely", "kind", "great", "helpful", "calm", "friendly", "bright", "honest", "smart", "generous"]
    filler = ["they", "are", "always", "very", "some", "those", "often", "really", "here", "around", "today"]
    base_rate = {"female": 0.35, "muslims": 0.6, "black": 0.5}
    rng = np.random.default_rng(7)
    rows = []
    for i in range(420):
        g = ("female", "muslims", "black")[i % 3]
        members = {g} | ({("female", "muslims", "black")[(i + 1) % 3]} if i % 20 == 0 else set())
        hostile = rng.random() < base_rate[g]
        words = [str(rng.choice(terms[m])) for m in sorted(members)] + list(rng.choice(filler, size=4))
        words.append(str(rng.choice(bad if hostile else good)))
        rng.shuffle(words)
        label = int(hostile) ^ int(rng.random() < 0.1)
        rows.append({"text": " ".join(words) + f" #{i}", "label": label, "group": "|".join(sorted(members))})
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


_PICO_DIR = __import__("tempfile").mkdtemp(prefix="taskfair-pico-")
PICO_OVERRIDES = {
    "model": "tiny-bert",
    "dataset.name": "table",
    "dataset.path": pico_table(os.path.join(_PICO_DIR, "pico.csv")),
    "dataset.group_column": "group",
    "dataset.subgroups": ["female", "muslims", "black"],
    "dataset.max_rows": 360,
    # tiny random BERT needs several epochs at a high rate to stop predicting one class
    "train.epochs": 6,
    "train.learning_rate": 3.0e-3,
    "train.max_length": 32,
    "lora.learning_rate": 1.0e-2,
    "grids.uniform": [0.0, 0.5, 1.0],
    "grids.inject": [0.0, 0.5, 1.0],
    "grids.axis": [-0.5, 0.0, 0.5, 1.0],
    "grids.probes": 6,
    "eval.precision": "fp32",
    "eval.compile": False,  # compiling costs tens of seconds a run; tests/test_study.py checks it once
    "train.min_steps": 150,  # the ~84-row subgroups need more than their 36 steps to learn
}


@pytest.fixture(scope="session")
def pico_store(tmp_path_factory):
    """A finished pico run (tiny BERT, 360 rows of a learnable table, three groups) in a fresh
    artifact root."""
    from precompute.profiles import load_profile
    from precompute.pipeline import run_study
    root = tmp_path_factory.mktemp("artifacts")
    cfg = load_profile("quick", {**PICO_OVERRIDES, "name": "pico", "output_root": str(root)})
    run_study(cfg, progress=False)
    return root
