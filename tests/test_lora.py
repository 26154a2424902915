"""LoRA on tiny stand-ins: loss falls, only LoRA weights move, save/reload and merge keep the logits."""

from pathlib import Path

import pandas as pd
import pytest
import torch
from fixtures.checkpoints import LLADA_MASK, checkpoint
from peft import PeftModel
from stand_ins import save_dream, save_llada, save_tiny

from mdlm_study.engine.templates import ARITHMETIC_TEMPLATE
from mdlm_study.models import load_model
from mdlm_study.models.paper_setting import gsm8k_template
from mdlm_study.tasks.benchmark_data import load_gsm8k
from mdlm_study.tasks.gsm8k import grade_gsm8k_trace, gsm8k_item
from mdlm_study.training.lora import (
    LoraSettings,
    add_lora,
    load_adapter,
    lora_targets,
    merge_adapter,
    run_lora_finetune_experiment,
    save_adapter,
    train_lora,
)
from mdlm_study.training.objective import mdlm_loss
from mdlm_study.training.tokenized import tokenize_examples
from mdlm_study.training.train import TrainConfig

CONFIG = TrainConfig(steps=60, batch_size=16, lr=3e-2, warmup=2, bf16=False, eval_every=0, save_every=0, log_every=10)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory, tokenizer):
    return save_tiny(tmp_path_factory.mktemp("lora") / "tiny", tokenizer)


@pytest.fixture(scope="module")
def data(problems, tokenizer):
    items = problems[:32]
    return tokenize_examples(tokenizer, [p.question for p in items], [p.reasoning for p in items], [p.answer for p in items],
                             ARITHMETIC_TEMPLATE)


def fixed_loss(loaded, data) -> float:
    """The objective on the whole set with one fixed draw of masks (a deterministic yardstick)."""
    with torch.no_grad():
        loss, _ = mdlm_loss(loaded.denoiser(aligned=True), data.input_ids, data.attention_mask, data.response_mask,
                            mask_id=loaded.special.mask_id, eps=1e-3, generator=torch.Generator().manual_seed(0))
    return loss.item()


def test_lora_training_lowers_the_loss_and_touches_only_lora_weights(tiny_dir, data, tmp_path):
    loaded = add_lora(load_model(tiny_dir), LoraSettings(r=8, alpha=16))
    before_loss = fixed_loss(loaded, data)
    frozen = {n: p.detach().clone() for n, p in loaded.model.named_parameters() if "lora_" not in n}
    lora_before = {n: p.detach().clone() for n, p in loaded.model.named_parameters() if "lora_" in n}
    train_lora(loaded, data, CONFIG, out_dir=tmp_path / "adapter")
    after_loss = fixed_loss(loaded, data)
    assert after_loss < before_loss - 0.2
    params = dict(loaded.model.named_parameters())
    assert all(torch.equal(params[n], p) for n, p in frozen.items())
    assert any(not torch.equal(params[n], p) for n, p in lora_before.items())

    ids = data.input_ids[:4].clone()
    ids[data.response_mask[:4]] = loaded.special.mask_id
    attn = data.attention_mask[:4]
    with torch.no_grad():
        trained = loaded.denoiser()(ids, attention_mask=attn).logits
        reloaded = load_adapter(load_model(tiny_dir), tmp_path / "adapter")
        torch.testing.assert_close(reloaded.denoiser()(ids, attention_mask=attn).logits, trained, rtol=0, atol=0)
        merged = merge_adapter(reloaded)
        torch.testing.assert_close(merged.denoiser()(ids, attention_mask=attn).logits, trained, rtol=1e-4, atol=1e-4)
    assert not any("lora_" in n for n, _ in merged.model.named_parameters())


@pytest.mark.parametrize("save, family_modules", [
    (save_llada, {"q_proj", "k_proj", "v_proj", "attn_out", "ff_proj", "up_proj", "ff_out"}),
    (save_dream, {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}),
])
def test_remote_families_get_every_block_projection_and_never_the_head(tmp_path, save, family_modules):
    loaded = add_lora(load_model(save(tmp_path / "m"), trust_remote_code=True), LoraSettings(r=2))
    wrapped = {n.rsplit(".", 1)[-1] for n, m in loaded.model.named_modules() if hasattr(m, "lora_A")}
    assert wrapped == family_modules
    heads = [n for n, m in loaded.model.named_modules() if n.endswith(("transformer.ff_out", "lm_head"))]
    assert heads and not any(hasattr(dict(loaded.model.named_modules())[n], "lora_A") for n in heads)


