from dataclasses import replace

import pytest
import torch

from mdlm_study.engine.templates import Template
from mdlm_study.models.checkpoints import save_snapshot, verify_checkpoint, weights_sha256
from mdlm_study.models.tiny_model import ModelConfig, build_model, count_parameters, is_checkpoint, load_tiny
from mdlm_study.training.objective import mdlm_loss
from mdlm_study.training.tokenized import tokenize_examples, tokenize_pairs
from mdlm_study.training.train import TrainConfig, lr_at, train

SMALL = ModelConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)


@pytest.fixture(scope="module")
def data(tokenizer, problems):
    ps = problems[:64]
    return tokenize_examples(tokenizer, [p.question for p in ps], [p.reasoning for p in ps], [p.answer for p in ps], Template())


def test_tokenized_set_masks_only_the_slots(data):
    assert data.response_mask.sum(1).eq(48).all()
    assert not (data.response_mask & ~data.attention_mask.bool()).any()


def test_loss_only_on_masked_response_tokens(tokenizer, data):
    model = build_model(SMALL, tokenizer, seed=0)
    ids, attn, resp, _ = data.batch(torch.arange(8))
    g = torch.Generator().manual_seed(0)
    loss, n = mdlm_loss(model, ids, attn, resp, mask_id=tokenizer.mask_token_id, eps=1e-3, generator=g)
    assert loss.item() > 0 and 0 < n <= int(resp.sum())
    none = torch.zeros_like(resp)
    loss0, n0 = mdlm_loss(model, ids, attn, none, mask_id=tokenizer.mask_token_id, eps=1e-3, generator=torch.Generator().manual_seed(0))
    assert n0 == 0 and loss0.item() == 0


@pytest.mark.parametrize("weighting, suffix", [("elbo", 0.0), ("flat", 0.0), ("elbo", 0.5)])
def test_training_reduces_loss(tokenizer, data, weighting, suffix):
    model = build_model(SMALL, tokenizer, seed=0)
    config = TrainConfig(steps=40, batch_size=16, lr=3e-3, warmup=5, eval_every=0, save_every=0, log_every=5, bf16=False,
                         loss_weighting=weighting, suffix_mask_prob=suffix)
    history = train(model, data, config, mask_id=tokenizer.mask_token_id, progress=False)
    losses = [h["loss"] for h in history if "loss" in h]
    assert sum(losses[-2:]) < sum(losses[:2])


def test_resume_gives_identical_weights(tokenizer, data, tmp_path):
    config = TrainConfig(steps=12, batch_size=8, warmup=2, eval_every=0, save_every=0, log_every=4, bf16=False, seed=5)
    straight = build_model(SMALL, tokenizer, seed=1)
    train(straight, data, config, mask_id=tokenizer.mask_token_id, progress=False)

    interrupted = build_model(SMALL, tokenizer, seed=1)
    run = tmp_path / "run"
    train(interrupted, data, config, mask_id=tokenizer.mask_token_id, out_dir=run, tokenizer=tokenizer, stop_after=5, progress=False)
    resumed = build_model(SMALL, tokenizer, seed=99)  # different init: everything must come from the checkpoint
    train(resumed, data, config, mask_id=tokenizer.mask_token_id, out_dir=run, resume=True, snapshots=(8,), progress=False)
    assert is_checkpoint(run / "step8") and not (run / "step4").exists()
    assert verify_checkpoint(run / "step8")["step"] == 8 and verify_checkpoint(run)["step"] == 12
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_weights_fingerprint_survives_a_checkpoint_and_sees_one_changed_bit(tokenizer, tmp_path):
    model = build_model(SMALL, tokenizer, seed=3)
    fingerprint = weights_sha256(model)
    assert fingerprint == weights_sha256(build_model(SMALL, tokenizer, seed=3))
    assert fingerprint != weights_sha256(build_model(SMALL, tokenizer, seed=4))
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    assert weights_sha256(load_tiny(tmp_path, external=True)[0]) == fingerprint
    with torch.no_grad():  # flip the lowest mantissa bit of one weight
        weight = next(model.parameters())
        weight.data.view(-1).view(torch.int32)[0] ^= 1
    assert weights_sha256(model) != fingerprint


