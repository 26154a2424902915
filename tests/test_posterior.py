"""Posterior sampling: an oracle infills the gold trace, the tiny model gives a deterministic graded
table with the answer untouched; filtering, Table D and the SFT export on hand-built tables."""

import dataclasses
from types import SimpleNamespace

import pandas as pd
import pytest
from test_scoring import OracleToy

from mdlm_study.engine.templates import Template
from mdlm_study.experiments.posterior import (
    filter_by_logprob,
    filtering_gain,
    posterior_on_failures,
    sample_posterior,
    traces_to_sft,
)
from mdlm_study.tasks.arithmetic import grade_trace

TEMPLATE = Template(reasoning_len=44, answer_len=4)
COLUMNS = ["uid", "sample", "reasoning", "steps", "logprob", "nfe", "n_reasoning_tokens", "trace_correct", "first_wrong",
           "n_correct_steps", "n_ops"]


def _table():
    """Two problems, four samples each; per-token scores decide the ranking."""
    return pd.DataFrame({
        "problem": [0, 0, 0, 0, 1, 1, 1, 1],
        "uid": ["a"] * 4 + ["b"] * 4,
        "sample": [0, 1, 2, 3] * 2,
        "reasoning": [f"r{i}" for i in range(8)],
        "logprob": [-2.0, -8.0, -4.0, -6.0, -1.0, -1.0, -9.0, -3.0],
        "n_reasoning_tokens": [2, 2, 2, 2, 1, 1, 1, 1],
        "trace_correct": [True, False, True, False, True, False, False, True],
    })


@pytest.mark.parametrize("sampler, extra", [("entropy", {}), ("l2r", {}), ("med", {"med_lambda": 0.5}), ("confidence", {"block_size": 11})])
def test_oracle_infills_the_gold_trace(tokenizer, problems, sampler, extra):
    ps = problems[:6]
    table = sample_posterior(OracleToy(tokenizer, ps, TEMPLATE), tokenizer, ps, TEMPLATE, n_samples=2,
                             sampler=sampler, temperature=0.0, batch_size=5, **extra)
    assert len(table) == 12 and table["trace_correct"].all()
    assert list(table["reasoning"]) == [p.reasoning for p in ps for _ in range(2)]
    assert list(table["answer"]) == [p.answer for p in ps for _ in range(2)]
    assert (table["n_reasoning_tokens"] == [len(tokenizer(p.reasoning, add_special_tokens=False)["input_ids"]) for p in ps for _ in range(2)]).all()
    assert (table["logprob"] <= 0).all() and (table["nfe"] >= 1).all()


def test_tiny_model_table_is_deterministic_graded_and_keeps_the_answer(tokenizer, problems, tiny_model):
    ps = problems[:5]
    kwargs = {"n_samples": 3, "seed": 1, "batch_size": 8, "tokens_per_step": 4}
    table = sample_posterior(tiny_model, tokenizer, ps, TEMPLATE, **kwargs)
    pd.testing.assert_frame_equal(table, sample_posterior(tiny_model, tokenizer, ps, TEMPLATE, **kwargs))
    assert set(COLUMNS) <= set(table.columns) and len(table) == 15
    assert list(table["sample"]) == [0, 1, 2] * 5 and list(table["uid"]) == [p.uid for p in ps for _ in range(3)]
    assert list(table["answer"]) == [p.answer for p in ps for _ in range(3)]  # the answer slot is never re-decoded
    for problem, row in zip([p for p in ps for _ in range(3)], table.itertuples(), strict=True):
        grade = grade_trace(problem, row.steps)
        assert (row.trace_correct, row.n_correct_steps, row.n_ops) == (grade.correct, grade.n_correct_steps, len(problem.ops))
    rebatched = sample_posterior(tiny_model, tokenizer, ps, TEMPLATE, **{**kwargs, "batch_size": 4})
    pd.testing.assert_frame_equal(table, rebatched)  # every row has its own stream
    fewer = sample_posterior(tiny_model, tokenizer, ps, TEMPLATE, **{**kwargs, "n_samples": 2})
    assert list(fewer["reasoning"]) == list(table.loc[table["sample"] < 2, "reasoning"])
    other = sample_posterior(tiny_model, tokenizer, ps, TEMPLATE, **{**kwargs, "seed": 2})
    assert list(other["reasoning"]) != list(table["reasoning"])
    assert table.groupby("uid")["reasoning"].nunique().max() > 1  # the copies of a problem are different samples


def test_grader_hook_for_other_tasks(tokenizer, problems, tiny_model):
    items = [SimpleNamespace(question=p.question, answer=p.answer, uid=p.uid) for p in problems[:2]]
    plain = sample_posterior(tiny_model, tokenizer, items, TEMPLATE, n_samples=1, tokens_per_step=8)
    assert plain[["trace_correct", "first_wrong", "n_correct_steps", "n_ops"]].isna().all().all()
    graded = sample_posterior(tiny_model, tokenizer, items, TEMPLATE, n_samples=1, tokens_per_step=8,
                              grader=lambda problem, steps: len(steps) >= 0)
    assert graded["trace_correct"].tolist() == [True, True] and graded["first_wrong"].isna().all()


