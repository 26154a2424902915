"""load_experiment on the tiny real-architecture LLaDA and Dream checkpoints (tests/fixtures): the
loader's special ids and denoiser adapter through the canvas, the engine and the GSM8K grader, the
paper's setting by default, and padding invariance (length buckets for the LLaDA release that ignores
the attention mask). GSM8K problems: four of the test split (MIT licence, OpenAI 2021), in
tests/fixtures/gsm8k_sample.jsonl."""

import math
from pathlib import Path

import pandas as pd
import pytest
import torch
from fixtures.checkpoints import DREAM_MASK, LLADA_MASK, checkpoint

from mdlm_study.engine import DecodeConfig, generate
from mdlm_study.engine.batching import BucketedDenoiser
from mdlm_study.engine.denoiser import logits_of
from mdlm_study.engine.templates import build_canvas
from mdlm_study.models.loader import PADDING_RTOL, load_model, logits_difference
from mdlm_study.models.paper_setting import PAPER_BLOCK_SIZE, PAPER_BLOCK_SIZES, gsm8k_template
from mdlm_study.runner.experiment import load_experiment

GSM8K_SAMPLE = Path(__file__).resolve().parent / "fixtures" / "gsm8k_sample.jsonl"


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    root = tmp_path_factory.mktemp("experiment")
    return {"llada": checkpoint("llada", root / "llada"), "llada_original": checkpoint("llada", root / "orig", revision="original"),
            "llada_base": checkpoint("llada", root / "base", instruct=False), "dream": checkpoint("dream", root / "dream")}


def experiment(path, **kwargs):
    """A small experiment in float32 (bf16 matmuls are ~8x slower on CPU; the loader's tests cover bf16)."""
    options = dict(checkpoints_dir="unused", data_dir="unused", n_problems=2, data_path=str(GSM8K_SAMPLE), trust_remote_code=True,
                   batch_size=2, gen_length=12, answer_len=4, dtype="float32")
    return load_experiment(str(path), "gsm8k", **{**options, **kwargs})


@pytest.mark.parametrize("name, mask_id", [("llada", LLADA_MASK), ("dream", DREAM_MASK), ("llada_original", LLADA_MASK)])
def test_load_experiment_evaluates_gsm8k_end_to_end(paths, name, mask_id):
    exp = experiment(paths[name])
    assert exp.special == exp.loaded.special and exp.special.mask_id == mask_id and exp.shift_logits is False
    assert isinstance(exp.model, BucketedDenoiser) == (name == "llada_original")
    table = exp.evaluate(exp.problems, sampler="entropy", block_size=exp.resolve("block_size", None))
    assert list(table["uid"]) == ["gsm8k-0", "gsm8k-1"] and table["answer"].tolist() == ["4", "71"]
    assert (table["nfe"] == 12).all() and table["correct"].dtype == bool
    with_exit = exp.evaluate(exp.problems, sampler="med", med_lambda=0.2, exit_gamma=1e9)
    assert (with_exit["nfe"] < 12).all() and with_exit["exited"].all()


def test_the_paper_setting_is_the_default_for_real_models(paths):
    exp = load_experiment(str(paths["llada"]), "gsm8k", checkpoints_dir="unused", data_dir="unused", n_problems=1,
                          data_path=str(GSM8K_SAMPLE), trust_remote_code=True)
    t = exp.template
    assert (t.reasoning_len, t.answer_len, t.delimiter, t.suffix, t.chat) == (246, 10, " The answer is \\boxed{", "}", True)
    assert t == gsm8k_template(chat=True)
    assert exp.resolve("block_size", None) == PAPER_BLOCK_SIZE == 32 == exp.resolve("fixed_k_block_size", None)
    assert exp.resolve("block_sizes", None) == list(PAPER_BLOCK_SIZES) == [1, 32, 128, 0]
    assert exp.resolve("block_size", 8) == 8 and exp.resolve("gen_length", None) == 256
    canvas = build_canvas(exp.tokenizer, [exp.problems[0].question], t, special=exp.special)
    text = exp.tokenizer.decode(canvas.input_ids[0].tolist())
    assert text.startswith("<|startoftext|><|start_header_id|>user<|end_header_id|>\n\nJohn arm wrestles")
    assert "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n" in text
    assert text.endswith(" The answer is \\boxed{" + "<|mdm_mask|>" * 10 + "}")
    assert int((canvas.input_ids == LLADA_MASK).sum()) == 256
    base = load_experiment(str(paths["llada_base"]), "gsm8k", checkpoints_dir="unused", data_dir="unused", n_problems=1,
                           data_path=str(GSM8K_SAMPLE), trust_remote_code=True)
    assert base.template.chat is False and base.template.prompt_suffix == "\n"  # no chat template on a Base model


def test_dream_gets_its_chat_template(paths):
    exp = experiment(paths["dream"])
    canvas = build_canvas(exp.tokenizer, [exp.problems[0].question], exp.template, special=exp.special)
    text = exp.tokenizer.decode(canvas.input_ids[0].tolist())
    assert text.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nJohn")
    assert "<|im_end|>\n<|im_start|>assistant\n" in text and text.endswith("<|mask|>" * 4 + "}")


