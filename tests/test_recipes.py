"""The study's recipes at smoke size: data, training, snapshot base model, loading, evaluation."""

import json
import re
from pathlib import Path

import pytest

from mdlm_study.experiments.evaluate import evaluate_arithmetic, evaluate_sudoku, summarize
from mdlm_study.models import load_model
from mdlm_study.models.loader import study_model_dir
from mdlm_study.training.recipes import (
    ARITHMETIC_TEMPLATE,
    SUDOKU_TEMPLATE,
    is_trained,
    prepare_data,
    recipe,
    snapshot_steps,
    train_all,
    train_recipe,
    trial_recipe,
    with_steps,
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    data = prepare_data(root / "data", smoke=True)
    for name in ("default", "sudoku"):
        train_recipe(recipe(name, smoke=True), data, root / "checkpoints", progress=False)
    return root, data


def test_data_manifest_written(trained):
    root, data = trained
    manifest = json.loads((root / "data" / "manifest.json").read_text())
    assert manifest["arithmetic_test"]["size"] == len(data.arithmetic_test)


def test_models_load_and_evaluate(trained):
    root, data = trained
    loaded = load_model("default", checkpoints_dir=root / "checkpoints")
    model, tok, record = loaded.model, loaded.tokenizer, loaded.record
    assert loaded.kind == "trained" and record["train_seconds"] > 0 and record["parameters"] > 0
    table = evaluate_arithmetic(model, tok, data.arithmetic_test[:6], ARITHMETIC_TEMPLATE, sampler="l2r")
    summary = summarize(table)
    assert summary["n_problems"] == 6 and 0 <= summary["accuracy"] <= 1
    # greedy l2r: every masked position costs one pass (24 reasoning + 4 answer)
    assert (table["nfe"] == ARITHMETIC_TEMPLATE.reasoning_len + ARITHMETIC_TEMPLATE.answer_len).all()
    sudoku = load_model("sudoku", checkpoints_dir=root / "checkpoints")
    assert len(evaluate_sudoku(sudoku.model, sudoku.tokenizer, data.sudoku_test[:4], SUDOKU_TEMPLATE, sampler="entropy")) == 4


def test_base_model_is_the_default_runs_snapshot(trained):
    root, _ = trained
    assert study_model_dir("base", root / "checkpoints").name.startswith("step")
    assert load_model("base", checkpoints_dir=root / "checkpoints").record["recipe"] == "base"


def test_two_workers_give_the_same_weights_as_one(tmp_path):
    """``train_all(workers=2)`` trains the recipes in two single-threaded processes; each run is the
    same as training it alone in this (single-threaded) test process, weight for weight."""
    import torch
    from safetensors.torch import load_file

    records = train_all(["default", "sudoku"], tmp_path / "data", tmp_path / "parallel", smoke=True, progress=False, workers=2,
                        threads=1)
    assert set(records) == {"default", "sudoku"} and all(r["train_seconds"] > 0 for r in records.values())
    serial = train_all(["sudoku"], tmp_path / "data", tmp_path / "serial", smoke=True, progress=False, threads=1)
    assert serial["sudoku"]["train"] == records["sudoku"]["train"]
    a = load_file(tmp_path / "parallel" / "sudoku" / "model.safetensors")
    b = load_file(tmp_path / "serial" / "sudoku" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="workers must be an int >= 1, got 0"):
        train_all(["sudoku"], tmp_path / "data", tmp_path / "serial", smoke=True, workers=0)
    with pytest.raises(ValueError, match="threads must be an int >= 1, got 0"):
        train_all(["sudoku"], tmp_path / "data", tmp_path / "serial", smoke=True, threads=0)


def test_one_worker_trains_with_every_core_and_restores_the_caller_threads(tmp_path, monkeypatch):
    """The study trains one run at a time with the whole CPU, even from a kernel the runner started
    with ``OMP_NUM_THREADS=1``; the caller's thread count is restored afterwards."""
    import os

    import torch

    from mdlm_study.training import recipes as study

    seen = []

    def lane_that_sets_its_threads(lane, checkpoints_dir, _smoke, _progress, threads, *_force_report):  # as study._train_lane does
        torch.set_num_threads(threads)
        seen.append((lane, threads))
        for name in lane:
            (Path(checkpoints_dir) / name).mkdir(parents=True, exist_ok=True)
            (Path(checkpoints_dir) / name / "training.json").write_text(json.dumps({"recipe": name}))
        return {name: {"recipe": name} for name in lane}  # each run's record, as study._train_lane returns them

    monkeypatch.setattr(study, "_train_lane", lane_that_sets_its_threads)
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train_all(["default", "sudoku"], tmp_path / "data", tmp_path / "ck", smoke=True, progress=False)
        assert seen == [(["default", "sudoku"], 6)]
        assert torch.get_num_threads() == 1
        seen.clear()
        train_all(["default"], tmp_path / "data", tmp_path / "ck", smoke=True, progress=False, threads=3)
        assert seen == [(["default"], 3)] and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_lanes_balance_the_longest_runs():
    from mdlm_study.training.recipes import _lanes

    lanes = _lanes(["sudoku", "answer_only", "default"], 2, smoke=False)
    assert lanes[0] == ["default"] and sorted(lanes[1]) == ["answer_only", "sudoku"]


def test_training_curve_minutes():
    from mdlm_study.training.recipes import training_curve

    logged = {"history": [{"step": 10, "loss": 2.0, "wall_seconds": 60.0}, {"step": 10, "wall_seconds": 61.0, "eval_accuracy": 0.5},
                          {"step": 20, "loss": 1.0, "wall_seconds": 120.0}], "train": {"steps": 20}, "train_seconds": 150.0}
    curve = training_curve(logged)
    assert curve["step"].tolist() == [10, 20] and curve["minutes"].tolist() == [1.0, 2.0]
    assert curve["eval_accuracy"].iloc[0] == 0.5 and curve["loss"].tolist() == [2.0, 1.0]
    old = {"history": [{"step": 10, "loss": 2.0}, {"step": 20, "loss": 1.0}], "train": {"steps": 20}, "train_seconds": 120.0}
    assert training_curve(old)["minutes"].tolist() == [1.0, 2.0]  # interpolated from the step count


def test_training_records_wall_time(trained):
    root, _ = trained
    record = load_model("default", checkpoints_dir=root / "checkpoints").record
    times = [h["wall_seconds"] for h in record["history"]]
    assert times == sorted(times) and 0 < times[-1] <= record["train_seconds"]


def test_a_training_record_names_the_machine_and_the_arithmetic_its_weights_depend_on(trained):
    """The CPU (model name and family/model/instruction sets), the threads, and what bf16=None and
    compile=None resolved to: what a retrain must match to repeat the weights bit for bit."""
    from dataclasses import replace

    from mdlm_study.core.records import cpu_detail
    from mdlm_study.training.kernels import cxx_compiler_available, native_bf16
    from mdlm_study.training.train import resolved_kernels

    root, _ = trained
    record = load_model("default", checkpoints_dir=root / "checkpoints").record
    m = record["machine"]
    assert m["cpu"] and m["cpu_detail"] == cpu_detail() and m["threads"] >= 1 and m["resumed"] is False
    smoke = recipe("default", smoke=True).train
    assert smoke.bf16 is False and m["bf16"] is False and smoke.compile is False and m["compile"] is False
    left_to_choose = resolved_kernels(replace(smoke, bf16=None, compile=None))
    assert left_to_choose["bf16"] == native_bf16("cpu") and left_to_choose["compile"] == cxx_compiler_available()


def test_every_recipe_trains_in_fp32_on_every_cpu():
    """bf16=None would take bf16 autocast on CPUs with native bf16 kernels only: the same recipe would train
    different arithmetic on different CPUs (docs/decisions.md, "Numerics across CPUs")."""
    from mdlm_study.training.recipes import RECIPES

    assert {name: r.train.bf16 for name, r in RECIPES.items()} == dict.fromkeys(RECIPES, False)


def test_unknown_recipe():
    with pytest.raises(ValueError, match="unknown model 'huge'"):
        recipe("huge")


def test_tiny_model_memorises_a_few_problems_end_to_end():
    """Training + template + engine + readback together: a small model of the default backbone
    memorises 8 problems (~100 steps with the hidden_size^-1/2 initialisation; 300 for margin)."""
    from mdlm_study.engine.templates import Template
    from mdlm_study.models.tiny_model import ModelConfig, build_model
    from mdlm_study.models.tiny_tokenizer import build_tokenizer
    from mdlm_study.tasks.arithmetic import ArithmeticConfig, generate_problems
    from mdlm_study.training.tokenized import tokenize_examples
    from mdlm_study.training.train import TrainConfig, train

    problems = generate_problems(ArithmeticConfig(), 8, seed=5)
    tok = build_tokenizer([p.question + "\n" + p.gsm8k_answer for p in problems])
    template = Template(reasoning_len=24)
    data = tokenize_examples(tok, [p.question for p in problems], [p.reasoning for p in problems], [p.answer for p in problems], template)
    model = build_model(ModelConfig(hidden_size=64, num_layers=2, num_heads=2, intermediate_size=128), tok, seed=0)
    train(model, data, TrainConfig(steps=300, batch_size=16, lr=3e-3, warmup=20, eval_every=0, save_every=0), mask_id=tok.mask_token_id, progress=False)
    summary = summarize(evaluate_arithmetic(model, tok, problems, template, sampler="l2r"))
    assert summary["accuracy"] >= 0.75 and summary["trace_accuracy"] >= 0.75


def test_a_finished_run_counts_only_for_its_exact_recipe(trained):
    """``is_trained`` (what makes the main command skip a model) compares the whole recipe: changing
    any training setting, not only the step count, retrains."""
    from dataclasses import replace

    from mdlm_study.training.recipes import is_trained

    root, _ = trained
    r = recipe("default", smoke=True)
    assert is_trained("default", root / "checkpoints", r)
    assert not is_trained("default", root / "checkpoints", replace(r, train=replace(r.train, lr=r.train.lr / 2)))
    assert not is_trained("default", root / "checkpoints", replace(r, template=replace(r.template, reasoning_len=8)))
    assert not is_trained("answer_only", root / "checkpoints", recipe("answer_only", smoke=True))


def test_runs_recorded_before_a_setting_existed_count_as_its_default(trained, tmp_path):
    """A ``training.json`` written before a config field was added (here ``copy_rule``) still matches
    a recipe that leaves the field at its default, and no longer matches one that changes it."""
    import shutil
    from dataclasses import replace

    from mdlm_study.training.recipes import _as_recorded, is_trained

    root, _ = trained
    r = recipe("default", smoke=True)
    tied = replace(r, train=replace(r.train, copy_rule="tied"))  # the field's default
    shutil.copytree(root / "checkpoints" / "default", tmp_path / "default")  # the same complete checkpoint
    record = json.loads((tmp_path / "default" / "training.json").read_text())
    record["train"] = _as_recorded(tied.train)
    del record["train"]["copy_rule"]
    (tmp_path / "default" / "training.json").write_text(json.dumps(record))
    assert is_trained("default", tmp_path, tied)
    assert not is_trained("default", tmp_path, replace(r, train=replace(r.train, copy_rule="forward")))


def test_drills_join_arithmetic_recipes_only(trained):
    """A recipe with ``aux_batch_size > 0`` trains on the task's arithmetic drills besides its traces;
    asking for drills on Sudoku is an error that names the recipe."""
    from dataclasses import replace

    from mdlm_study.training.recipes import drill_set, study_tokenizer

    _, data = trained
    tokenizer = study_tokenizer(data)
    drills = drill_set(recipe("default", smoke=True), data, tokenizer)
    text = tokenizer.decode(drills.input_ids[0][drills.attention_mask[0].bool()], skip_special_tokens=True).replace(" ", "")
    head, result = text.split("=")
    left, right = head.replace("*", "+").replace("-", "+").split("+")
    expected = {"+": int(left) + int(right), "-": int(left) - int(right), "*": int(left) * int(right)}
    assert int(result) == expected[next(c for c in head if c in "+-*")]
    assert drills.response_mask.sum(1).le(2).all() and drills.response_mask.any(1).all()
    sudoku = recipe("sudoku", smoke=True)
    with pytest.raises(ValueError, match="'sudoku'"):
        drill_set(replace(sudoku, train=replace(sudoku.train, aux_batch_size=4)), data, tokenizer)


def test_full_recipes_compile_where_they_can_and_smoke_runs_never():
    """The study's recipes train through torch.compile where a C++ compiler is found
    (``compile=None``); smoke recipes, shorter than a compile, stay eager."""
    from mdlm_study.training.recipes import RECIPES

    assert all(recipe(name).train.compile is None for name in RECIPES)
    assert all(recipe(name, smoke=True).train.compile is False for name in RECIPES)


def _interrupt_at(monkeypatch, step: int) -> None:
    """Make training stop with KeyboardInterrupt at the start of ``step`` (as Ctrl-C would)."""
    import mdlm_study.training.train as train_module

    real = train_module.step_generator

    def generator(seed, at):
        if at == step:
            raise KeyboardInterrupt(f"interrupted at step {at}")
        return real(seed, at)

    monkeypatch.setattr(train_module, "step_generator", generator)


def test_train_all_resumes_by_default_and_force_never_leaves_a_finished_looking_run(tmp_path, monkeypatch, capsys):
    """An interrupted run resumes from its last checkpoint with no flag, to the same weights as an
    uninterrupted one; an interrupted forced retrain leaves nothing that passes for finished (no
    training.json, not is_trained, load_model refuses), and the next run trains it to the same bits."""
    from mdlm_study.training.recipes import is_trained

    straight = train_all(["sudoku"], tmp_path / "data", tmp_path / "straight", smoke=True, progress=False, threads=1)["sudoku"]
    r, checkpoints = recipe("sudoku", smoke=True), tmp_path / "ck"
    _interrupt_at(monkeypatch, 20)
    with pytest.raises(KeyboardInterrupt):
        train_all(["sudoku"], tmp_path / "data", checkpoints, smoke=True, progress=False, threads=1)
    monkeypatch.undo()
    assert not is_trained("sudoku", checkpoints, r) and not (checkpoints / "sudoku" / "training.json").exists()
    capsys.readouterr()
    resumed = train_all(["sudoku"], tmp_path / "data", checkpoints, smoke=True, progress=False, threads=1)["sudoku"]
    out = capsys.readouterr().out
    assert "[train sudoku] resuming at step 15/30" in out and "[train sudoku] step 30/30 " in out
    assert resumed["weights_sha256"] == straight["weights_sha256"] and is_trained("sudoku", checkpoints, r)
    assert [h["loss"] for h in resumed["history"] if "loss" in h] == [h["loss"] for h in straight["history"] if "loss" in h]

    from mdlm_study.models.checkpoints import verify_checkpoint

    _interrupt_at(monkeypatch, 20)
    with pytest.raises(KeyboardInterrupt):
        train_all(["sudoku"], tmp_path / "data", checkpoints, smoke=True, force=True, progress=False, threads=1)
    monkeypatch.undo()
    assert verify_checkpoint(checkpoints / "sudoku")["step"] == 15  # the forced run's own checkpoint; the finished one is gone
    assert not (checkpoints / "sudoku" / "training.json").exists() and not is_trained("sudoku", checkpoints, r)
    with pytest.raises(ValueError, match="sudoku/training.json: no such file: the run .* has not finished"):
        load_model("sudoku", checkpoints_dir=checkpoints)
    capsys.readouterr()
    again = train_all(["sudoku"], tmp_path / "data", checkpoints, smoke=True, progress=False, threads=1)["sudoku"]
    assert "[train sudoku] resuming at step 15/30" in capsys.readouterr().out
    assert again["weights_sha256"] == straight["weights_sha256"]


def test_is_trained_needs_the_completion_marker_and_the_recorded_weights(trained, tmp_path):
    """A finished record is not enough: the final checkpoint must be complete and its weights must be
    the ones training.json and checkpoint.json record."""
    import shutil

    from mdlm_study.training.recipes import is_trained

    root, _ = trained
    r = recipe("sudoku", smoke=True)

    def broken(name, change):
        shutil.copytree(root / "checkpoints" / "sudoku", tmp_path / name / "sudoku")
        change(tmp_path / name / "sudoku")
        return tmp_path / name

    def flip(path):
        data = bytearray(path.read_bytes())
        data[-3] ^= 1
        path.write_bytes(bytes(data))

    def other_weights(directory):
        record = json.loads((directory / "training.json").read_text())
        (directory / "training.json").write_text(json.dumps({**record, "weights_sha256": "0" * 64}))

    assert is_trained("sudoku", broken("intact", lambda d: None), r)
    assert not is_trained("sudoku", broken("no_marker", lambda d: (d / "checkpoint.json").unlink()), r)
    assert not is_trained("sudoku", broken("flipped", lambda d: flip(d / "model.safetensors")), r)
    assert not is_trained("sudoku", broken("other", other_weights), r)


def test_a_training_seed_trains_its_own_model_and_is_skipped_when_done(tmp_path):
    """``train_all(seed=1)`` (``python -m mdlm_study.training.recipes default --seed 1``, the seeds study): another
    initialisation, recorded as seed 1, and a rerun finds it finished instead of retraining it."""
    import torch
    from safetensors.torch import load_file

    one = train_all(["sudoku"], tmp_path / "data", tmp_path / "seed1", smoke=True, progress=False, threads=1, seed=1)
    zero = train_all(["sudoku"], tmp_path / "data", tmp_path / "seed0", smoke=True, progress=False, threads=1)
    assert one["sudoku"]["train"]["seed"] == 1 and zero["sudoku"]["train"]["seed"] == 0
    a = load_file(tmp_path / "seed1" / "sudoku" / "model.safetensors")
    b = load_file(tmp_path / "seed0" / "sudoku" / "model.safetensors")
    assert not all(torch.equal(a[k], b[k]) for k in a)
    again = train_all(["sudoku"], tmp_path / "data", tmp_path / "seed1", smoke=True, progress=False, threads=1, seed=1)
    assert again["sudoku"]["train_seconds"] == one["sudoku"]["train_seconds"]  # finished: read back, not retrained
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match=f"seed must be an int >= 0, got {re.escape(repr(bad))}"):
            train_all(["sudoku"], tmp_path / "data", tmp_path / "seed1", smoke=True, seed=bad)


