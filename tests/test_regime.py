"""Regime diagnostics (mdlm_study.experiments.regime): a hand-built history whose settle pass, exit pass and
trajectory are known, and toy denoisers whose answer is known before the reasoning (blank slot
right, settles at pass 1) or only once the reasoning is written (blank slot wrong, settles late)."""

import math

import pytest
import torch

from mdlm_study.engine.templates import Template, build_canvas
from mdlm_study.experiments.regime import answer_slot_trajectory, diagnose, exit_passes, settle_steps

M = 9
TEMPLATE = Template(reasoning_len=24, answer_len=4, delimiter="\n####", answer_prefix=" ")


def _record(active, committed, tokens, predicted, h_ub, revoked=None):
    committed = torch.tensor(committed, dtype=torch.bool)
    return {"active": torch.tensor(active), "committed": committed, "tokens": torch.tensor(tokens), "predicted": torch.tensor(predicted),
            "revoked": torch.zeros_like(committed) if revoked is None else torch.tensor(revoked), "answer_entropy": torch.tensor(h_ub)}


def _history():
    """Two rows, answer slot = columns 3-4; column 2 is reasoning. Row 0's slot reads 56, 55, 56;
    row 1's 77, 78, 78. H_UB falls below 0.1 at pass 2 for row 0 only."""
    return [
        _record([True, True], [[0, 0, 1, 0, 0], [0, 0, 1, 0, 0]], [[-1, -1, 3, -1, -1], [-1, -1, 3, -1, -1]],
                [[-1, -1, 3, 5, 6], [-1, -1, 3, 7, 7]], [0.5, 0.3]),
        _record([True, True], [[0, 0, 0, 1, 0], [0, 0, 0, 1, 0]], [[-1, -1, -1, 5, -1], [-1, -1, -1, 7, -1]],
                [[-1, -1, -1, 5, 5], [-1, -1, -1, 7, 8]], [0.05, 0.2]),
        _record([True, True], [[0, 0, 0, 0, 1], [0, 0, 0, 0, 1]], [[-1, -1, -1, -1, 6], [-1, -1, -1, -1, 8]],
                [[-1, -1, -1, -1, 6], [-1, -1, -1, -1, 8]], [0.01, 0.2]),
    ]


def test_trajectory_settle_and_exit_by_hand():
    ids = torch.tensor([[1, 2, M, M, M], [1, 2, M, M, M]])
    answer = torch.tensor([[3, 5], [3, 5]])
    trajectory = answer_slot_trajectory(_history(), ids, answer)
    assert trajectory[:, 0].tolist() == [[5, 6], [5, 5], [5, 6]]  # committed 5 stays; column 4 is the prediction until committed
    assert trajectory[:, 1].tolist() == [[7, 7], [7, 8], [7, 8]]
    nfe = torch.tensor([3, 3])
    assert settle_steps(trajectory, nfe).tolist() == [1, 2]  # the FIRST pass equal to the final value
    assert exit_passes(_history(), nfe, 0.1).tolist() == [2, 3]
    with pytest.raises(ValueError, match="gamma must be > 0"):
        exit_passes(_history(), nfe, 0.0)
    with pytest.raises(ValueError, match="one width"):
        answer_slot_trajectory(_history(), ids, torch.tensor([[3, 5], [3, 4]]))


def test_a_revoked_answer_token_is_read_from_the_prediction_again():
    history = _history()
    history[1]["revoked"] = torch.tensor([[0, 0, 0, 0, 0], [0, 0, 0, 0, 0]], dtype=torch.bool)
    history[2]["revoked"] = torch.tensor([[0, 0, 0, 1, 0], [0, 0, 0, 0, 0]], dtype=torch.bool)
    history.append(_record([True, False], [[0, 0, 0, 1, 0], [0, 0, 0, 0, 0]], [[-1, -1, -1, 4, -1], [-1] * 5],
                           [[-1, -1, -1, 4, -1], [-1] * 5], [0.01, float("nan")]))
    trajectory = answer_slot_trajectory(history, torch.tensor([[1, 2, M, M, M]] * 2), torch.tensor([[3, 5]] * 2))
    assert trajectory[3, 0].tolist() == [4, 6] and trajectory[3, 1].tolist() == [-1, -1]  # row 1 inactive


