"""The released models: the committed folders match their manifest, load strictly by name, and a
tampered copy or a retrained model that differs is reported."""

import importlib
import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from mdlm_study.core.records import ROOT, file_sha256
from mdlm_study.models import load_model
from mdlm_study.models.checkpoints import weights_sha256
from mdlm_study.models.loader import study_model_dir
from mdlm_study.models.released import (
    MANIFEST,
    RELEASED_DIR,
    RELEASES,
    compare_with_release,
    read_manifest,
    released_names,
    released_path,
    report_comparison,
    verify_released,
    write_release,
)
from mdlm_study.models.tiny_model import ModelConfig, build_model
from mdlm_study.training import recipes


def test_every_release_is_committed_and_listed():
    assert released_names() == list(RELEASES)
    manifest = read_manifest()
    assert "mdlm_study.models.released write" in manifest["command"]
    for name, entry in manifest["models"].items():
        assert set(entry["files"]) >= {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}
        assert "trainer_state.pt" not in entry["files"] and "checkpoint.json" not in entry["files"]
        assert entry["recipe"] in recipes.RECIPES and entry["steps"] > 0
        assert entry["training_data"]["file_sha256"]
        assert ("training.json" in entry["files"]) == (RELEASES[name].snapshot is None)  # a snapshot is part of a run, not a finished one


@pytest.mark.parametrize("name", list(RELEASES))
def test_every_released_model_matches_its_manifest_and_loads_strictly(name):
    entry = verify_released(name)  # every file's SHA-256 and size, no extra file, strict load, weights SHA-256
    loaded = load_model(name)
    assert weights_sha256(loaded.model) == entry["weights_sha256"] and loaded.kind == "released" and loaded.family == "tiny"
    assert loaded.tokenizer.mask_token_id is not None and not loaded.model.training


TRIALS = sorted(p.parent for p in (RELEASED_DIR / "trials").glob(f"*/{MANIFEST}"))  # a candidate recipe's seeds, kept until it is adopted


@pytest.mark.parametrize("folder", TRIALS, ids=lambda p: p.name)
def test_every_trial_release_matches_its_manifest_and_records_its_own_steps(folder):
    """A candidate recipe's released seeds (models/trials/<name>): the same checks as the release of record,
    and each entry's step count is the one its training record ran (the recipe of record may differ)."""
    manifest = read_manifest(folder)
    assert "--out models/trials/" in manifest["command"]
    for name, entry in manifest["models"].items():
        assert verify_released(name, folder)["weights_sha256"] == entry["weights_sha256"]
        record = json.loads((folder / name / "training.json").read_text())
        assert entry["recipe"] in recipes.RECIPES and entry["steps"] == record["train"]["steps"] and entry["seed"] == record["train"]["seed"]
        assert load_model(folder / name).record["weights_sha256"] == entry["weights_sha256"]


def test_released_study_models_are_the_ones_the_results_were_measured_on():
    measured = json.loads((ROOT / "benchmarks" / "results" / "default" / "model.json").read_text())["weights_sha256"]
    models = read_manifest()["models"]
    assert {name: models[name]["weights_sha256"] for name in measured} == measured


def test_base_is_the_default_runs_snapshot():
    base = read_manifest()["models"]["base"]
    assert RELEASES["base"].snapshot == recipes.BASE_STEP == base["steps"]
    for seed in range(1, 5):  # every training seed's base snapshot (Table E on the seeds)
        entry = read_manifest()["models"][f"base_seed{seed}"]
        assert (entry["recipe"], entry["seed"], entry["steps"]) == ("default", seed, recipes.BASE_STEP)
        assert entry["snapshot_of"] == f"default (seed {seed}) at step {recipes.BASE_STEP}" and entry["source"] == f"seed{seed}/default/step{recipes.BASE_STEP}"
    assert json.loads((RELEASED_DIR / "default" / "training.json").read_text())["snapshots"] == [f"step{recipes.BASE_STEP}"]


def test_unknown_name_is_refused_listing_the_known_ones():
    with pytest.raises(ValueError, match="unknown released model 'defualt'.*'default'.*'default_seed4'"):
        released_path("defualt")
    with pytest.raises(ValueError, match="'llada' names no model: unknown released model 'llada'"):
        load_model("llada")