def test_a_warm_start_begins_from_the_source_weights_and_is_its_own_run(trained, tmp_path):
    """``Recipe.init_from``: the freshly built model takes the source's weights exactly (init_weights
    returns their SHA-256, which the run's identity and record carry); a model of another shape is a
    ``ValueError`` naming the mismatch, never a partial load; a finished cold run does not count as the
    warm one."""
    from dataclasses import replace

    import torch

    from mdlm_study.models.checkpoints import weights_sha256
    from mdlm_study.models.tiny_model import build_model
    from mdlm_study.training.recipes import init_weights, is_trained, study_tokenizer

    root, data = trained
    source = root / "checkpoints" / "default"
    tokenizer = study_tokenizer(data)
    cold = recipe("default", smoke=True)
    warm = replace(cold, name="warm", init_from=str(source))
    model = build_model(warm.model, tokenizer, seed=7)
    sha = init_weights(warm, model, tokenizer)
    reference = load_model(source).model.state_dict()
    assert all(torch.equal(value, reference[key]) for key, value in model.state_dict().items())
    assert sha == weights_sha256(model) == json.loads((source / "training.json").read_text())["weights_sha256"]
    assert init_weights(cold, build_model(cold.model, tokenizer, seed=7), tokenizer) is None

    wider = replace(warm, model=replace(warm.model, hidden_size=48, intermediate_size=96))
    with pytest.raises(ValueError, match="does not fit the recipe's model"):
        init_weights(wider, build_model(wider.model, tokenizer, seed=0), tokenizer)

    short = replace(warm, train=replace(warm.train, steps=4, eval_every=2, save_every=2))
    record = train_recipe(short, data, tmp_path, progress=False, report=False)
    assert record["init_from"] == {"model": str(source), "weights_sha256": sha}
    assert is_trained("warm", tmp_path, short)
    assert not is_trained("warm", tmp_path, replace(short, init_from=None))