@pytest.mark.parametrize("arch", ["bert", "modernbert", "eurobert"])
def test_checkpoint_round_trip_and_bad_dirs(tokenizer, tmp_path, arch):
    model = build_model(ModelConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, arch=arch), tokenizer, seed=0)
    model.save_pretrained(tmp_path / "ckpt")
    tokenizer.save_pretrained(tmp_path / "ckpt")
    assert is_checkpoint(tmp_path / "ckpt")
    with pytest.raises(ValueError, match="ckpt is not a complete checkpoint: no checkpoint.json"):
        load_tiny(tmp_path / "ckpt")  # a plain save_pretrained folder: only through the explicit external path
    loaded, tok = load_tiny(tmp_path / "ckpt", external=True)
    ids = torch.tensor([[tok.bos_token_id, tok.mask_token_id, tok.eos_token_id]])
    assert torch.equal(model(input_ids=ids).logits, loaded(input_ids=ids).logits)
    save_snapshot(model, tmp_path / "snap", 0, tokenizer)
    assert torch.equal(model(input_ids=ids).logits, load_tiny(tmp_path / "snap")[0](input_ids=ids).logits)
    assert next(load_tiny(tmp_path / "snap", dtype=torch.bfloat16)[0].parameters()).dtype == torch.bfloat16  # cast after the checks
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="not a checkpoint directory"):
        load_tiny(tmp_path / "empty", external=True)
    with pytest.raises(ValueError, match="empty is not a complete checkpoint"):
        train(model, None, TrainConfig(steps=1), mask_id=0, out_dir=tmp_path / "empty", resume=True, progress=False)
    with pytest.raises(ValueError, match="snap: it is a 'snapshot', not a training checkpoint"):
        train(model, None, TrainConfig(steps=1), mask_id=0, out_dir=tmp_path / "snap", resume=True, progress=False)


@pytest.mark.parametrize("arch", ["bert", "modernbert", "eurobert"])
def test_left_padding_does_not_change_logits(tokenizer, arch):
    model = build_model(ModelConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, arch=arch), tokenizer, seed=0).eval()
    row = torch.tensor([[tokenizer.bos_token_id, 10, 11, tokenizer.mask_token_id, 12]])
    padded = torch.cat([torch.full((1, 3), tokenizer.pad_token_id), row], dim=1)
    attn = torch.cat([torch.zeros(1, 3, dtype=torch.long), torch.ones(1, 5, dtype=torch.long)], dim=1)
    alone = model(input_ids=row, attention_mask=torch.ones_like(row)).logits
    with_pad = model(input_ids=padded, attention_mask=attn).logits[:, 3:]
    torch.testing.assert_close(alone, with_pad, rtol=1e-5, atol=1e-5)


def test_too_long_sequence_is_rejected(tokenizer):
    model = build_model(ModelConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, max_length=8), tokenizer, seed=0)
    with pytest.raises(ValueError, match="exceeds max_position_embeddings=8"):
        model(input_ids=torch.zeros(1, 9, dtype=torch.long))


@pytest.mark.parametrize(
    "kwargs, match",
    [({"steps": 0}, "steps"), ({"lr": -1.0}, "lr"), ({"eps": 1.5}, "eps"), ({"loss_weighting": "x"}, "loss_weighting"),
     ({"suffix_mask_prob": 2.0}, "suffix_mask_prob"), ({"aux_batch_size": -1}, "aux_batch_size")],
)
def test_bad_train_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"hidden_size": 0}, "hidden_size"), ({"hidden_size": 30, "num_heads": 4}, "divisible"), ({"arch": "gpt"}, "arch"),
     ({"init_std": 0.0}, "init_std")],
)
def test_bad_model_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ModelConfig(**kwargs)


