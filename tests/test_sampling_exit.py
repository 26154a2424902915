"""Early exit on the answer slot: H_UB, the entropy rule, Prophet's rule, honest NFE."""

import pytest
import torch
from toy_denoisers import AnswerDrop

from mdlm_study.engine import generate
from mdlm_study.engine.exit import prophet_threshold

V, MASK = 8, 7
PROMPT, REASONING, ANSWER = 2, 10, 3


def canvas(batch=1):
    x = torch.full((batch, PROMPT + REASONING + ANSWER), MASK)
    x[:, :PROMPT] = 1
    return x


SPAN = (PROMPT + REASONING, PROMPT + REASONING + ANSWER)


@pytest.mark.parametrize("n", [0, 3, 6])
def test_exits_exactly_when_answer_entropy_drops(n):
    model = AnswerDrop(V, MASK, a0=SPAN[0], a1=SPAN[1], n=PROMPT + n)
    out = generate(model, canvas(), sampler="l2r", mask_id=MASK, answer_span=SPAN, exit_gamma=0.1, return_history=True)
    # after s passes, s reasoning tokens are committed; pass s+1 sees them and exits
    assert out.exited.item() and out.exit_step.item() == n + 1 == out.nfe.item()
    assert not (out.sequences[0, SPAN[0]:SPAN[1]] == MASK).any()
    assert (out.sequences[0, SPAN[0]:SPAN[1]] == 2).all()
    assert int((out.sequences[0, PROMPT:SPAN[0]] == MASK).sum()) == REASONING - n
    h = [r["answer_entropy"][0].item() for r in out.history]
    assert h[-1] < 0.1 and all(v > 0.1 for v in h[:-1])


def test_gamma_zero_never_exits_and_history_records_h_ub():
    model = AnswerDrop(V, MASK, a0=SPAN[0], a1=SPAN[1], n=PROMPT + 2)
    out = generate(model, canvas(), sampler="entropy", mask_id=MASK, answer_span=SPAN, exit_gamma=0.0, return_history=True)
    assert not out.exited.item() and out.exit_step.item() == -1
    assert out.nfe.item() == REASONING + ANSWER
    assert all(r["answer_entropy"][0] >= 0 for r in out.history)
    none = generate(model, canvas(), sampler="entropy", mask_id=MASK, answer_span=SPAN)
    assert torch.equal(none.sequences, out.sequences)


def test_exit_is_per_row_with_per_row_spans():
    """Row 1's span also covers the last reasoning position, whose entropy stays moderate, so its
    H_UB never drops below γ: row 0 exits at pass 5, row 1 decodes to the end (13 passes)."""
    model = AnswerDrop(V, MASK, a0=SPAN[0], a1=SPAN[1], n=PROMPT + 4)
    spans = torch.tensor([list(SPAN), [SPAN[0] - 1, SPAN[1]]])
    out = generate(model, canvas(2), sampler="l2r", mask_id=MASK, answer_span=spans, exit_gamma=0.1)
    assert out.exited.tolist() == [True, False]
    assert out.exit_step.tolist() == [5, -1]
    assert out.nfe.tolist() == [5, REASONING + ANSWER]
    assert not (out.sequences[1] == MASK).any()


@pytest.mark.parametrize("sampler, params", [("entropy", {}), ("med", {"med_lambda": 0.2}), ("eb", {"eb_gamma": 0.2}),
                                             ("fast_threshold", {"tau": 0.9}), ("confidence", {}), ("random", {})])
def test_exit_works_with_every_rule(sampler, params):
    model = AnswerDrop(V, MASK, a0=SPAN[0], a1=SPAN[1], n=PROMPT + 3)
    out = generate(model, canvas(), sampler=sampler, mask_id=MASK, answer_span=SPAN, exit_gamma=0.1, generator=torch.Generator().manual_seed(0), **params)
    assert out.exited.item()
    assert not (out.sequences[0, SPAN[0]:SPAN[1]] == MASK).any()


def test_prophet_thresholds_by_phase():
    budget = torch.tensor([9, 9, 9, 9])
    steps = torch.tensor([0, 3, 5, 6])
    assert prophet_threshold(steps, budget).tolist() == [7.5, 5.0, 5.0, 2.5]


def test_prophet_fills_every_mask_at_exit():
    model = AnswerDrop(V, MASK, a0=SPAN[0], a1=SPAN[1], n=PROMPT + 2)
    out = generate(model, canvas(), sampler="l2r", mask_id=MASK, answer_span=SPAN, exit_rule="prophet", return_history=True)
    # the answer becomes sharp (gap 30 >= 7.5) at pass 3; Prophet then commits everything
    assert out.exited.item() and out.exit_step.item() == 3 == out.nfe.item()
    assert not (out.sequences == MASK).any()
    assert out.history[-1]["answer_gap"][0].item() == pytest.approx(30.0)


def test_infinite_gamma_reads_the_answer_off_the_first_pass_with_the_reasoning_blank():
    """``exit_gamma=inf`` (benchmarks/bench_answer_source.py's ``blank_slot`` reading): the exit fires on
    the first forward pass, whatever the answer's entropy; the answer is that pass's argmax, nothing
    of the reasoning is written, and the pass is counted."""
    model = AnswerDrop(V, MASK, a0=SPAN[0], a1=SPAN[1], n=PROMPT)  # sharp on token 2 from the start
    out = generate(model, canvas(2), sampler="entropy", mask_id=MASK, answer_span=SPAN, exit_gamma=float("inf"))
    assert out.exited.tolist() == [True, True] and out.exit_step.tolist() == [1, 1] and out.nfe.tolist() == [1, 1]
    assert (out.sequences[:, PROMPT:SPAN[0]] == MASK).all()
    assert (out.sequences[:, SPAN[0]:SPAN[1]] == 2).all()