def test_bad_input(tokenizer, problems, tiny_model):
    with pytest.raises(ValueError, match="n_samples must be an int >= 1, got 0"):
        sample_posterior(tiny_model, tokenizer, problems[:2], TEMPLATE, n_samples=0)
    with pytest.raises(ValueError, match="empty"):
        sample_posterior(tiny_model, tokenizer, [], TEMPLATE)
    with pytest.raises(ValueError, match="'12345'"):
        sample_posterior(tiny_model, tokenizer, [dataclasses.replace(problems[0], answer="12345")], TEMPLATE)
    with pytest.raises(ValueError, match="batch_size must be an int >= 1, got 0"):
        sample_posterior(tiny_model, tokenizer, problems[:2], TEMPLATE, batch_size=0)
    with pytest.raises(ValueError, match="exit_gamma=0.5"):
        sample_posterior(tiny_model, tokenizer, problems[:2], TEMPLATE, exit_gamma=0.5)
    with pytest.raises(ValueError, match="'mean'"):
        filter_by_logprob(_table(), normalize="mean")
    with pytest.raises(ValueError, match="got 0"):
        filter_by_logprob(_table(), keep=0)


def test_filter_keeps_the_top_fraction_per_problem():
    kept = filter_by_logprob(_table(), keep=0.5, normalize="per_token")
    assert list(kept["reasoning"]) == ["r0", "r2", "r4", "r5"]  # b: −1 and −1 tie, both kept
    assert list(filter_by_logprob(_table(), keep=0.25)["reasoning"]) == ["r0", "r4"]  # ties: lower sample first
    assert list(filter_by_logprob(_table(), keep=0.3)["reasoning"]) == ["r0", "r2", "r4", "r5"]  # ceil(1.2) = 2
    assert list(filter_by_logprob(_table(), threshold=-2.0, normalize="sum")["reasoning"]) == ["r0", "r4", "r5"]
    assert list(filter_by_logprob(_table(), threshold=-1.5)["reasoning"]) == ["r0", "r4", "r5"]  # per token: −1, −1, −1
    assert filter_by_logprob(_table(), keep=1.0)["score"].tolist() == [-1.0, -4.0, -2.0, -3.0, -1.0, -1.0, -9.0, -3.0]


def test_filtering_gain():
    gain = filtering_gain(_table(), fractions=(1.0, 0.5, 0.25)).set_index("keep")
    assert gain.loc[1.0, "n"] == 8 and gain.loc[1.0, "fraction_correct"] == 0.5 and gain.loc[1.0, "gain"] == 0.0
    assert gain.loc[0.5, "n_correct"] == 3 and gain.loc[0.5, "fraction_correct"] == 0.75
    assert gain.loc[0.25, "fraction_correct"] == 1.0 and gain.loc[0.25, "gain"] == 0.5
    assert (gain["ci_low"] <= gain["fraction_correct"]).all() and (gain["fraction_correct"] <= gain["ci_high"]).all()
    with pytest.raises(ValueError, match="ungraded"):
        filtering_gain(_table().assign(trace_correct=None))


def test_posterior_on_failures():
    eval_table = pd.DataFrame({"uid": ["a", "b", "c"], "correct": [False, True, False]})
    result = posterior_on_failures(eval_table, _table())
    assert result["n_failed_problems"] == 2 and result["n_failed_sampled"] == 1  # c was not sampled
    assert (result["n"], result["n_correct"], result["fraction_correct"]) == (4, 2, 0.5)
    # the 4 traces of one problem count once: Wilson at n = 1, p = 1/2: 1/2 +- z sqrt(1/4 + z^2/4) / (1 + z^2)
    # = 1/2 +- 1.959964 x 1.100166 / 4.841459 = 1/2 +- 0.445379 (not the traces' 0.150-0.850)
    assert (result["ci_low"], result["ci_high"]) == pytest.approx((0.054621, 0.945379), abs=1e-5)
    assert result["problems_any_correct"] == 1 and result["fraction_problems_any_correct"] == 1.0


def test_posterior_on_failures_counts_each_problem_once_as_the_table_d_claim_does():
    """Both problems failed: 4 of 8 traces correct, 2 problems. Wilson at n = 2, 1 success:
    1/2 +- 1.959964 sqrt(1/8 + z^2/16) / (1 + z^2/2) = 1/2 +- 0.405469; the claim judges Table D with the same interval."""
    from mdlm_study.reporting.claims import table_d_interval

    result = posterior_on_failures(pd.DataFrame({"uid": ["a", "b"], "correct": [False, False]}), _table())
    assert (result["n"], result["n_failed_sampled"], result["fraction_correct"]) == (8, 2, 0.5)
    assert (result["ci_low"], result["ci_high"]) == pytest.approx((0.094531, 0.905469), abs=1e-5)
    claim = table_d_interval(result["fraction_correct"], result["n_failed_sampled"])
    assert (claim.low, claim.high) == pytest.approx((result["ci_low"], result["ci_high"]), abs=1e-12)
    with pytest.raises(ValueError, match=r"different numbers of traces \(\[3, 4\]\)"):
        posterior_on_failures(pd.DataFrame({"uid": ["a", "b"], "correct": [False, False]}), _table().iloc[:7])


def test_traces_to_sft(problems):
    ps = [dataclasses.replace(problems[0], uid="a"), dataclasses.replace(problems[1], uid="b")]
    questions, reasonings, answers = traces_to_sft(_table(), ps)
    assert len(questions) == 8 and questions[4] == ps[1].question and answers[0] == ps[0].answer
    _, reasonings, _ = traces_to_sft(_table(), ps, only_correct=True)
    assert reasonings == ["r0", "r2", "r4", "r7"]
    _, reasonings, _ = traces_to_sft(_table(), ps, only_correct=True, keep=0.5)
    assert reasonings == ["r0", "r2", "r4"]
    with pytest.raises(ValueError, match="'b'"):
        traces_to_sft(_table(), ps[:1])
