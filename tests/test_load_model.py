"""``load_model``, the package's one loader, on every kind of source: a released study model by name, a
study model trained into a checkpoints folder, a tiny study checkpoint folder, Hugging Face folders of
the real architectures (LLaDA, Dream), and the bad ones (a missing path, a folder that is not a
checkpoint, an unknown name). Each load is checked against the weights on disk: the safetensors
tensors, the logits of the model that wrote them, or the SHA-256 its record holds."""

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from stand_ins import save_dream, save_llada, save_tiny

from mdlm_study.models import LoadedMDLM, load_model, released
from mdlm_study.models.checkpoints import RECORD, save_checkpoint, save_snapshot, weights_sha256
from mdlm_study.models.loader import STUDY_KINDS, study_model_dir
from mdlm_study.models.released import RELEASED_DIR, read_manifest
from mdlm_study.models.tiny_model import ModelConfig, build_model

SMALL = ModelConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)


def same_weights_as_files(loaded: LoadedMDLM, folder: Path) -> bool:
    """Every tensor of the folder's safetensors files is the loaded model's tensor of that name."""
    state = loaded.model.state_dict()
    files = {k: v for f in sorted(folder.glob("*.safetensors")) for k, v in load_file(f).items()}
    return bool(files) and all(torch.equal(state[k].cpu(), v) for k, v in files.items())


def logits(model, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=ids).logits


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tokenizer):
    """A checkpoints folder as notebook 01 leaves it: ``default`` finished (completion marker, training.json
    with the weights' SHA-256, the snapshot ``step2`` that serves as ``base``), ``sudoku`` unfinished."""
    root = tmp_path_factory.mktemp("checkpoints")
    models = {}
    for name, seed in (("default", 0), ("sudoku", 1)):
        model = build_model(SMALL, tokenizer, seed=seed).eval()
        optimizer = torch.optim.AdamW(model.parameters())
        if name == "default":
            snapshot = build_model(SMALL, tokenizer, seed=2).eval()
            save_snapshot(snapshot, root / name / "step2", 2, tokenizer)
            models["base"] = snapshot
        save_checkpoint(model, optimizer, 4, [], root / name, tokenizer)
        if name == "default":
            (root / name / RECORD).write_text(json.dumps({"recipe": name, "weights_sha256": weights_sha256(model), "snapshots": ["step2"]}))
        models[name] = model
    return root, models


# --- each kind of source --------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["default", "answer_only", "sudoku", "default_seed3"])
def test_a_released_model_by_name(name):
    loaded = load_model(name)
    entry = read_manifest()["models"][name]
    assert (loaded.kind, loaded.family, loaded.shift_logits, loaded.honours_padding) == ("released", "tiny", False, True)
    assert loaded.weights_sha256() == weights_sha256(loaded.model) == entry["weights_sha256"]
    assert loaded.record["released"] == name and loaded.record["weights_sha256"] == entry["weights_sha256"]
    assert same_weights_as_files(loaded, RELEASED_DIR / name) and not loaded.model.training
    again = load_model(name, checkpoints_dir=RELEASED_DIR)  # the release folder named explicitly: the same model
    assert again.weights_sha256() == loaded.weights_sha256() and again.kind == "released"


def test_a_released_model_by_its_folder_is_verified_as_the_release():
    by_name, by_path = load_model("base"), load_model(RELEASED_DIR / "base")
    assert by_path.kind == "released" and by_path.record["released"] == "base"
    ids = torch.tensor([[by_name.special.bos_id, by_name.special.mask_id, by_name.special.mask_id]])
    assert torch.equal(logits(by_name.model, ids), logits(by_path.model, ids))


def test_a_trained_model_by_name_in_checkpoints_dir(trained):
    root, models = trained
    loaded = load_model("default", checkpoints_dir=root)
    assert (loaded.kind, loaded.family) == ("trained", "tiny") and loaded.kind in STUDY_KINDS
    assert loaded.record["weights_sha256"] == loaded.weights_sha256() == weights_sha256(models["default"])
    ids = torch.tensor([[loaded.special.bos_id] + [loaded.special.mask_id] * 4])
    assert torch.equal(logits(loaded.model, ids), logits(models["default"], ids))
    base = load_model("base", checkpoints_dir=root)  # the default run's snapshot, as its training.json records it
    assert study_model_dir("base", root) == root / "default" / "step2"
    assert base.record == {"recipe": "base", "source": str(root / "default" / "step2")}
    assert base.weights_sha256() == weights_sha256(models["base"]) and torch.equal(logits(base.model, ids), logits(models["base"], ids))


def test_a_name_in_checkpoints_dir_never_falls_back_to_the_release(trained, tmp_path):
    root, _ = trained
    with pytest.raises(ValueError, match=r"'answer_only' names no model: .*answer_only: no such directory: study model 'answer_only' "
                                         r"is not trained in .*make reproduce.*checkpoints_dir='models'"):
        load_model("answer_only", checkpoints_dir=root)  # released, but not trained here
    with pytest.raises(ValueError, match=r"sudoku/training\.json: no such file: the run in .* has not finished"):
        load_model("sudoku", checkpoints_dir=root)  # a checkpoint without its record: not finished
    with pytest.raises(ValueError, match=r"'default' names no model: .*no such directory: study model 'default' is not trained in"):
        load_model("default", checkpoints_dir=tmp_path / "empty")