@pytest.fixture
def copy_of_default(tmp_path):
    shutil.copytree(RELEASED_DIR / "default", tmp_path / "default")
    manifest = read_manifest()
    manifest["models"] = {"default": manifest["models"]["default"]}
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    return tmp_path


def test_a_changed_file_is_detected_naming_it_and_the_fix(copy_of_default):
    verify_released("default", copy_of_default)
    path = copy_of_default / "default" / "model.safetensors"
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 1
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"model.safetensors has 3447744 bytes with SHA-256 .*but MANIFEST.json records.*git checkout"):
        load_model("default", checkpoints_dir=copy_of_default)
    with pytest.raises(ValueError, match=r"model.safetensors has 3447744 bytes"):  # the released model's folder, by path
        load_model(copy_of_default / "default")


def test_a_changed_tensor_with_a_matching_file_hash_is_still_detected(copy_of_default):
    path = copy_of_default / "default" / "model.safetensors"
    tensors = load_file(path)
    key = sorted(tensors)[0]
    tensors[key] = tensors[key] + 1e-3
    save_file(tensors, path, metadata={"format": "pt"})
    manifest = json.loads((copy_of_default / MANIFEST).read_text())
    manifest["models"]["default"]["files"]["model.safetensors"] = {"bytes": path.stat().st_size, "sha256": file_sha256(path)}
    (copy_of_default / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="loaded weights have SHA-256 .* but MANIFEST.json records"):
        verify_released("default", copy_of_default)


def test_missing_and_extra_files_are_detected(copy_of_default):
    (copy_of_default / "default" / "trainer_state.pt").write_bytes(b"optimizer")
    with pytest.raises(ValueError, match=r"files the manifest does not list: \['trainer_state.pt'\]"):
        verify_released("default", copy_of_default)
    (copy_of_default / "default" / "trainer_state.pt").unlink()
    (copy_of_default / "default" / "tokenizer.json").unlink()
    with pytest.raises(ValueError, match="tokenizer.json is missing"):
        verify_released("default", copy_of_default)


def test_study_code_loads_released_models_by_name():
    loaded = load_model("default_seed2", checkpoints_dir=RELEASED_DIR)
    record = loaded.record
    assert record["released"] == "default_seed2" and record["train"]["seed"] == 2
    assert weights_sha256(loaded.model) == record["weights_sha256"]
    base = load_model("base", checkpoints_dir=RELEASED_DIR)
    assert base.record["weights_sha256"] == read_manifest()["models"]["base"]["weights_sha256"]
    assert study_model_dir("base", RELEASED_DIR) == RELEASED_DIR / "base"
    by_path = load_model(RELEASED_DIR / "base")  # a released model's folder is verified as the release
    assert by_path.kind == "released" and by_path.weights_sha256() == weights_sha256(base.model)


def test_a_missing_study_model_names_the_command_and_the_released_ones(tmp_path):
    with pytest.raises(ValueError, match=r"make reproduce.*released model \(checkpoints_dir='models', one of \[.*'default_seed1'"):
        load_model("default", checkpoints_dir=tmp_path)


# A fake release of tiny models, and a "retrained" checkpoints folder beside it.