@pytest.mark.parametrize("name", ["llada", "llada_original", "dream"])
def test_padded_batches_decode_as_rows_alone(paths, name):
    """Rows of different prompt lengths, left-padded together, get the tokens they get alone."""
    exp = experiment(paths[name], n_problems=4)
    questions = [p.question for p in exp.problems]
    canvas = build_canvas(exp.tokenizer, questions, exp.template, special=exp.special)
    assert len(set(canvas.prompt[:, 0].tolist())) > 1  # really padded

    def run(rows):
        sub = build_canvas(exp.tokenizer, [questions[i] for i in rows], exp.template, special=exp.special)
        out = generate(exp.model, sub.input_ids, sampler="entropy", mask_id=exp.special.mask_id, attention_mask=sub.attention_mask,
                       answer_span=sub.answer, block_size=4)
        return [out.sequences[j, sub.prompt[j, 0]:].tolist() for j in range(len(rows))]

    if name == "llada_original":  # bucketed: every forward sees unpadded rows, so the tokens are the same
        assert run([0, 1, 2, 3]) == [run([i])[0] for i in range(4)]
        return
    # a model that honours the mask: its logits on a padded row equal the row's alone up to float rounding
    # (other matmul shapes round differently, so a near-tie between two tokens of this random model may
    # flip: the guarantee is the logits', as the loader's padding probe checks)
    with torch.no_grad():
        batched = logits_of(exp.model(canvas.input_ids, attention_mask=canvas.attention_mask))
        for i in range(4):
            alone = build_canvas(exp.tokenizer, [questions[i]], exp.template, special=exp.special)
            single = logits_of(exp.model(alone.input_ids, attention_mask=alone.attention_mask))[0]
            n = single.shape[0] - 1  # the first real position is prompt (a shifted model reads it off the padding before it)
            assert logits_difference(single[1:], batched[i, -n:]) <= PADDING_RTOL[torch.float32]


def test_the_original_llada_needs_the_buckets(paths):
    """Without the buckets the release that ignores the mask decodes a padded row differently."""
    exp = experiment(paths["llada_original"], n_problems=4, dtype="float32")
    questions = [p.question for p in exp.problems]
    canvas = build_canvas(exp.tokenizer, questions, exp.template, special=exp.special)
    raw = exp.model.denoiser
    padded = raw(canvas.input_ids, attention_mask=canvas.attention_mask).logits
    bucketed = exp.model(canvas.input_ids, attention_mask=canvas.attention_mask).logits
    row = int(canvas.prompt[:, 0].argmax())  # the most padded row
    alone = build_canvas(exp.tokenizer, [questions[row]], exp.template, special=exp.special)
    reference = raw(alone.input_ids).logits[0]
    start = int(canvas.prompt[row, 0])
    assert not torch.allclose(padded[row, start:], reference, atol=1e-3)
    torch.testing.assert_close(bucketed[row, start:], reference)


def test_a_gpu_hour_budget_keeps_the_problems_that_fit(paths):
    exp = experiment(paths["llada"], n_problems=4)
    params = {"gammas": [0.1]}
    full = exp.limit_to_budget(None, "04", params)
    assert full["n_problems"] == 4 and full["nfe_per_problem"] == 12 * (1 + 2 * 2 + 2) and full["canvas_tokens"] > 12
    assert full["parameters"] == sum(p.numel() for p in exp.loaded.model.parameters())
    capped = exp.limit_to_budget(full["gpu_hours"] / 4 * 2.5, "04", params)  # room for 2.5 problems of mean width
    assert len(exp.problems) == capped["n_problems"] == 2 and capped["gpu_hours"] <= capped["gpu_hours_budget"] * 1.2


def test_a_budget_pays_the_fixed_fine_tuning_cost_first(paths):
    exp = experiment(paths["llada"], n_problems=4)
    params = {"n_samples": 1, "seeds": [0], "n_finetune": 2, "finetune_steps": 1, "finetune_batch_size": 2}
    full = exp.limit_to_budget(None, "05", params)
    fixed = 2 * 12 + 3 * 1 * 1 * 2 * 3  # 2 posterior samples of 12 passes, 3 arms x 1 seed x 1 step x 2 examples x 3
    assert full["fixed_nfe"] == fixed and full["nfe_per_problem"] == 12 * (1 + 1 + 1 + 3)
    assert full["nfe"] == 4 * 12 * 6 + fixed and math.isclose(full["gpu_hours"], full["nfe"] * full["seconds_per_nfe"] / 3600)
    fixed_hours = fixed * full["seconds_per_nfe"] / 3600
    capped = exp.limit_to_budget(fixed_hours + 2.5 * 12 * 6 * full["seconds_per_nfe"] / 3600, "05", params)
    assert capped["n_problems"] == len(exp.problems) == 2
    with pytest.raises(ValueError, match="does not cover 05's fixed cost"):
        exp.limit_to_budget(fixed_hours / 2, "05", params)


def test_evaluate_loaded_is_evaluate_for_another_load_of_the_model(paths):
    exp = experiment(paths["llada"])
    again = load_model(str(paths["llada"]), trust_remote_code=True, dtype="float32")
    config = DecodeConfig("entropy", block_size=4)
    pd.testing.assert_frame_equal(exp.evaluate(exp.problems, config), exp.evaluate_loaded(again, exp.problems, config))