def test_a_recipe_trial_trains_for_the_steps_asked_and_records_them(tmp_path):
    """``steps`` (``--steps``) trains a recipe for another length: the record keeps it, and the run counts as
    trained for that length only, never for the recipe of record."""
    own = recipe("sudoku", smoke=True)
    records = train_all(["sudoku"], tmp_path / "data", tmp_path / "trial", smoke=True, progress=False, threads=1, steps=own.train.steps + 3)
    assert records["sudoku"]["train"]["steps"] == own.train.steps + 3
    assert max(h["step"] for h in records["sudoku"]["history"]) == own.train.steps + 3
    assert is_trained("sudoku", tmp_path / "trial", with_steps(own, own.train.steps + 3)) and not is_trained("sudoku", tmp_path / "trial", own)
    assert with_steps(own, None) is own
    batched = train_all(["sudoku"], tmp_path / "data", tmp_path / "batched", smoke=True, progress=False, threads=1, batch_size=8)
    assert batched["sudoku"]["train"]["batch_size"] == 8 and own.train.batch_size != 8
    with pytest.raises(ValueError, match="steps must be an int >= 1, got 0"):
        train_all(["sudoku"], tmp_path / "data", tmp_path / "trial", smoke=True, steps=0)


def test_a_layers_trial_warm_started_from_a_run_folder_records_both(tmp_path):
    """``layers`` and ``init_from`` (``--layers``, ``--init-from``): a chains run of another depth, warm-started
    from a finished run's folder of that depth; the record keeps both, the run counts as trained for that trial
    only, and the chains smoke recipe fits its canvas (192 positions)."""
    start = train_all(["steps"], tmp_path / "data", tmp_path / "start", smoke=True, progress=False, threads=1, layers=2)
    assert start["steps"]["model"]["num_layers"] == 2
    folder = tmp_path / "start" / "steps"
    records = train_all(["chains"], tmp_path / "data", tmp_path / "trial", smoke=True, progress=False, threads=1, layers=2, init_from=folder)
    record = records["chains"]
    assert record["model"]["num_layers"] == 2 and record["model"]["max_length"] == recipe("chains").model.max_length
    assert record["init_from"] == {"model": str(folder), "weights_sha256": start["steps"]["weights_sha256"]}
    own = recipe("chains", smoke=True)
    assert is_trained("chains", tmp_path / "trial", trial_recipe(own, layers=2, init_from=folder))
    assert not is_trained("chains", tmp_path / "trial", trial_recipe(own, layers=2))
    assert not is_trained("chains", tmp_path / "trial", trial_recipe(own, init_from=folder))
    assert trial_recipe(own) is own
    assert trial_recipe(own, batch_size=own.train.batch_size * 2).train.batch_size == own.train.batch_size * 2
    with pytest.raises(ValueError, match="batch_size must be an int >= 1, got -1"):
        train_all(["chains"], tmp_path / "data", tmp_path / "trial", smoke=True, batch_size=-1)
    with pytest.raises(ValueError, match="layers must be an int >= 1, got 0"):
        train_all(["chains"], tmp_path / "data", tmp_path / "trial", smoke=True, layers=0)
    with pytest.raises(ValueError, match="init_from must name a model or a run folder, got ' '"):
        trial_recipe(own, init_from=" ")
    with pytest.raises(ValueError, match="does not fit the recipe's model"):  # a 2-layer start for a 1-layer model
        train_all(["chains"], tmp_path / "data", tmp_path / "misfit", smoke=True, progress=False, threads=1, init_from=folder)