def test_a_trained_model_whose_record_names_other_weights_is_refused(trained, tmp_path):
    root, _ = trained
    copy = tmp_path / "checkpoints"
    shutil.copytree(root, copy)
    record = json.loads((copy / "default" / RECORD).read_text())
    (copy / "default" / RECORD).write_text(json.dumps({**record, "weights_sha256": "0" * 64}))
    with pytest.raises(ValueError, match=r"default: the weights have SHA-256 [0-9a-f]{64}, but training\.json records 0{64}"):
        load_model("default", checkpoints_dir=copy)
    with pytest.raises(ValueError, match=r"default: the weights have SHA-256 [0-9a-f]{64}, but training\.json records 0{64}"):
        load_model(copy / "default")  # by its folder: the same check


def test_a_finished_runs_folder_loads_with_its_record(trained):
    """A run's folder by path (``checkpoints/chains`` after ``make reproduce``) is the trained model it is
    by name: kind "trained", its training.json as the record; its snapshot (a marker, no record) is a folder."""
    root, models = trained
    by_name = load_model("default", checkpoints_dir=root)
    for value in (root / "default", str(root / "default")):
        by_path = load_model(value)
        assert (by_path.kind, by_path.record) == ("trained", by_name.record)
        assert by_path.weights_sha256() == weights_sha256(models["default"])
    snapshot = load_model(root / "default" / "step2")
    assert (snapshot.kind, snapshot.record) == ("folder", None)
    assert load_model(root / "default", dtype="bfloat16").model.dtype == torch.bfloat16  # checked in the stored dtype, then cast


def test_a_tiny_study_checkpoint_folder(tmp_path, tokenizer):
    model = build_model(SMALL, tokenizer, seed=5).eval()
    plain = save_tiny(tmp_path / "plain", tokenizer, seed=5)  # save_pretrained: no completion marker
    loaded = load_model(plain)
    assert (loaded.kind, loaded.family, loaded.record) == ("folder", "tiny", None) and same_weights_as_files(loaded, plain)
    ids = torch.tensor([[loaded.special.bos_id] + [loaded.special.mask_id] * 3])
    assert torch.equal(logits(loaded.model, ids), logits(model, ids))
    save_snapshot(model, tmp_path / "snap", 3, tokenizer)  # a folder the trainer wrote: its marker is verified
    assert load_model(tmp_path / "snap").weights_sha256() == weights_sha256(model)
    (tmp_path / "snap" / "tokenizer.json").write_text("{}")
    with pytest.raises(ValueError, match=r"snap/tokenizer\.json: .* bytes with SHA-256 .*but checkpoint\.json records"):
        load_model(tmp_path / "snap")


@pytest.mark.parametrize("family", ["llada", "dream"])
def test_a_hugging_face_folder_of_a_real_architecture(tmp_path, family):
    folder = (save_llada if family == "llada" else save_dream)(tmp_path / family)
    loaded = load_model(str(folder), trust_remote_code=True)
    assert (loaded.kind, loaded.family, loaded.record) == ("folder", family, None)
    assert loaded.shift_logits == (family == "dream") and same_weights_as_files(loaded, folder)
    assert loaded.weights_sha256() == weights_sha256(load_model(folder, trust_remote_code=True).model)  # str or Path: one model


def test_a_study_model_is_cast_after_it_is_verified():
    loaded = load_model("default", dtype="bfloat16")
    assert loaded.dtype == torch.bfloat16 and loaded.weights_sha256() != read_manifest()["models"]["default"]["weights_sha256"]


# --- bad input: a clear error naming the value and what was tried ------------------------------------

@pytest.mark.parametrize("bad, match", [
    ("defualt", r"'defualt' names no model: unknown released model 'defualt'; the release in models has \['default', .*"
                r"nor is it a local folder or a hub name \(owner/name\)"),
    ("not a name", r"'not a name' names no model: unknown released model 'not a name'"),
    ("/no/such/dir", r"'/no/such/dir' names no model: no such local folder, not a hub name \(owner/name\), and not a study model's name"),
    ("a/b/c/d", r"'a/b/c/d' names no model: no such local folder"),
])
def test_a_bad_name_or_path_is_refused_saying_what_was_tried(bad, match):
    with pytest.raises(ValueError, match=match):
        load_model(bad)


def test_a_folder_that_is_not_a_checkpoint(tmp_path):
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(ValueError, match=re.escape(f"'{tmp_path}' is a local path but not a model folder (no config.json), nor a released "
                                                   "model's folder")):
        load_model(tmp_path)


def test_a_path_is_always_a_folder_never_a_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"'default' names no model: no such local folder"):
        load_model(Path("default"))  # not the released model "default"


def test_a_study_model_has_the_tiny_family():
    with pytest.raises(ValueError, match=r"study model 'default' is of family 'tiny', not 'llada'"):
        load_model("default", family="llada")


def test_there_is_one_loader():
    """The loaders it replaced are gone (no aliases)."""
    from mdlm_study.models import loader
    from mdlm_study.training import recipes

    gone = [(module.__name__, name) for module, name in ((loader, "load_mdlm"), (released, "load_released"), (released, "load_folder"),
                                                          (recipes, "load_study_model"), (recipes, "base_model_dir")) if hasattr(module, name)]
    assert gone == []