def test_bad_input(tiny_dir, data, tmp_path):
    plain = load_model(tiny_dir)
    with pytest.raises(ValueError, match="add_lora"):
        train_lora(plain, data, CONFIG)
    with pytest.raises(ValueError, match="no LoRA adapter"):
        save_adapter(plain, tmp_path)
    with pytest.raises(ValueError, match="not a LoRA adapter"):
        load_adapter(plain, tmp_path)
    with pytest.raises(ValueError, match="r=0"):
        LoraSettings(r=0)
    plain.model.config.model_type = "roberta"
    with pytest.raises(ValueError, match="'roberta'"):
        lora_targets(plain)


def runs_table(problems):
    return pd.DataFrame({"correct": [True] * len(problems), "nfe": [1] * len(problems), "reasoning": [p.reasoning for p in problems]})


def test_table_e_through_lora_trains_each_arm_from_the_untouched_base(tmp_path):
    """run_lora_finetune_experiment on the tiny LLaDA: the base row sees the plain model, each (arm,
    seed) a trained adapter; the adapter is removed after each run (base weights bit-identical);
    examples whose reasoning does not fit the slot are left out; the same seeds give the same models."""
    loaded = load_model(str(checkpoint("llada", tmp_path / "llada")), trust_remote_code=True, dtype="float32")
    template = gsm8k_template(gen_length=32, answer_len=2)
    items = [gsm8k_item(p) for p in load_gsm8k(Path(__file__).resolve().parent / "fixtures" / "gsm8k_short.jsonl")]
    train_items, test_items = items[:2], items[2:]
    posterior = pd.DataFrame({"uid": [i.uid for i in train_items], "reasoning": ["<<1+1=2>>2", " ".join(["7"] * 40)]})  # the 2nd is too long
    probe = torch.tensor([[5, 6, 7, LLADA_MASK, LLADA_MASK]])
    before = {name: tensor.clone() for name, tensor in loaded.model.state_dict().items()}
    config = TrainConfig(steps=2, batch_size=2, lr=5e-2, warmup=1, bf16=False, eval_every=0, save_every=0)

    def run():
        seen = []

        def evaluate(model, problems):
            with torch.no_grad():
                logits = model.denoiser(aligned=True)(probe, attention_mask=torch.ones_like(probe)).logits
            seen.append((isinstance(model.model, PeftModel), float(logits.double().sum())))
            return pd.DataFrame({"correct": [True, False], "nfe": [3, 3], "reasoning": [p.reasoning for p in problems]})

        runs = run_lora_finetune_experiment(loaded, train_items, test_items, posterior, template, config=config, evaluate=evaluate,
                                            grade=grade_gsm8k_trace, seeds=[0, 1], settings=LoraSettings(r=4, alpha=8))
        return runs, seen

    runs, seen = run()
    assert list(zip(runs["arm"], runs["seed"], strict=True)) == [("base", -1), ("gold", 0), ("gold", 1), ("posterior", 0), ("posterior", 1),
                                                                  ("both", 0), ("both", 1)]
    assert list(runs["n_train"]) == [0, 2, 2, 1, 1, 3, 3]
    assert (runs["accuracy"] == 0.5).all() and (runs["trace_accuracy"] == 1.0).all()  # the gold traces graded by their equations
    assert [adapted for adapted, _ in seen] == [False] + [True] * 6
    assert len({fingerprint for _, fingerprint in seen}) == 7  # every run trained its own adapter
    after = loaded.model.state_dict()
    assert set(after) == set(before) and all(torch.equal(after[name], before[name]) for name in before)
    again, seen_again = run()
    assert seen_again == seen and again.drop(columns="train_seconds").equals(runs.drop(columns="train_seconds"))
    with pytest.warns(UserWarning, match="arm 'posterior' left out"):
        only_gold = run_lora_finetune_experiment(loaded, train_items, test_items, posterior.iloc[1:], template, config=config,
                                                 evaluate=lambda m, p: runs_table(p), grade=grade_gsm8k_trace, seeds=[0])
    assert list(only_gold["arm"]) == ["base", "gold", "both"] and list(only_gold["n_train"]) == [0, 2, 2]
    with pytest.raises(ValueError, match="unknown arm 'gold_only'"):
        run_lora_finetune_experiment(loaded, train_items, test_items, posterior, template, config=config, evaluate=None,
                                     grade=grade_gsm8k_trace, arms=["gold_only"])