def _save_run(folder, tokenizer, seed, *, record=True):
    model = build_model(ModelConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64), tokenizer, seed=seed)
    folder.mkdir(parents=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    if record:
        (folder / "training.json").write_text(json.dumps({"train": {"steps": 30, "seed": 0}, "snapshots": ["step5000"]}))
    (folder / "trainer_state.pt").write_bytes(b"optimizer state, never released")


@pytest.fixture
def fake_release(tmp_path, tokenizer):
    runs = tmp_path / "runs" / "seed0"
    _save_run(runs / "default", tokenizer, 0)
    _save_run(runs / "default" / "step5000", tokenizer, 1, record=False)
    _save_run(runs / "answer_only", tokenizer, 2)
    manifest = write_release(tmp_path / "runs", tmp_path / "models", names=["default", "base", "answer_only"])
    assert set(manifest["models"]["default"]["files"]) == {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                                                           "training.json"}
    return tmp_path


def test_retrained_weights_are_compared_bit_for_bit(fake_release):
    retrained = fake_release / "checkpoints"
    shutil.copytree(fake_release / "runs" / "seed0", retrained)
    rows = {r["model"]: r for r in compare_with_release(retrained, fake_release / "models")}
    assert {n: r["status"] for n, r in rows.items()} == {"default": "bit-identical", "base": "bit-identical", "answer_only": "bit-identical"}

    path = retrained / "answer_only" / "model.safetensors"
    tensors = load_file(path)
    key = sorted(tensors)[-1]
    tensors[key] = tensors[key].clone()
    tensors[key].view(-1)[0] += torch.finfo(tensors[key].dtype).eps  # one changed number in one tensor
    save_file(tensors, path, metadata={"format": "pt"})
    shutil.rmtree(retrained / "default" / "step5000")
    out = fake_release / "record.json"
    rows = {r["model"]: r for r in report_comparison(retrained, out, fake_release / "models")}
    assert rows["default"]["bit_identical"] is True
    assert rows["answer_only"]["bit_identical"] is False and rows["answer_only"]["status"] == "different"
    assert rows["base"]["status"] == "not retrained" and rows["base"]["bit_identical"] is None
    record = json.loads(out.read_text())
    assert record["different"] == ["answer_only"] and record["bit_identical"] == ["default"]
    assert record["provenance"]["cpu"] and record["provenance"]["commit"]

    (retrained / "answer_only" / "training.json").unlink()  # the run stopped before its last step: a checkpoint
    rows = {r["model"]: r for r in compare_with_release(retrained, fake_release / "models")}
    assert rows["answer_only"]["status"] == "unfinished" and rows["answer_only"]["bit_identical"] is None
    assert rows["answer_only"]["retrained_weights_sha256"] is None and rows["default"]["bit_identical"] is True


def test_a_plain_folder_of_the_tiny_family_loads_strictly(tmp_path):
    """A released model's files outside a release (no manifest beside them): a plain folder, its tensors
    still checked against the architecture."""
    shutil.copytree(RELEASED_DIR / "default", tmp_path / "default")
    loaded = load_model(tmp_path / "default")
    assert loaded.family == "tiny" and loaded.kind == "folder"
    assert weights_sha256(loaded.model) == read_manifest()["models"]["default"]["weights_sha256"]
    path = tmp_path / "default" / "model.safetensors"
    tensors = load_file(path)
    dropped = next(k for k in sorted(tensors) if k.endswith("norm.weight"))
    del tensors[dropped]
    save_file(tensors, path, metadata={"format": "pt"})
    with pytest.raises(ValueError, match=f"missing tensors: .*{dropped.split('.', 1)[-1]}"):
        load_model(tmp_path / "default")


def test_experiments_run_on_released_models_by_name():
    from mdlm_study.runner.experiment import load_experiment

    exp = load_experiment("default_seed1", "arithmetic", checkpoints_dir=RELEASED_DIR, data_dir=ROOT / "data", n_problems=3)
    with pytest.raises(ValueError, match="unknown released model 'default_seed9'.*'default_seed4'"):
        load_experiment("default_seed9", "arithmetic", checkpoints_dir=RELEASED_DIR, data_dir=ROOT / "data", n_problems=3)
    assert len(exp.problems) == 3 and weights_sha256(exp.model) == read_manifest()["models"]["default_seed1"]["weights_sha256"]
    by_path = load_experiment(str(RELEASED_DIR / "default_seed1"), "arithmetic", checkpoints_dir="unused", data_dir=ROOT / "data", n_problems=3)
    assert by_path.loaded is None and not by_path.setting.paper  # a released folder runs as the study model it is
    assert by_path.weights_sha256 == exp.weights_sha256


def test_trace_studies_run_on_released_models_by_name(tmp_path):
    from mdlm_study.runner.trace_study import load_trace_study

    options = dict(checkpoints_dir=str(RELEASED_DIR), data_dir=str(ROOT / "data"), n_problems=2)
    study = load_trace_study("default", "arithmetic", **options)
    models = read_manifest()["models"]
    assert study.provenance["weights_sha256"] == models["default"]["weights_sha256"] and len(study.problems) == 2
    assert weights_sha256(study.finetune_base()[0]) == models["base"]["weights_sha256"]  # the fine-tuning base, by name
    shutil.copytree(RELEASED_DIR / "default", tmp_path / "plain")  # outside the release: a plain folder
    with pytest.raises(ValueError, match=r"task='arithmetic' in notebooks 05 and 06 runs a study model .*loaded as kind 'folder'"):
        load_trace_study(str(tmp_path / "plain"), "arithmetic", **options)


def test_a_trace_study_takes_any_task_with_step_labels_and_a_posterior_split():
    """The chains task runs notebooks 05 and 06 through the same path as arithmetic: its own posterior
    split, template and grading (the default model decodes it, badly: the path is what is checked);
    fine-tuning starts from the arithmetic task's base snapshot, so on chains it is refused by name."""
    from mdlm_study.engine import DecodeConfig
    from mdlm_study.runner.trace_study import load_trace_study, step_tasks
    from mdlm_study.tasks.builtin import CHAINS_TEMPLATE
    from mdlm_study.tasks.data import read_split

    assert step_tasks() == ("arithmetic", "chains", "gsm8k")
    study = load_trace_study("default", "chains", checkpoints_dir=str(RELEASED_DIR), data_dir=str(ROOT / "data"), n_problems=3)
    assert study.problems == read_split("chains", ROOT / "data", "posterior")[:3] and study.template == CHAINS_TEMPLATE
    table = study.free_decoding(DecodeConfig("l2r"))
    assert len(table) == 3 and {"correct", "trace_correct"} <= set(table)
    with pytest.raises(ValueError, match="fine-tuning on task 'chains'"):
        study.finetune_base()
    with pytest.raises(ValueError, match="task must be one of .*'chains'.*got 'sudoku'"):
        load_trace_study("default", "sudoku", checkpoints_dir=str(RELEASED_DIR), data_dir=str(ROOT / "data"), n_problems=3)


def test_training_on_the_release_folder_trains_nothing(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(recipes, "prepare_data", lambda data_dir, **kw: calls.append((data_dir, kw)))
    monkeypatch.setattr(recipes, "train_recipe", lambda *a, **k: pytest.fail("nothing may train"))
    before = sorted(p.name for p in RELEASED_DIR.rglob("*"))
    records = recipes.train_all(["default", "sudoku"], tmp_path / "data", RELEASED_DIR, progress=False)
    assert calls == [(tmp_path / "data", {})]  # the full-size sets, generated because they are missing
    assert records["default"]["weights_sha256"] == read_manifest()["models"]["default"]["weights_sha256"]
    assert records["sudoku"]["train"]["steps"] == 2000 and sorted(p.name for p in RELEASED_DIR.rglob("*")) == before


def test_the_manifest_names_no_machine_path_and_only_functions_that_exist():
    manifest = read_manifest()
    text = json.dumps(manifest)
    assert not re.search(r'"/|/(work|home|tmp|Users)/', text), "an absolute path of the machine that wrote the manifest"
    assert all(not Path(entry["source"]).is_absolute() for entry in manifest["models"].values())
    loader = re.search(r"load with ([\w.]+)\(name\)", manifest["description"]).group(1)
    for dotted in (manifest["weights_sha256"].split(":", 1)[0], loader):
        module, name = dotted.rsplit(".", 1)
        assert callable(getattr(importlib.import_module(module), name)), dotted


def test_write_release_records_sources_inside_the_runs_folder(fake_release):
    manifest = json.loads((fake_release / "models" / MANIFEST).read_text())
    assert manifest["models"]["default"]["source"] == "seed0/default"
    assert manifest["models"]["base"]["source"] == "seed0/default/step5000"
    assert str(fake_release / "runs") not in json.dumps(manifest) and "--from '<checkpoints>'" in manifest["command"]


def test_the_write_command_names_its_source_folder_by_the_stand_in(fake_release, capsys):
    """``released write --from /an/absolute/path``: the manifest's command names the folder ``<checkpoints>``, as each
    model's source, never the path of the machine that wrote it."""
    from mdlm_study.models.released import main

    out = fake_release / "models_cli"
    main(["write", "--from", str(fake_release / "runs"), "--out", str(out), "--names", "default"])
    manifest = json.loads((out / MANIFEST).read_text())
    assert "--from '<checkpoints>'" in manifest["command"] and str(fake_release / "runs") not in json.dumps(manifest)
    assert "default" in capsys.readouterr().out
