"""Step scoring: exact values on toy denoisers with known answer marginals, the Monte-Carlo
estimator's convergence, the evaluation on an oracle, and determinism on the tiny model."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from mdlm_study.core.special_tokens import SpecialTokens
from mdlm_study.engine.likelihood import stratified_masks
from mdlm_study.engine.templates import Template, answer_ids, build_canvas
from mdlm_study.experiments.scoring import (
    evaluate_step_scoring,
    locate_first_error,
    mc_prefix_loglik,
    prefix_canvases,
    prefix_texts,
    score_prefixes,
    scoring_items,
    step_deltas,
    summarize_step_scoring,
)

TEMPLATE = Template(reasoning_len=44, answer_len=4)


def _answer_logits(p: torch.Tensor, targets: torch.Tensor, vocab: int, mask_id: int) -> torch.Tensor:
    """Logits [B, A, V] giving probability p [B, A] to the target token, the rest uniform over the
    other non-mask tokens; the mask token gets a huge logit that scoring must ignore."""
    rest = ((1 - p) / (vocab - 2)).log()[..., None].expand(*p.shape, vocab).clone()
    rest.scatter_(-1, targets.expand(p.shape[0], -1)[..., None], p.log()[..., None])
    rest[..., mask_id] = 30.0
    return rest


class CountToy:
    """Answer-slot probability of the gold token j: p_j(n) = base_j · (1 + n / R) / 2, n = the number
    of filled reasoning positions. Answer positions never look at each other (independent tokens)."""

    def __init__(self, tokenizer, template, answer, base):
        self.special = SpecialTokens.from_tokenizer(tokenizer)
        self.targets = torch.tensor(answer_ids(tokenizer, answer, template, self.special))
        self.base = torch.as_tensor(base, dtype=torch.float64)
        self.vocab, self.template = len(tokenizer), template
        self.tail = template.reasoning_len + len(tokenizer(template.delimiter, add_special_tokens=False)["input_ids"]) + template.answer_len

    def p(self, n_filled) -> torch.Tensor:
        n = torch.as_tensor(n_filled, dtype=torch.float64).reshape(-1, 1)
        return self.base * (1 + n / self.template.reasoning_len) / 2

    def __call__(self, input_ids, attention_mask=None, **_):
        batch, length = input_ids.shape
        slot = input_ids[:, length - self.tail : length - self.tail + self.template.reasoning_len]
        p = self.p((slot != self.special.mask_id).sum(1))
        logits = torch.zeros(batch, length, self.vocab, dtype=torch.float64)
        logits[:, -self.template.answer_len :] = _answer_logits(p, self.targets, self.vocab, self.special.mask_id)
        return SimpleNamespace(logits=logits.float())


class OracleToy:
    """Knows each question's gold trace. Reasoning logits peak on the gold token; the answer slot
    puts probability 0.9 on the gold answer when the filled reasoning prefix (up to the first mask)
    agrees with the gold trace, else 0.1."""

    def __init__(self, tokenizer, problems, template, peak: float = 8.0):
        assert template.suffix == ""
        canvas = build_canvas(tokenizer, [p.question for p in problems], template, answers=[p.answer for p in problems],
                              reasonings=[p.reasoning for p in problems])
        (r0, r1), (a0, a1) = canvas.reasoning[0].tolist(), canvas.answer[0].tolist()
        self.gold = {}
        for row in range(len(problems)):
            p0 = int(canvas.prompt[row, 0])
            self.gold[tuple(canvas.input_ids[row, p0:r0].tolist())] = (canvas.input_ids[row, r0:r1], canvas.input_ids[row, a0:a1])
        self.tail, self.R, self.A = canvas.input_ids.shape[1] - r0, r1 - r0, a1 - a0
        self.mask_id, self.vocab, self.peak = canvas.special.mask_id, len(tokenizer), peak

    def __call__(self, input_ids, attention_mask=None, **_):
        batch, length = input_ids.shape
        attention_mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        logits = torch.zeros(batch, length, self.vocab)
        r0 = length - self.tail
        for b in range(batch):
            start = int(attention_mask[b].nonzero()[0])
            gold_r, gold_a = self.gold[tuple(input_ids[b, start:r0].tolist())]
            logits[b, r0 + torch.arange(self.R), gold_r] = self.peak
            slot = input_ids[b, r0 : r0 + self.R]
            n = int((slot == self.mask_id).nonzero()[0]) if (slot == self.mask_id).any() else self.R
            p = torch.full((1, self.A), 0.9 if torch.equal(slot[:n], gold_r[:n]) else 0.1, dtype=torch.float64)
            logits[b, -self.A :] = _answer_logits(p, gold_a, self.vocab, self.mask_id)[0].float()
        logits[..., self.mask_id] = 30.0
        return SimpleNamespace(logits=logits)


def _n_tokens(tokenizer, text):
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def test_prefix_texts_put_the_separator_with_the_step_before():
    assert prefix_texts(["a", "b", "c"]) == ["", "a\n", "a\nb\n", "a\nb\nc"]
    assert prefix_texts([]) == [""]


def test_prefix_canvases(tokenizer, problems):
    p = next(p for p in problems if len(p.steps) >= 3)
    canvas = prefix_canvases(tokenizer, p.question, p.steps, p.answer, TEMPLATE)
    mask = tokenizer.mask_token_id
    (r0, r1), (a0, a1) = canvas.reasoning[0].tolist(), canvas.answer[0].tolist()
    assert canvas.input_ids.shape[0] == len(p.steps) + 1
    assert (canvas.input_ids[:, a0:a1] == mask).all()
    assert (canvas.input_ids[0, r0:r1] == mask).all()
    full = canvas.input_ids[-1, r0:r1]
    for i, text in enumerate(prefix_texts(p.steps)):
        n = _n_tokens(tokenizer, text)
        assert torch.equal(canvas.input_ids[i, r0 : r0 + n], full[:n])
        assert (canvas.input_ids[i, r0 + n : r1] == mask).all()
        assert tokenizer.decode(canvas.input_ids[i, r0 : r0 + n]) == text


@pytest.mark.parametrize("method", ["answer_loglik", "answer_entropy"])
def test_single_pass_scores_are_exact_on_count_toy(tokenizer, problems, method):
    p = next(p for p in problems if len(p.steps) >= 3)
    toy = CountToy(tokenizer, TEMPLATE, p.answer, base=[0.9, 0.5, 0.3, 0.7])
    (scores,) = score_prefixes(toy, tokenizer, [(p.question, p.steps, p.answer)], TEMPLATE, method=method)
    probs = toy.p([_n_tokens(tokenizer, t) for t in prefix_texts(p.steps)])  # [n + 1, A]
    if method == "answer_loglik":
        expected = probs.log().sum(1)
    else:
        rest = (1 - probs) / (len(tokenizer) - 2)
        expected = (probs * probs.log() + (1 - probs) * rest.log()).sum(1)  # −Σ_j H_j
    assert scores == pytest.approx(expected.numpy(), rel=1e-5)
    assert np.all(step_deltas(scores) > 0)  # more reasoning filled in = more probable and more certain answer


def test_mc_loglik_converges_to_exact_value_for_independent_answer_tokens(tokenizer, problems):
    p = next(p for p in problems if len(p.steps) >= 2)
    items = [(p.question, p.steps, p.answer)]
    toy = CountToy(tokenizer, TEMPLATE, p.answer, base=[0.9, 0.2, 0.5, 0.05])
    (exact,) = score_prefixes(toy, tokenizer, items, TEMPLATE, method="answer_loglik")
    (mean,), (se,) = mc_prefix_loglik(toy, tokenizer, items, TEMPLATE, mc_samples=400, seed=1, batch_size=512)
    assert np.all(se > 0) and np.all(se < 0.2)
    assert np.all(np.abs(mean - exact) < 4 * se)
    flat = CountToy(tokenizer, TEMPLATE, p.answer, base=[0.6] * 4)  # every draw is exact: zero variance
    (mean,), (se,) = mc_prefix_loglik(flat, tokenizer, items, TEMPLATE, mc_samples=8)
    (exact,) = score_prefixes(flat, tokenizer, items, TEMPLATE)
    assert mean == pytest.approx(exact, rel=1e-5) and np.all(se < 1e-5)


def test_stratified_masks_spread_the_mask_counts():
    masks = stratified_masks(3, 4, 8, torch.Generator().manual_seed(0))
    counts = masks.sum(-1)  # [3, 8]
    assert masks.shape == (3, 8, 4) and counts.min() >= 1 and counts.max() <= 4
    for row in counts:
        assert sorted(row.tolist()) == [1, 1, 2, 2, 3, 3, 4, 4]


def test_deltas_and_first_error():
    assert step_deltas([0.0, -1.0, -1.5, -5.0, -5.0]).tolist() == [-1.0, -0.5, -3.5, 0.0]
    assert locate_first_error([0.0, -1.0, -1.5, -5.0, -5.0]) == 2
    assert locate_first_error([1.0, 1.0, 1.0]) == 0  # first on ties
    with pytest.raises(ValueError, match="got 1"):
        locate_first_error([0.3])


def test_oracle_scores_separate_and_locate_perfectly(tokenizer, problems):
    ps = problems[:12]
    toy = OracleToy(tokenizer, ps, TEMPLATE)
    table = evaluate_step_scoring(toy, tokenizer, ps, TEMPLATE, mc_samples=4, seed=3, batch_size=64)
    assert len(table) == 24 and set(table["kind"]) == {"gold", "corrupted"}
    bad = table[table["kind"] == "corrupted"]
    assert (bad["first_wrong"] == bad["corrupt_step"]).all()
    summary = summarize_step_scoring(table, n_boot=100).set_index("score")
    for name in ("answer_loglik", "mc_loglik", "trace_pll"):
        assert summary.loc[name, "auroc"] == 1.0
        assert summary.loc[name, "auroc_low"] == 1.0
    for name in ("answer_loglik", "mc_loglik", "answer_entropy"):
        assert summary.loc[name, "loc_accuracy"] == 1.0
    # the baseline sees every propagated step as unlikely, so its lowest step is often a later one
    assert summary.loc["trace_pll", "loc_accuracy"] < 1.0
    assert summary.loc["answer_loglik", "loc_low"] == pytest.approx(0.7575, abs=1e-3)  # Wilson 12/12
    assert table.loc[table["kind"] == "gold", "answer_loglik"].to_numpy() == pytest.approx(4 * np.log(0.9), rel=1e-5)


def test_batching_does_not_change_scores(tokenizer, problems, tiny_model):
    items = [(p.question, p.steps, p.answer) for p in problems[:4]]
    together = score_prefixes(tiny_model, tokenizer, items, TEMPLATE, batch_size=5)
    for item, scores in zip(items, together, strict=True):
        (alone,) = score_prefixes(tiny_model, tokenizer, [item], TEMPLATE, batch_size=64)
        assert scores == pytest.approx(alone, abs=1e-4)
        assert scores.shape == (len(item[1]) + 1,)


def test_tiny_model_table_is_deterministic(tokenizer, problems, tiny_model):
    kwargs = {"mc_samples": 3, "seed": 5, "batch_size": 64}
    first = evaluate_step_scoring(tiny_model, tokenizer, problems[:5], TEMPLATE, **kwargs)
    pd.testing.assert_frame_equal(first, evaluate_step_scoring(tiny_model, tokenizer, problems[:5], TEMPLATE, **kwargs))
    assert np.isfinite(first[["answer_loglik", "answer_entropy", "mc_loglik", "mc_loglik_se", "trace_pll"]].to_numpy()).all()
    assert (first["answer_entropy"] <= 0).all()
    assert (first["answer_loglik_deltas"].map(len) == first["n_steps"]).all()
    other = evaluate_step_scoring(tiny_model, tokenizer, problems[:5], TEMPLATE, **{**kwargs, "seed": 6})
    assert not first["mc_loglik"].equals(other["mc_loglik"])


def test_bad_input(tokenizer, problems, tiny_model):
    p = problems[0]
    item = (p.question, p.steps, p.answer)
    with pytest.raises(ValueError, match="'nope'"):
        score_prefixes(tiny_model, tokenizer, [item], TEMPLATE, method="nope")
    with pytest.raises(ValueError, match="mc_samples must be an int >= 1, got 0"):
        score_prefixes(tiny_model, tokenizer, [item], TEMPLATE, method="mc_loglik", mc_samples=0)
    with pytest.raises(ValueError, match="empty"):
        score_prefixes(tiny_model, tokenizer, [], TEMPLATE)
    with pytest.raises(ValueError, match="'123456'"):
        score_prefixes(tiny_model, tokenizer, [(p.question, p.steps, "123456")], TEMPLATE)
    with pytest.raises(ValueError, match="empty"):
        evaluate_step_scoring(tiny_model, tokenizer, [], TEMPLATE)
    with pytest.raises(ValueError, match="'bogus'"):
        evaluate_step_scoring(tiny_model, tokenizer, problems[:2], TEMPLATE, methods=("bogus",))


def test_corruptions_that_overflow_the_slot_are_redrawn_or_left_out(tokenizer, problems):
    """A corrupted result may gain a digit; every scored trace must still fit the reasoning slot."""
    gold_tokens = [_n_tokens(tokenizer, "\n".join(p.steps)) for p in problems]
    limit = int(np.median(gold_tokens))  # about half the gold traces fit, and some corruptions do not

    def fits(steps):
        return _n_tokens(tokenizer, "\n".join(steps)) <= limit

    problems = problems[:60]
    rows, items = scoring_items(problems, seed=0, fits=fits)
    kept = {r["uid"] for r in rows}
    assert kept and len(kept) < len(problems)
    assert all(fits(steps) for _, steps, _ in items)
    assert all(fits(p.steps) for p in problems if p.uid in kept)
    assert [r["kind"] for r in rows] == ["gold", "corrupted"] * len(kept)
    template = Template(reasoning_len=limit, answer_len=TEMPLATE.answer_len)
    table = evaluate_step_scoring(CountToy(tokenizer, template, problems[0].answer, [0.5] * 4), tokenizer, problems, template,
                                  methods=["answer_loglik"], baseline=False)
    assert set(table["uid"]) == kept
    with pytest.raises(ValueError, match="max_tries must be an int >= 1, got 0"):
        scoring_items(problems, fits=fits, max_tries=0)


def test_per_trace_scores_keep_one_trace_order_for_every_score():
    """Notebook 06 records each score's per-trace values for DeLong's paired test: the i-th gold value of
    both scores is the same trace (ordered by problem), whatever order the table came in."""
    import pandas as pd

    from mdlm_study.core.pooling import paired_auroc_difference
    from mdlm_study.experiments.scoring import per_trace_scores

    table = pd.DataFrame({"uid": ["b", "a", "b", "a", "c", "c"], "kind": ["gold", "gold", "corrupted", "corrupted", "gold", "corrupted"],
                          "answer_loglik": [-0.2, -0.1, -2.0, -3.0, -0.3, -1.0], "trace_pll": [-1.0, -0.5, -1.1, -0.9, -0.7, -0.8]})
    scores = per_trace_scores(table, ["trace_pll", "answer_loglik", "missing"])
    assert scores == {"scores_trace_pll_gold": [-0.5, -1.0, -0.7], "scores_answer_loglik_gold": [-0.1, -0.2, -0.3],
                      "scores_trace_pll_corrupted": [-0.9, -1.1, -0.8], "scores_answer_loglik_corrupted": [-3.0, -2.0, -1.0]}
    r = paired_auroc_difference(scores["scores_trace_pll_gold"], scores["scores_trace_pll_corrupted"],
                                scores["scores_answer_loglik_gold"], scores["scores_answer_loglik_corrupted"])
    assert r["difference"] == pytest.approx(1.0 - 7 / 9)  # answer_loglik separates all 9 (gold, corrupted) pairs, trace_pll 7 of 9