def test_a_drills_trial_trains_arithmetic_beside_each_batch_as_a_run_of_its_own(tmp_path):
    """``aux_batch_size`` (``--aux-batch-size``): the chains recipe with arithmetic drills beside each batch; the record
    keeps the drills, they change the weights, and the run counts as trained for that trial only."""
    from mdlm_study.models.checkpoints import weights_sha256

    own = recipe("chains", smoke=True)
    assert own.train.aux_batch_size == 0
    drilled = train_all(["chains"], tmp_path / "data", tmp_path / "drills", smoke=True, progress=False, threads=1, aux_batch_size=4)["chains"]
    plain = train_all(["chains"], tmp_path / "data", tmp_path / "plain", smoke=True, progress=False, threads=1)["chains"]
    assert drilled["train"]["aux_batch_size"] == 4 and plain["train"]["aux_batch_size"] == 0
    assert drilled["weights_sha256"] != plain["weights_sha256"]
    assert drilled["weights_sha256"] == weights_sha256(load_model(tmp_path / "drills" / "chains").model)
    assert is_trained("chains", tmp_path / "drills", trial_recipe(own, aux_batch_size=4))
    assert not is_trained("chains", tmp_path / "drills", own)
    assert trial_recipe(own, aux_batch_size=0) is not own and trial_recipe(own, aux_batch_size=0).train == own.train
    with pytest.raises(ValueError, match="aux_batch_size must be an int >= 0, got -1"):
        trial_recipe(own, aux_batch_size=-1)