class Reasoner:
    """Predicts the gold canvas, except that the answer slot holds a wrong answer (or, with ``early``,
    the right one from the start) until every reasoning position of the row is filled."""

    def __init__(self, gold, mask_id: int, vocab: int, reasoning: torch.Tensor, answer: torch.Tensor, early: bool):
        self.gold, self.mask_id, self.vocab, self.reasoning, self.answer, self.early = gold, mask_id, vocab, reasoning, answer, early

    def __call__(self, input_ids, attention_mask=None):
        target = self.gold.clone()
        pending = ((input_ids == self.mask_id) & self.reasoning[: len(input_ids)]).any(1)
        wrong = self.answer[: len(input_ids)] & (pending[:, None] & torch.tensor(not self.early))
        target[wrong] = (target[wrong] + 1) % self.vocab
        return torch.nn.functional.one_hot(target, self.vocab).float() * 10


@pytest.mark.parametrize("early", [True, False])
def test_diagnose_tells_an_early_answer_from_a_late_one(tokenizer, problems, early):
    chosen = [p for p in problems if len(p.ops) == 3][:4]
    gold = build_canvas(tokenizer, [p.question for p in chosen], TEMPLATE, answers=[p.answer for p in chosen],
                        reasonings=[p.reasoning for p in chosen])
    model = Reasoner(gold.input_ids, gold.special.mask_id, len(tokenizer), gold.span_mask("reasoning"), gold.span_mask("answer"), early)
    d = diagnose(model, tokenizer, chosen, TEMPLATE, "arithmetic", {"sampler": "l2r"}, batch_size=4)
    masks = TEMPLATE.reasoning_len + TEMPLATE.answer_len
    assert d["mean_nfe"] == masks and d["n_problems"] == 4
    assert d["accuracy"] == 1.0  # either way the answer ends right: the gold canvas is decoded
    if early:
        assert d["blank_slot_accuracy"] == 1.0 and d["settle_step_mean"] == 1.0 and d["right_at_half"] == 1.0
    else:  # left to right fills the 24 reasoning positions in passes 1-24; the answer slot is right from pass 25 on
        assert d["blank_slot_accuracy"] == 0.0 and d["settle_step_mean"] == TEMPLATE.reasoning_len + 1 and d["right_at_half"] == 0.0
    assert 0.0 <= d["exit_saving"] < 1.0


def test_groups_read_off_one_decoding_equal_each_group_decoded_alone(tokenizer, problems):
    """A mixed model (early on the 2-operation problems, late on the 3-operation ones): each group's
    diagnostics from the shared decoding are those of decoding the group alone."""
    def late_reasoner(rows):
        gold = build_canvas(tokenizer, [p.question for p in rows], TEMPLATE, answers=[p.answer for p in rows], reasonings=[p.reasoning for p in rows])
        return Reasoner(gold.input_ids, gold.special.mask_id, len(tokenizer), gold.span_mask("reasoning"), gold.span_mask("answer"), early=False)

    chosen = [p for p in problems if len(p.ops) == 2][:3] + [p for p in problems if len(p.ops) == 3][:2]
    late = late_reasoner(chosen)
    depths = [len(p.ops) for p in chosen]
    d = diagnose(late, tokenizer, chosen, TEMPLATE, "arithmetic", {"sampler": "l2r"}, batch_size=5, groups=depths)
    assert set(d["by_group"]) == {"2", "3"} and d["by_group"]["2"]["n_problems"] == 3 and d["n_problems"] == 5
    alone = diagnose(late_reasoner(chosen[3:]), tokenizer, chosen[3:], TEMPLATE, "arithmetic", {"sampler": "l2r"}, batch_size=2)
    assert d["by_group"]["3"] == alone
    with pytest.raises(ValueError, match="one label per problem: 2 labels for 5"):
        diagnose(late, tokenizer, chosen, TEMPLATE, "arithmetic", {"sampler": "l2r"}, groups=[2, 3])


def test_keep_checks_the_kept_problems_and_still_groups_every_problem(tokenizer, problems):
    """``keep`` narrows the overall diagnostics to the kept problems (here the 3-operation ones, as the deep
    regime keeps the chains of three steps or more) and leaves ``by_group`` over all of them; a mask of
    the wrong length is refused."""
    chosen = [p for p in problems if len(p.ops) == 2][:3] + [p for p in problems if len(p.ops) == 3][:2]
    gold = build_canvas(tokenizer, [p.question for p in chosen], TEMPLATE, answers=[p.answer for p in chosen], reasonings=[p.reasoning for p in chosen])
    model = Reasoner(gold.input_ids, gold.special.mask_id, len(tokenizer), gold.span_mask("reasoning"), gold.span_mask("answer"), early=True)
    depths = [len(p.ops) for p in chosen]
    d = diagnose(model, tokenizer, chosen, TEMPLATE, "arithmetic", {"sampler": "l2r"}, batch_size=5, groups=depths,
                 keep=[n >= 3 for n in depths])
    assert d["n_problems"] == 2 and {g: v["n_problems"] for g, v in d["by_group"].items()} == {"2": 3, "3": 2}
    assert {k: v for k, v in d.items() if k != "by_group"} == d["by_group"]["3"]
    with pytest.raises(ValueError, match="one bool per problem: 4 for 5"):
        diagnose(model, tokenizer, chosen, TEMPLATE, "arithmetic", {"sampler": "l2r"}, keep=[True] * 4)