def test_schedule_warms_up_then_decays():
    config = TrainConfig(steps=100, lr=1.0, warmup=10, min_lr_ratio=0.1)
    assert lr_at(0, config) == pytest.approx(0.1)
    assert lr_at(9, config) == pytest.approx(1.0)
    assert lr_at(99, config) == pytest.approx(0.1, abs=1e-3)
    assert count_parameters(build_model(SMALL, __import__("mdlm_study.models.tiny_tokenizer").models.tiny_tokenizer.build_tokenizer(["a"]), seed=0)) > 0


def test_suffix_masks_cover_a_suffix_of_the_response():
    from mdlm_study.training.objective import _suffix_masks

    maskable = torch.tensor([[False, True, True, True, True, False], [False, False, True, True, True, True]])
    masked = torch.zeros_like(maskable)
    p = torch.full((2, 1), 0.5)
    out, frac = _suffix_masks(masked, p, maskable, 1.0, torch.Generator().manual_seed(0))
    for row in range(2):
        cols = out[row].nonzero()[:, 0].tolist()
        resp = maskable[row].nonzero()[:, 0].tolist()
        assert cols == resp[len(resp) - len(cols):]  # a (possibly full) suffix of the response
        assert frac[row, 0].item() == pytest.approx(max(len(cols) / len(resp), 1e-3))


@pytest.mark.parametrize("arch", ["bert", "modernbert", "eurobert"])
def test_init_std_defaults_to_inverse_sqrt_width(tokenizer, arch):
    """Weights start at std hidden_size ** -0.5 (not transformers' 0.02), or at an explicit init_std.
    (ModernBERT draws from a truncated normal with depth scaling, so only its config value is checked.)"""
    for hidden, init_std, want in ((64, None, 64**-0.5), (64, 0.02, 0.02)):
        config = ModelConfig(hidden_size=hidden, num_layers=1, num_heads=2, intermediate_size=128, arch=arch, init_std=init_std)
        model = build_model(config, tokenizer, seed=0)
        assert model.config.initializer_range == pytest.approx(want)
        big = [p for n, p in model.named_parameters() if p.ndim == 2 and p.numel() >= 64 * 64 and "embed" not in n]
        assert big and arch == "modernbert" or torch.cat([p.flatten() for p in big]).std().item() == pytest.approx(want, rel=0.15)


def test_bf16_default_follows_the_hardware(tokenizer, data, monkeypatch):
    """``bf16=None`` autocasts only where the device has native bf16 kernels (decided by ``native_bf16``)."""
    import mdlm_study.training.train as train_module

    seen = []
    real_loss = train_module.mdlm_loss
    monkeypatch.setattr(train_module, "mdlm_loss", lambda *a, **k: (seen.append(k["bf16"]), real_loss(*a, **k))[1])
    config = TrainConfig(steps=1, batch_size=4, warmup=0, eval_every=0, save_every=0)
    for native in (False, True):
        monkeypatch.setattr(train_module, "native_bf16", lambda device, native=native: native)
        train(build_model(SMALL, tokenizer, seed=0), data, config, mask_id=tokenizer.mask_token_id, progress=False)
    train(build_model(SMALL, tokenizer, seed=0), data, replace(config, bf16=False), mask_id=tokenizer.mask_token_id, progress=False)
    assert seen == [False, True, False]
    assert isinstance(train_module.native_bf16("cpu"), bool)


def test_pairs_mask_only_the_response(tokenizer):
    pairs = tokenize_pairs(tokenizer, ["12+3=", "7*2="], ["15", "14"])
    assert pairs.input_ids.shape == (2, 8) and pairs.attention_mask[1, 0] == 0  # BOS 1 2 + 3 = 1 5; the shorter row is padded
    assert pairs.response_mask.sum(1).tolist() == [2, 2] and pairs.response_mask[:, -2:].all()
    assert tokenizer.decode(pairs.input_ids[0, pairs.response_mask[0]]) == "15"
    with pytest.raises(ValueError, match="as many responses"):
        tokenize_pairs(tokenizer, ["1+1="], [])