def test_a_run_stopped_until_its_base_step_keeps_the_snapshot_and_finishes_to_the_same_weights(trained, tmp_path):
    """``until`` (``--until``): the run stops after that step with its snapshot and a checkpoint, writes no
    training record (not finished), and a later call without it resumes to the uninterrupted run's weights."""
    from mdlm_study.models.checkpoints import weights_sha256

    root, _ = trained
    r = recipe("default", smoke=True)
    base_step = snapshot_steps("default", r.train.steps)[0]
    stopped = train_all(["default"], tmp_path / "data", tmp_path / "ck", smoke=True, progress=False, threads=1, until=base_step)
    assert stopped["default"]["finished"] is False and stopped["default"]["stopped_at"] == base_step
    assert stopped["default"]["snapshots"] == [f"step{base_step}"]
    run = tmp_path / "ck" / "default"
    assert not (run / "training.json").exists() and not is_trained("default", tmp_path / "ck", r)
    uninterrupted = root / "checkpoints" / "default" / f"step{base_step}"
    assert weights_sha256(load_model(run / f"step{base_step}").model) == weights_sha256(load_model(uninterrupted).model)
    finished = train_all(["default"], tmp_path / "data", tmp_path / "ck", smoke=True, progress=False, threads=1)
    assert finished["default"]["weights_sha256"] == json.loads((root / "checkpoints" / "default" / "training.json").read_text())["weights_sha256"]
    for bad in (0, r.train.steps + 1, True):
        with pytest.raises(ValueError, match=f"until must be a step of the run, an integer in 1..{r.train.steps}, got {bad!r}"):
            train_all(["default"], tmp_path / "data", tmp_path / "ck", smoke=True, until=bad)