def test_summarise_rows_refuses_an_empty_selection():
    import numpy as np

    from mdlm_study.experiments.regime import summarise_rows
    rows = {"correct": np.array([True]), "blank_slot": np.array([False]), "right_at_half": np.array([True]), "settle": np.array([3]),
            "exit": np.array([4]), "nfe": np.array([4]), "gamma": np.asarray(0.1)}
    assert summarise_rows(rows)["exit_saving"] == 0.0 and summarise_rows(rows)["settle_fraction_quantiles"]["0.5"] == 0.75
    with pytest.raises(ValueError, match="selecting 0"):
        summarise_rows(rows, np.array([False]))


def test_diagnose_refuses_an_exit():
    with pytest.raises(ValueError, match="without an exit"):
        diagnose(None, None, [], TEMPLATE, "arithmetic", {"sampler": "entropy", "exit_gamma": 0.1})


def test_regime_check_by_hand():
    """The paper's regime: accurate with reasoning (>= 70%), rarely right at the first pass (<= 25%) and
    without a reasoning slot (<= 25%); an unmeasured bound is None, not passed."""
    from mdlm_study.experiments.regime import regime_check, seeds_within

    check = regime_check({"accuracy": 0.81, "blank_slot_accuracy": 0.30}, 0.20)
    assert {k: v["holds"] for k, v in check.items()} == {"accuracy": True, "blank_slot_accuracy": False, "answer_only_accuracy": True}
    assert check["blank_slot_accuracy"] == {"value": 0.30, "bound": "<= 0.25", "holds": False}
    assert regime_check({"accuracy": 0.70, "blank_slot_accuracy": 0.25})["answer_only_accuracy"]["holds"] is None
    assert regime_check({"accuracy": 0.70, "blank_slot_accuracy": 0.25}, 0.25)["accuracy"]["holds"]  # bounds are inclusive
    assert seeds_within([0.80, 0.84, 0.85]) and not seeds_within([0.80, 0.86])
    with pytest.raises(ValueError, match="at least two seeds"):
        seeds_within([0.8])


def test_expected_range_is_the_d2_constant():
    """The mean spread of k standard normal draws: 2/sqrt(pi) for two (in closed form), 2.326 for five (the
    quality-control table), and what a seeded simulation gives."""
    from mdlm_study.experiments.regime import expected_range

    assert expected_range(2) == pytest.approx(2 / math.pi**0.5, abs=1e-6)
    assert expected_range(5) == pytest.approx(2.326, abs=5e-4)
    draws = torch.randn(200_000, 7, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    simulated = float((draws.max(1).values - draws.min(1).values).mean())
    assert expected_range(7) == pytest.approx(simulated, abs=0.01)
    with pytest.raises(ValueError, match="at least two draws, got k=1"):
        expected_range(1)


def test_seed_spread_splits_the_test_sets_noise_from_the_recipes():
    """By hand: two seeds at 50% and 60% on 100 problems. Their sample variance 0.005 holds a binomial
    0.00245 (the mean of 0.25/100 and 0.24/100), so the seeds themselves differ by sqrt(0.00255)."""
    from mdlm_study.experiments.regime import seed_spread

    spread = seed_spread([0.5, 0.6], 100)
    assert spread["range"] == pytest.approx(0.1) and spread["within_bound"] is False and spread["n_seeds"] == 2
    assert spread["measurement_sd"] == pytest.approx(0.00245**0.5)
    assert spread["between_seed_sd"] == pytest.approx(0.00255**0.5)
    assert spread["expected_range"] == pytest.approx(2 / math.pi**0.5 * 0.005**0.5, rel=1e-5)
    assert spread["largest_sd"] == pytest.approx(0.05 / (2 / math.pi**0.5), rel=1e-5)
    alike = seed_spread([0.9, 0.9, 0.9], 50)  # no spread at all: nothing left for the seeds
    assert alike["between_seed_sd"] == 0.0 and alike["within_bound"] is True
    with pytest.raises(ValueError, match="at least two seeds"):
        seed_spread([0.9], 100)
    with pytest.raises(ValueError, match="n_problems must be an int >= 1, got 0"):
        seed_spread([0.9, 0.8], 0)
    with pytest.raises(ValueError, match=r"accuracies must lie in \[0, 1\], got \[0.9, 91.0\]"):
        seed_spread([0.9, 91.0], 100)
