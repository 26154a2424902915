"""Recipe search for the default model (docs/decisions.md, "Study targets"): short trainings that compare backbones, masking
schedules and task difficulty on the study's arithmetic, evaluated with greedy left-to-right decoding.

Each preset trains one model from scratch on a freshly generated training set (seed 1), evaluates
it every 500 steps on 150 held-out 3-step problems (seed 1000) and appends its curve to the results
file. Each evaluation also records the teacher-forced next-token accuracy by token class
(``evaluate.teacher_forced_accuracy``: units digit / higher digits of each step's result, other
reasoning tokens, answer), which says whether the model has learnt the arithmetic or only the format. Run two presets side by side with one thread each (how they were measured here):

    OMP_NUM_THREADS=1 python benchmarks/recipe_search.py euro_carry_free --out benchmarks/results/history/recipe_search.json

The presets (all 1,500 steps, batch 64, ~1.8M parameters, hidden 192, 4 layers):
- ``bert``, ``modernbert``, ``eurobert``: the backbone, on arithmetic with carries (the original task);
- ``bert_suffix``: BERT with 75% of the examples suffix-masked (block-diffusion-style masks);
- ``eurobert_suffix_lr2e-3``: EuroBERT, 50% suffix masks, peak lr 2e-3;
- ``eurobert_small_values``: EuroBERT, as above, values kept below 60;
- ``euro_carry_free``: EuroBERT on carry-free arithmetic (``ArithmeticConfig(carry_ops=())``);
- ``euro_carry_free_suffix_lr2e-3``: the same with 50% suffix masks and lr 2e-3.

Presets on the study's task (``mdlm_study.tasks.data.DEFAULT_CONFIG``: + and x carry, - never borrows),
sized for an fp32 CPU thread (0.86M parameters, hidden 128, batch 32, lr 2e-3, flat loss, 40k problems):
- ``study_small_iid``: LLaDA's independent masks;
- ``study_small_copies``: a restated number is masked together with its copies (``mask_copies``);
- ``study_small_copies_drills64`` / ``_drills128``: the same plus 64 / 128 arithmetic drills per step
  (``tasks.arithmetic.drills``: every single step the task allows, ``"47+3="`` -> ``"50"``, as an
  auxiliary batch; ``TrainConfig.aux_batch_size``);
- ``study_small_copies_lr1e-3``: ``study_small_copies`` at half the peak learning rate;
- ``study_small_copies_wd0.1`` / ``_lr1e-3_wd0.1``: weight decay 0.1 (without / with lr 1e-3), the
  settings that learnt the arithmetic fastest in ``benchmarks/drill_probe.py``;
- ``study_small_copies_forward``: a restated number is hidden whenever its source is, and also on its
  own draw (``copy_rule="forward"``), so the model sees a visible result with a hidden restatement,
  the context left-to-right decoding meets, and learns to restate;
- ``study_small_copies_elbo``: LLaDA's 1/t weights instead of the flat mean (more weight on lightly
  masked examples, where a step's operands are visible while its result is masked);
- ``study_small_values_copies``: the same with smaller numbers (start 2-19, every value below 60).

The results file also keeps the partial curves of a full study run on carry-free arithmetic
(``study_carry_free_*``), stopped when the answer-only model overtook the reasoning model; that is
why the study's task lets + and x carry (``mdlm_study.tasks.data.DEFAULT_CONFIG``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch

EURO = {"arch": "eurobert", "intermediate_size": 512}
CARRY_FREE = {"carry_ops": (), "start_range": (2, 49), "operand_range": (1, 9)}
STUDY_TASK = {"start_range": (2, 49), "operand_range": (1, 9), "carry_ops": ("add", "mul")}
SMALL = {"model": {"arch": "eurobert", "hidden_size": 128, "intermediate_size": 384}, "task": STUDY_TASK, "n_train": 40_000}
SMALL_TRAIN = {"batch_size": 32, "lr": 2e-3, "loss_weighting": "flat"}
PRESETS = {
    "bert": {"model": {"arch": "bert"}},
    "modernbert": {"model": {"arch": "modernbert"}},
    "eurobert": {"model": EURO},
    "bert_suffix": {"model": {"arch": "bert"}, "train": {"suffix_mask_prob": 0.75}},
    "eurobert_suffix_lr2e-3": {"model": EURO, "train": {"suffix_mask_prob": 0.5, "lr": 2e-3}},
    "eurobert_small_values": {"model": EURO, "task": {"start_range": (2, 19), "max_value": 59},
                              "train": {"suffix_mask_prob": 0.5, "lr": 2e-3}},
    "euro_carry_free": {"model": EURO, "task": CARRY_FREE, "n_train": 40_000},
    "euro_carry_free_suffix_lr2e-3": {"model": EURO, "task": CARRY_FREE, "n_train": 40_000,
                                      "train": {"suffix_mask_prob": 0.5, "lr": 2e-3}},
    "study_small_iid": {**SMALL, "train": SMALL_TRAIN},
    "study_small_copies": {**SMALL, "train": {**SMALL_TRAIN, "mask_copies": True}},
    "study_small_copies_drills64": {**SMALL, "train": {**SMALL_TRAIN, "mask_copies": True, "aux_batch_size": 64}},
    "study_small_copies_drills128": {**SMALL, "train": {**SMALL_TRAIN, "mask_copies": True, "aux_batch_size": 128}},
    "study_small_copies_lr1e-3": {**SMALL, "train": {**SMALL_TRAIN, "mask_copies": True, "lr": 1e-3}},
    "study_small_copies_wd0.1": {**SMALL, "train": {**SMALL_TRAIN, "mask_copies": True, "weight_decay": 0.1}},
    "study_small_copies_lr1e-3_wd0.1": {**SMALL, "train": {**SMALL_TRAIN, "mask_copies": True, "lr": 1e-3, "weight_decay": 0.1}},
    "study_small_copies_forward": {**SMALL, "train": {**SMALL_TRAIN, "mask_copies": True, "copy_rule": "forward"}},
    "study_small_copies_elbo": {**SMALL, "train": {**SMALL_TRAIN, "mask_copies": True, "loss_weighting": "elbo"}},
    "study_small_values_copies": {**SMALL, "task": {**STUDY_TASK, "start_range": (2, 19), "max_value": 59},
                                  "train": {**SMALL_TRAIN, "mask_copies": True}},
}


def run(name: str, preset: dict) -> dict:
    from mdlm_study.engine.templates import Template
    from mdlm_study.experiments.evaluate import evaluate_arithmetic, teacher_forced_accuracy
    from mdlm_study.models.tiny_model import ModelConfig, build_model, count_parameters
    from mdlm_study.models.tiny_tokenizer import build_tokenizer
    from mdlm_study.tasks.arithmetic import ArithmeticConfig, drills, generate_problems, problem_key
    from mdlm_study.training.tokenized import tokenize_examples, tokenize_pairs
    from mdlm_study.training.train import TrainConfig, train

    task = ArithmeticConfig(**preset.get("task", {}))
    test = generate_problems(dataclasses.replace(task, min_steps=3, max_steps=3), 150, seed=1000)
    train_set = generate_problems(task, preset.get("n_train", 60_000), seed=1, exclude={problem_key(p) for p in test})
    tokenizer = build_tokenizer([p.question + "\n" + p.gsm8k_answer for p in train_set[:20_000] + test] + ["0 1 2 3 4 5 6 7 8 9"])
    template = Template(reasoning_len=24, answer_len=4, delimiter="\n####", answer_prefix=" ")
    data = tokenize_examples(tokenizer, [p.question for p in train_set], [p.reasoning for p in train_set], [p.answer for p in train_set], template)
    model_config = ModelConfig(**preset.get("model", {}))
    train_config = TrainConfig(**{"steps": 1500, "batch_size": 64, "lr": 1e-3, "warmup": 100, "eval_every": 500, "save_every": 0,
                                  "log_every": 100, **preset.get("train", {})})
    model = build_model(model_config, tokenizer, seed=0)
    started, evals = time.perf_counter(), []

    def evaluate(net) -> dict:
        table = evaluate_arithmetic(net, tokenizer, test, template, sampler="l2r")
        row = {"minutes": (time.perf_counter() - started) / 60, "accuracy": float(table["correct"].mean()),
               "trace_accuracy": float(table["trace_correct"].mean()), "step_accuracy": float((table["n_correct_steps"] / 3).mean()),
               "teacher_forced": teacher_forced_accuracy(net, tokenizer, test, template)}
        evals.append(row)
        print(name, row, flush=True)
        return row

    aux = tokenize_pairs(tokenizer, *zip(*drills(task), strict=True)) if train_config.aux_batch_size else None
    history = train(model, data, train_config, mask_id=tokenizer.mask_token_id, eval_fn=evaluate, aux=aux, progress=False)
    steps = [h["step"] for h in history if "accuracy" in h]
    return {"task": dataclasses.asdict(task), "model": dataclasses.asdict(model_config), "train": dataclasses.asdict(train_config),
            "parameters": count_parameters(model), "threads": torch.get_num_threads(), "minutes": (time.perf_counter() - started) / 60,
            "evals": [{"step": s, **e} for s, e in zip(steps, evals, strict=True)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("preset", choices=sorted(PRESETS))
    parser.add_argument("--out", default="benchmarks/results/history/recipe_search.json")
    args = parser.parse_args()
    result = run(args.preset, PRESETS[args.preset])
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.exists() else {}
    results[args.preset] = result
    out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