def test_auxiliary_batches_join_every_step_deterministically(tokenizer, data):
    aux = tokenize_pairs(tokenizer, ["12+3=", "7*2=", "4+4="], ["15", "14", "8"])
    config = TrainConfig(steps=6, batch_size=8, warmup=1, eval_every=0, save_every=0, log_every=1, bf16=False, aux_batch_size=4)
    runs = []
    for _ in range(2):
        model = build_model(SMALL, tokenizer, seed=0)
        history = train(model, data, config, mask_id=tokenizer.mask_token_id, aux=aux, progress=False)
        runs.append(model.state_dict())
    without = build_model(SMALL, tokenizer, seed=0)
    train(without, data, replace(config, aux_batch_size=0), mask_id=tokenizer.mask_token_id, aux=aux, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(runs[0].values(), runs[1].values(), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(runs[0].values(), without.state_dict().values(), strict=True))
    assert all(h["tokens_per_s"] > 0 for h in history if "loss" in h)


def test_copy_groups_link_each_digit_of_a_restated_number(tokenizer):
    from mdlm_study.models.tiny_tokenizer import digit_ids
    from mdlm_study.training.objective import copy_groups

    canvas = tokenize_examples(tokenizer, ["Tom has 23 pens."], ["23-5=18\n18+4=22"], ["22"], Template(reasoning_len=16))
    ids, resp, groups = canvas.input_ids[0], canvas.response_mask[0], canvas.groups[0]
    tokens = tokenizer.convert_ids_to_tokens(ids.tolist())
    cols = {i: t for i, t in enumerate(tokens) if resp[i]}
    first = min(cols)
    # 23-5=18\n18+4=22 ... #### 22: "18" and "22" are restated, "23" of the question is not in the response
    assert groups[first + 8].item() == first + 5 and groups[first + 9].item() == first + 6  # 18 -> first 18, digit by digit
    answer = [i for i in cols if i > first + 16 and tokens[i].isdigit()]
    assert [groups[i].item() for i in answer] == [first + 13, first + 14]  # the answer's 22 -> the trace's 22
    assert groups[first].item() == first and groups[first + 2].item() == first + 2  # 23 (first in the response), '-'
    outside = ~resp
    assert torch.equal(groups[outside], torch.arange(len(ids))[outside])
    assert copy_groups(ids[None], resp[None], digit_ids(tokenizer)).equal(groups[None])


def test_mask_copies_masks_a_group_together(tokenizer):
    canvas = tokenize_examples(tokenizer, ["Tom has 23 pens."] * 64, ["23-5=18\n18+4=22"] * 64, ["22"] * 64, Template(reasoning_len=16))
    ids, attn, resp, groups = canvas.batch(torch.arange(64))
    seen = {}

    def spy(input_ids, attention_mask=None):
        seen["masked"] = input_ids == tokenizer.mask_token_id
        return torch.zeros(*input_ids.shape, len(tokenizer))

    mdlm_loss(spy, ids, attn, resp, mask_id=tokenizer.mask_token_id, eps=1e-3, generator=torch.Generator().manual_seed(0), groups=groups)
    masked = seen["masked"]
    assert torch.equal(masked, masked.gather(1, groups))  # every position shares its group's decision
    linked = groups != torch.arange(ids.shape[1])
    assert linked.any() and masked[linked].any() and (~masked[linked]).any()


def test_compiled_training_matches_eager_and_saves_plain_weights(tokenizer, tmp_path):
    """``compile=True`` trains through ``torch.compile`` on full-width batches: on rows without
    padding (where trimming changes nothing) it reaches the eager weights up to float rounding, and
    its checkpoint holds the plain module's weight names (loadable with ``load_tiny``)."""
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(10, len(tokenizer), (32, 20), generator=g)
    response = torch.zeros_like(ids, dtype=torch.bool)
    response[:, 8:] = True
    from mdlm_study.training.tokenized import TokenizedSet

    unpadded = TokenizedSet(ids, torch.ones_like(ids), response)
    config = TrainConfig(steps=4, batch_size=8, warmup=1, eval_every=0, save_every=0, log_every=2, bf16=False)
    eager, compiled = build_model(SMALL, tokenizer, seed=3), build_model(SMALL, tokenizer, seed=3)
    train(eager, unpadded, config, mask_id=tokenizer.mask_token_id, progress=False)
    train(compiled, unpadded, replace(config, compile=True), mask_id=tokenizer.mask_token_id, out_dir=tmp_path, tokenizer=tokenizer,
          progress=False)
    for (name, a), (_, b) in zip(eager.state_dict().items(), compiled.state_dict().items(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)
    reloaded, _ = load_tiny(tmp_path)
    assert reloaded.state_dict().keys() == eager.state_dict().keys() and weights_sha256(reloaded) == weights_sha256(compiled)


def test_compile_default_follows_the_toolchain(tokenizer, data, monkeypatch):
    """``compile=None`` compiles only where a C++ compiler is found; ``False`` never compiles."""
    import mdlm_study.training.train as train_module

    calls = []
    monkeypatch.setattr(train_module, "compiled_forward", lambda model: (calls.append(1), model)[1])
    config = TrainConfig(steps=1, batch_size=4, warmup=0, eval_every=0, save_every=0, bf16=False)
    for available in (False, True):
        monkeypatch.setattr(train_module, "cxx_compiler_available", lambda available=available: available)
        train(build_model(SMALL, tokenizer, seed=0), data, replace(config, compile=None), mask_id=tokenizer.mask_token_id, progress=False)
    train(build_model(SMALL, tokenizer, seed=0), data, replace(config, compile=False), mask_id=tokenizer.mask_token_id, progress=False)
    assert calls == [1]
    assert isinstance(train_module.cxx_compiler_available(), bool)


def test_forward_copy_rule_hides_copies_of_hidden_sources_and_lets_visible_sources_be_copied(tokenizer):
    """``copy_rule="forward"``: a copy is masked whenever its source is (no reading a result off its
    restatement), and a visible source with a hidden copy occurs (the left-to-right context at every
    restated number), which the tied rule never produces."""
    canvas = tokenize_examples(tokenizer, ["Tom has 23 pens."] * 256, ["23-5=18\n18+4=22"] * 256, ["22"] * 256, Template(reasoning_len=16))
    ids, attn, resp, groups = canvas.batch(torch.arange(256))
    linked = groups != torch.arange(ids.shape[1])

    def masks(rule):
        seen = {}

        def spy(input_ids, attention_mask=None):
            seen["masked"] = input_ids == tokenizer.mask_token_id
            return torch.zeros(*input_ids.shape, len(tokenizer))

        mdlm_loss(spy, ids, attn, resp, mask_id=tokenizer.mask_token_id, eps=1e-3, generator=torch.Generator().manual_seed(0),
                  groups=groups, copy_rule=rule)
        return seen["masked"], seen["masked"].gather(1, groups)  # each position's mask, its source's mask

    masked, source = masks("forward")
    assert not (source & ~masked)[linked].any()  # a hidden source never has a visible copy
    assert (~source & masked)[linked].any()  # a visible source with a hidden copy occurs
    assert masked[~linked].equal(masks("tied")[0][~linked])  # sources and unlinked tokens: the same draws as "tied"
    masked, source = masks("tied")
    assert not (~source & masked)[linked].any()
    with pytest.raises(ValueError, match="copy_rule must be one of .* got 'backward'"):
        masks("backward")
    with pytest.raises(ValueError, match="copy_rule must be one of .* got 'both'"):
        TrainConfig(copy_rule="both")


def test_compiled_training_on_two_threads_is_bit_identical_run_to_run(tokenizer, data):
    """Some of inductor's C++ kernels accumulate across threads in the order the threads finish, so
    compiled training on 2 threads gave different weights run to run; ``train`` runs compiled CPU
    training under deterministic algorithms (``kernels.deterministic_kernels``), so two runs with the
    same seed give the same bits, and the caller's setting is restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        config = TrainConfig(steps=60, batch_size=16, warmup=2, eval_every=0, save_every=0, log_every=30, bf16=False, compile=True)
        runs = []
        for _ in range(2):
            model = build_model(SMALL, tokenizer, seed=3)
            train(model, data, config, mask_id=tokenizer.mask_token_id, progress=False)
            runs.append(model.state_dict())
    finally:
        torch.set_num_threads(threads)
    assert not torch.are_deterministic_algorithms_enabled()
    for name, weights in runs[0].items():
        assert torch.equal(weights, runs[1][name]), name


def test_one_hot_lookup_gives_embedding_rows_and_gradient_bit_for_bit(tokenizer):
    """``one_hot_lookup`` (compiled training's input embedding) returns ``nn.Embedding``'s rows exactly
    and the same weight gradient, none to the padding row; ``matmul_embedding_gradient`` swaps the
    lookup in only while its block runs."""
    from mdlm_study.training.kernels import matmul_embedding_gradient, one_hot_lookup

    model = build_model(SMALL, tokenizer, seed=0)
    embedding = model.get_input_embeddings()
    with torch.no_grad():
        embedding.weight[embedding.padding_idx] = 0.5  # a tied head makes the padding row non-zero in training
    ids = torch.randint(0, embedding.num_embeddings, (4, 9), generator=torch.Generator().manual_seed(1))
    ids[:, :2] = embedding.padding_idx
    upstream = torch.randn(4, 9, embedding.embedding_dim, generator=torch.Generator().manual_seed(2))
    grads = []
    for lookup in (embedding, lambda i: one_hot_lookup(embedding, i)):
        embedding.weight.grad = None
        rows = lookup(ids)
        (rows * upstream).sum().backward()
        grads.append((rows.detach(), embedding.weight.grad.clone()))
    assert torch.equal(grads[0][0], grads[1][0])
    torch.testing.assert_close(grads[0][1], grads[1][1], rtol=0, atol=1e-6)
    assert not grads[1][1][embedding.padding_idx].any()
    with matmul_embedding_gradient(model, True):
        assert "forward" in vars(embedding)
    with matmul_embedding_gradient(model, False):
        assert "forward" not in vars(embedding)
    assert "forward" not in vars(embedding)


def _report_lines(seconds_per_step: float, steps: int = 200, evaluate_at: int = 100) -> list[tuple[float, str]]:
    """(time, line) of a ProgressReport fed ``steps`` steps of ``seconds_per_step`` on a fake clock."""
    from mdlm_study.training.train import ProgressReport

    now, lines = [0.0], []
    report = ProgressReport("default", 0, steps, steps, log_every=10, clock=lambda: now[0], write=lambda line: lines.append((now[0], line)))
    for done in range(1, steps + 1):
        now[0] += seconds_per_step
        report.update(done, 100, torch.tensor(0.5), {"eval_accuracy": 0.44} if done == evaluate_at else None)
    return lines


def test_progress_lines_name_the_run_and_keep_a_steady_cadence():
    """Lines at log_every steps no closer than 30 s (the first one and evaluations excepted), never more
    than ~60 s apart even when log_every steps take longer, and always at the end."""
    import re

    fast = _report_lines(2.0)  # a log_every boundary every 20 s
    assert fast[0][1] == "[train default] step 10/200 loss 0.500 50 tok/s 6m left"  # 1,000 tokens in 20 s; 190 steps at 2 s
    assert fast[-1][1] == "[train default] step 200/200 loss 0.500 acc 0.44 50 tok/s finished in 7m"
    assert any(line.startswith("[train default] step 100/200 loss 0.500 acc 0.44") for _, line in fast)
    pattern = re.compile(r"\[train default\] step \d+/200 loss 0\.500( acc 0\.44)? \d+ tok/s (\d+[sm] left|finished in 7m)")
    assert all(pattern.fullmatch(line) for _, line in fast)
    gaps = [(b - a, line) for (a, _), (b, line) in zip(fast, fast[1:], strict=False)]
    assert all(30 <= gap <= 60 for gap, line in gaps if "step 100/" not in line and "step 200/" not in line)
    slow = _report_lines(25.0, steps=40, evaluate_at=0)  # log_every steps 250 s apart
    assert max(b - a for (a, _), (b, _) in zip(slow, slow[1:], strict=False)) <= 60 + 25
    assert len(_report_lines(0.01)) == 3  # a seconds-long run: the first log step, the evaluation, the end


def test_train_reports_progress_to_stdout_and_says_when_it_resumes(tokenizer, data, tmp_path, capsys):
    config = TrainConfig(steps=12, batch_size=8, warmup=2, eval_every=6, save_every=6, log_every=4, bf16=False, seed=5)
    model = build_model(SMALL, tokenizer, seed=1)
    run = tmp_path / "run"
    train(model, data, config, mask_id=tokenizer.mask_token_id, out_dir=run, stop_after=6, progress=False, report="unit",
          eval_fn=lambda m: {"eval_accuracy": 0.25})
    first = capsys.readouterr().out.splitlines()
    assert first[0] == f"[train unit] starting 12 steps ({run})"
    assert first[-1].startswith("[train unit] step 6/12 loss ") and " acc 0.25 " in first[-1] and first[-1].endswith(" left")
    train(build_model(SMALL, tokenizer, seed=1), data, config, mask_id=tokenizer.mask_token_id, out_dir=run, resume=True,
          progress=False, report="unit")
    second = capsys.readouterr().out.splitlines()
    assert second[0] == f"[train unit] resuming at step 6/12 from its last checkpoint ({run})"
    assert second[-1].startswith("[train unit] step 12/12 ") and "finished in" in second[-1]
    train(build_model(SMALL, tokenizer, seed=1), data, config, mask_id=tokenizer.mask_token_id, progress=False)
    assert capsys.readouterr().out == ""  # no report label: silent


def test_recovery_finishes_or_undoes_what_a_kill_interrupted(tmp_path):
    """Each state a kill can leave around a directory published with ``publish_directory``: a sealed
    ``.new`` is swapped in (also when the old one was already moved aside), a half-written ``.new`` is
    dropped and the complete directory kept, a lone ``.old`` is put back, a ``.trash`` is deleted;
    snapshots inside are carried over and recovered the same way."""
    import shutil

    from mdlm_study.models.checkpoints import SNAPSHOT, publish_directory, recover_directory

    target, new, old = tmp_path / "run", tmp_path / ".run.new", tmp_path / ".run.old"

    def publish(step: int, directory=target) -> None:
        publish_directory(directory, lambda d: (d / "weights.txt").write_text(f"step {step}"), {"step": step}, keep=SNAPSHOT)

    def state() -> tuple:
        return verify_checkpoint(target)["step"], sorted(p.name for p in tmp_path.iterdir())

    publish(5, target / "step5")  # a snapshot before the first checkpoint
    publish(10)
    assert state() == (10, ["run"]) and verify_checkpoint(target / "step5")["step"] == 5  # the snapshot was carried over
    publish(15, tmp_path / "sealed")  # a later step, sealed with its snapshot, never swapped in
    shutil.copytree(target / "step5", tmp_path / "sealed" / "step5")
    (tmp_path / "sealed").rename(new)
    recover_directory(target)
    assert state() == (15, ["run"]) and (target / "step5" / "checkpoint.json").is_file()
    shutil.copytree(target, new)
    (new / "checkpoint.json").unlink()  # half-written: no marker
    recover_directory(target)
    assert state() == (15, ["run"])
    target.rename(old)  # moved aside, and the new one never arrived
    recover_directory(target)
    assert state() == (15, ["run"])
    shutil.copytree(target, tmp_path / ".run.trash")
    shutil.copytree(target / "step5", target / ".step5.new")
    (target / ".step5.new" / "checkpoint.json").unlink()
    recover_directory(target)
    assert state() == (15, ["run"]) and sorted(p.name for p in target.iterdir() if p.is_dir()) == ["step5"]
