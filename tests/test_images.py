"""The image setting: an image folder with a labels-and-groups CSV, a tiny random ViT, and the
same study, exact evaluation, export and dashboard as for text."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from precompute.profiles import load_profile
from taskfair.config import ConfigError
from taskfair.data import DataError
from taskfair.data.images import SYNTHETIC_GROUPS, load_image_folder, synthetic_image_folder
from taskfair.models.inference import predict_margins
from taskfair.models import is_image_model, load_classifier
from taskfair.vectors.taskvector import model_weights
from taskfair.models import TrainConfig, finetune, finetune_lora

ROOT = Path(__file__).resolve().parent.parent
IMAGE_OVERRIDES = {
    "seeds": [13],
    "train.epochs": 1,
    "grids.uniform": [0.0, 0.5, 1.0],
    "grids.inject": [0.0, 0.5, 1.0],
    "grids.axis": [0.0, 0.5, 1.0],
    "grids.pairs": [1.0],
    "grids.probes": 3,
    "grids.methods": ["ties"],
    "grids.methods_grid": [1.0],
    "eval.bootstrap": 20,
}


@pytest.fixture(scope="session")
def image_csv(tmp_path_factory):
    return synthetic_image_folder(tmp_path_factory.mktemp("images"), n=240, seed=1)


@pytest.fixture(scope="session")
def image_store(tmp_path_factory, image_csv):
    """A finished image study: tiny ViT on 240 generated images, three subgroups."""
    from precompute.pipeline import run_study
    root = tmp_path_factory.mktemp("image-artifacts")
    cfg = load_profile("images-demo", {**IMAGE_OVERRIDES, "dataset.path": str(image_csv),
                                      "output_root": str(root)})
    run_study(cfg, progress=False)
    return root


def test_synthetic_folder_is_deterministic_and_loads(image_csv, tmp_path):
    data = load_image_folder(image_csv, group_column="group")
    assert len(data) == 240 and data.groups == tuple(sorted(SYNTHETIC_GROUPS))
    assert set(np.unique(data.labels)) == {0, 1}
    assert data.membership.sum(axis=1).tolist() == [1] * 240
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in data.texts)
    again = synthetic_image_folder(tmp_path / "again", n=240, seed=1)
    assert pd.read_csv(again).equals(pd.read_csv(image_csv))
    assert (image_csv.parent / "images/00007.png").read_bytes() == (again.parent / "images/00007.png").read_bytes()
    with pytest.raises(DataError, match="already exists"):
        synthetic_image_folder(tmp_path / "again", n=240, seed=1)
    # the groups differ in base rate, as documented
    sizes = data.group_sizes().set_index("group")
    rate = sizes.positives / sizes.rows
    assert rate["dim"] < min(rate["bright"], rate["noisy"]) - 0.1


def _folder(tmp_path, rows, files=("a.png", "b.png")):
    from PIL import Image
    for f in files:
        Image.new("RGB", (8, 8), (200, 10, 10)).save(tmp_path / f)
    csv = tmp_path / "labels.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    return csv


@pytest.mark.parametrize("rows, message", [
    ([{"image": "a.png", "label": 1, "group": "x"}, {"image": "gone.png", "label": 0, "group": "x"}],
     r"1 image\(s\) do not exist \(row 1: .*gone.png"),
    ([{"image": "a.png", "label": 1, "group": "x"}, {"image": "notes.txt", "label": 0, "group": "x"}],
     r"not image files \(row 1: notes.txt\)"),
    ([{"image": "a.png", "label": 1, "group": "x"}, {"image": "broken.png", "label": 0, "group": "x"}],
     r"row 1: .*broken.png is not a readable image"),
    ([{"picture": "a.png", "label": 1, "group": "x"}], r"no image column 'image'.*dataset.image_column"),
    ([{"image": "a.png", "label": 1, "group": "x"}, {"image": "", "label": 0, "group": "x"}],
     r"column 'image' is empty in 1 row\(s\) \(row 1\)"),
    ([{"image": "a.png", "label": 3, "group": "x"}, {"image": "b.png", "label": 0, "group": "x"}],
     r"label column 'label' is not binary"),
])
def test_bad_image_folders_say_what_and_where(tmp_path, rows, message):
    csv = _folder(tmp_path, rows)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(DataError, match=message):
        load_image_folder(csv, group_column="group")


def test_a_missing_image_table_says_how_to_make_one(tmp_path):
    with pytest.raises(DataError, match=r"does not exist.*python -m taskfair images .*demo"):
        load_image_folder(tmp_path / "demo" / "labels.csv", group_column="group")


def test_image_root_is_honoured(tmp_path):
    from PIL import Image
    (tmp_path / "pics").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "pics" / "a.png")
    csv = tmp_path / "labels.csv"
    pd.DataFrame([{"image": "a.png", "label": 1, "g": 1}]).to_csv(csv, index=False)
    with pytest.raises(DataError, match="do not exist"):
        load_image_folder(csv, group_columns=["g"])
    data = load_image_folder(csv, image_root=tmp_path / "pics", group_columns=["g"])
    assert data.texts == (str((tmp_path / "pics" / "a.png").resolve()),)


def test_tiny_vit_margins_do_not_depend_on_batching(image_csv):
    data = load_image_folder(image_csv, group_column="group")
    model, processor = load_classifier("tiny-vit", head_seed=3)
    assert is_image_model("tiny-vit") and not is_image_model("tiny-bert")
    paths = list(data.texts[:23])
    a = predict_margins(model, processor, paths, batch_size=64)
    b = predict_margins(model, processor, paths, batch_size=5)
    assert a.shape == (23,) and np.isfinite(a).all()
    np.testing.assert_allclose(a, b, atol=1e-5)
    # the same θ0 for the same seed, another for another seed
    again, _ = load_classifier("tiny-vit", head_seed=3)
    other, _ = load_classifier("tiny-vit", head_seed=4)
    w, w2, w3 = (model_weights(m) for m in (model, again, other))
    assert all(torch.equal(w[k], w2[k]) for k in w)
    assert any(not torch.equal(w[k], w3[k]) for k in w)


def test_full_and_lora_fine_tunes_on_images(image_csv):
    data = load_image_folder(image_csv, group_column="group")
    cfg = TrainConfig(epochs=1, learning_rate=1e-3, batch_size=16, max_steps=4)
    model, processor = load_classifier("tiny-vit", head_seed=0)
    before = {k: v.clone() for k, v in model_weights(model).items()}
    losses = finetune(model, processor, data.texts[:64], data.labels[:64], cfg, progress=False)
    assert len(losses) == 4 and all(np.isfinite(losses))
    after = model_weights(model)
    assert all(not torch.equal(before[k], after[k]) for k in after if "embeddings" not in k or "cls" in k)

    base, processor = load_classifier("tiny-vit", head_seed=0)
    lora = finetune_lora(base, processor, data.texts[:64], data.labels[:64], cfg, progress=False)
    assert type(lora).__name__ == "ViTForImageClassification"  # merged back into a plain model
    changed = {k for k, v in model_weights(lora).items() if not torch.equal(v, before[k])}
    # LoRA touches the attention query/value projections and the head, nothing else
    assert changed and all(("q_proj" in k or "v_proj" in k or k.startswith("classifier")) for k in changed)
    assert any("q_proj" in k for k in changed) and any(k.startswith("classifier") for k in changed)


def test_image_study_stores_metrics_and_exact_evaluation_agrees(image_store):
    from taskfair.steering.exact import load_theta0, merged_model, model_margins
    from taskfair.store.results import load_results
    from taskfair.store import ArtifactStore

    res = load_results(image_store, "images-demo")
    groups = ArtifactStore(image_store).open("images-demo").groups()
    assert groups == sorted(SYNTHETIC_GROUPS)
    m = res.metrics
    assert set(m.group) == {*SYNTHETIC_GROUPS, "(all)"}
    assert {"fft", "lora", "uniform", "inject", "axis", "ties", "probe"} <= set(m.family)
    acc = m[(m.split == "test") & (m.group == "(all)") & (m.metric == "accuracy")]
    assert acc["value"].between(0, 1).all()
    assert m[(m.metric == "dpd")][["low", "high"]].notna().any().all()   # bootstrap intervals

    run = ArtifactStore(image_store).open("images-demo")
    base = load_theta0(run, 13)
    lams = [1.0 if g == "dim" else 0.0 for g in groups]
    exact = model_margins(run, 13, merged_model(run, 13, lams, base), base[1], splits=("test",))["test"]
    stored = res.seeds[13].single("subgroup", "dim", "test")
    np.testing.assert_allclose(exact, stored, atol=1e-4)


def test_image_export_reloads_as_an_image_classifier(image_store, tmp_path):
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    from taskfair.steering.exact import load_theta0, merged_model
    from taskfair.publishing.export import export_model
    from taskfair.store.results import load_results
    from taskfair.store import ArtifactStore

    run = ArtifactStore(image_store).open("images-demo")
    base = load_theta0(run, 13)
    model = merged_model(run, 13, [0.3, 0.6, 0.2], base)
    paths = list(load_results(image_store, "images-demo").data.text[:12])
    out = export_model(model, base[1], tmp_path / "vit-remix", check_texts=paths,
                       provenance={"run": "images-demo", "coefficients": {"bright": 0.3, "dim": 0.6, "noisy": 0.2}})
    assert (out / "preprocessor_config.json").is_file()
    assert "AutoModelForImageClassification" in (out / "README.md").read_text()
    reloaded = AutoModelForImageClassification.from_pretrained(out)
    processor = AutoImageProcessor.from_pretrained(out)
    np.testing.assert_allclose(predict_margins(reloaded, processor, paths),
                               predict_margins(model, base[1], paths), atol=1e-5)


def test_model_and_data_must_both_be_images(image_csv):
    from precompute.pipeline import validate_study
    with pytest.raises(ConfigError, match="'tiny-bert' is a text classifier but dataset 'image_folder'"):
        validate_study(load_profile("images-demo", {"model": "tiny-bert", "dataset.path": str(image_csv)}))
    with pytest.raises(ConfigError, match="'tiny-vit' is an image classifier but dataset 'redditbias'"):
        validate_study(load_profile("quick", {"model": "tiny-vit"}))
    with pytest.raises(ConfigError, match="dataset.path: an image_folder dataset needs"):
        load_profile("paper-images")
    cfg = load_profile("paper-images", {"dataset.path": str(image_csv)})
    assert cfg.model == "google/vit-base-patch16-224-in21k" and cfg.train.learning_rate == 1e-5


def test_image_commands(tmp_path):
    env = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "TOKENIZERS_PARALLELISM": "false"}
    folder = tmp_path / "imgs"
    out = subprocess.run([sys.executable, "-m", "taskfair", "images", str(folder), "--n", "150"],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "wrote 150 images" in out.stdout and len(list((folder / "images").glob("*.png"))) == 150
    out = subprocess.run([sys.executable, "-m", "taskfair", "images", str(folder), "--n", "150"],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 2 and "already exists" in out.stderr
    out = subprocess.run([sys.executable, "-m", "precompute", "--config", "images-demo", "--validate",
                          "--set", f"dataset.path={folder / 'labels.csv'}", "--set", "train.learning_rate=1e-3", "--set", "seeds=[13]",
                          "--output-root", str(tmp_path / "art")],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "150 rows" in out.stdout and "bright" in out.stdout


def test_dashboard_over_an_image_run(image_store, monkeypatch, tmp_path):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("TASKFAIR_ARTIFACTS", str(image_store))
    monkeypatch.setenv("TASKFAIR_EXPORTS", str(tmp_path / "exports"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.sidebar.selectbox[0].value == "images-demo"

    at = AppTest.from_file(str(ROOT / "pages/2_remix.py"), default_timeout=120)
    at.query_params["lam"] = "0,0,0"
    at.run()
    before = {m.label: m.value for m in at.metric}
    at.slider[1].set_value(1.0).run()   # bright, the largest subgroup
    assert not at.exception, [e.value for e in at.exception]
    assert {m.label: m.value for m in at.metric} != before

    at = AppTest.from_file(str(ROOT / "pages/6_diff.py"), default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    changed = at.dataframe[1].value
    assert len(changed) > 0 and changed.text.map(lambda p: Path(p).is_file()).all()
    assert len(at.get("image")) == 1   # the changed images, shown

    at = AppTest.from_file(str(ROOT / "pages/5_export.py"), default_timeout=120)
    at.query_params["lam"] = "0.2,0.7,0.4"
    at.run()
    at.text_input(key="export_name").set_value("vit-remix")
    at.button(key="export_go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("AutoModelForImageClassification" in s.value for s in at.success), [e.value for e in at.error]
    exported = tmp_path / "exports" / "vit-remix"
    assert (exported / "preprocessor_config.json").is_file()
    # transformers writes ViT under its checkpoint names (encoder.layer.N, not layers.N): the
    # folder's weights are hashed under the model's own names, and match the record
    from safetensors import safe_open
    from taskfair.publishing.provenance import check_folder_weights, folder_weights_sha256, read_record
    with safe_open(str(exported / "model.safetensors"), framework="pt") as h:
        assert any(".encoder.layer." in k for k in h.keys())
    assert folder_weights_sha256(exported) == read_record(exported)["merged_weights_sha256"]
    assert check_folder_weights(exported, read_record(exported)) == ""


def test_image_provenance_hashes_pixels_and_recreates(image_store, tmp_path):
    import shutil

    from taskfair.steering.exact import load_theta0, merged_model, model_margins
    from taskfair.publishing.provenance import build_record, eval_data_sha256, recreate
    from taskfair.store import ArtifactStore

    run = ArtifactStore(image_store).open("images-demo")
    base = load_theta0(run, 13)
    lams = {"bright": 0.5, "dim": 0.2, "noisy": 0.8}
    model = merged_model(run, 13, list(lams.values()), base)
    record = build_record(run, 13, lams, model, margins=model_margins(run, 13, merged_model(run, 13, list(lams.values()), base), base[1]),
                          n_boot=20)
    _, _, sha, ok = recreate(record, artifact_root=image_store)
    assert ok and sha == record["merged_weights_sha256"]

    # the same paths holding other pixels hash differently; the path-only hash would not notice
    folder = tmp_path / "copy"
    shutil.copytree(Path(run.load_table("data/dataset.parquet").text.iloc[0]).parent, folder)
    paths = sorted(str(p) for p in folder.glob("*.png"))[:5]
    labels, masks = np.zeros(5, np.int8), np.ones((1, 5), bool)
    before = eval_data_sha256(paths, labels, masks, ["g"], images=True)
    plain = eval_data_sha256(paths, labels, masks, ["g"])
    Path(paths[2]).write_bytes(Path(paths[3]).read_bytes())
    assert eval_data_sha256(paths, labels, masks, ["g"], images=True) != before
    assert eval_data_sha256(paths, labels, masks, ["g"]) == plain


def test_images_gone_after_the_precompute_are_named(image_csv, tmp_path):
    model, processor = load_classifier("tiny-vit")
    good = str(next((image_csv.parent / "images").glob("*.png")))
    with pytest.raises(DataError, match=r"image .*gone.png does not exist.*move them back"):
        predict_margins(model, processor, [good, str(tmp_path / "gone.png")])
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"bad.png cannot be read as an image"):
        predict_margins(model, processor, [str(tmp_path / "bad.png")])


def test_a_vit_folder_with_another_head_loads_as_a_fresh_two_label_classifier(tmp_path, image_csv):
    """The path a real ViT checkpoint takes (e.g. ImageNet's 1000 classes): a folder whose head
    has other labels loads as an image classifier with a fresh 2-label head, the same θ0 for the
    same seed, and its processor; the backbone is the checkpoint's."""
    from transformers import ViTConfig, ViTForImageClassification

    from taskfair.models import tiny_classifier

    _, processor = tiny_classifier("vit")
    cfg = ViTConfig(image_size=32, patch_size=4, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=64, num_labels=5)
    torch.manual_seed(0)
    ViTForImageClassification(cfg).save_pretrained(tmp_path / "vit5")
    processor.save_pretrained(tmp_path / "vit5")
    assert is_image_model(str(tmp_path / "vit5"))
    model, proc = load_classifier(str(tmp_path / "vit5"), head_seed=7)
    again, _ = load_classifier(str(tmp_path / "vit5"), head_seed=7)
    assert model.config.num_labels == 2 and model.classifier.out_features == 2
    assert torch.equal(model.classifier.weight, again.classifier.weight)
    saved = ViTForImageClassification.from_pretrained(tmp_path / "vit5")
    assert torch.equal(model.vit.embeddings.patch_embeddings.projection.weight,
                       saved.vit.embeddings.patch_embeddings.projection.weight)
    margins = predict_margins(model, proc, list(load_image_folder(image_csv, group_column="group").texts[:4]))
    assert margins.shape == (4,) and np.isfinite(margins).all()
    (tmp_path / "vit5" / "preprocessor_config.json").unlink()
    from taskfair.models import ModelError
    with pytest.raises(ModelError, match="image processor"):
        load_classifier(str(tmp_path / "vit5"))
