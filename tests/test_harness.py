"""The lm-evaluation-harness model, offline: tasks defined in a temp dir on a local jsonl file."""

import json
import math
import os

import pytest

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")  # before datasets is imported: nothing is downloaded
os.environ.setdefault("HF_HUB_OFFLINE", "1")
lm_eval = pytest.importorskip("lm_eval")

import torch  # noqa: E402
from lm_eval.api.instance import Instance  # noqa: E402
from lm_eval.tasks import TaskManager  # noqa: E402
from stand_ins import save_dream, save_tiny  # noqa: E402
from transformers.modeling_outputs import MaskedLMOutput  # noqa: E402

from mdlm_study.integrations.harness import MDLMHarnessLM, apply_stops, mc_loglikelihood, stratified_mask  # noqa: E402
from mdlm_study.models import load_model  # noqa: E402

DOCS = [
    {"question": "Tom has 12 apples. He buys 5 more. How many apples does Tom have?", "choices": [" 17", " 7"], "label": 0},
    {"question": "Ann has 30 pens. She loses 4. How many pens does Ann have?", "choices": [" 34", " 26"], "label": 1},
    {"question": "Sam has 9 cards. Then the number doubles. How many cards does Sam have?", "choices": [" 18", " 11"], "label": 0},
]
TASK = """task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: {output_type}
doc_to_text: "{{{{question}}}}"
{extra}
"""
MC = 'doc_to_choice: "{{choices}}"\ndoc_to_target: "{{label}}"\nmetric_list:\n  - metric: acc\n    aggregation: mean\n    higher_is_better: true'
GEN = ('doc_to_target: "{{choices[label]}}"\ngeneration_kwargs:\n  until: ["\\n"]\n'
       "metric_list:\n  - metric: exact_match\n    aggregation: mean\n    higher_is_better: true")


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("tasks")
    (root / "docs.jsonl").write_text("".join(json.dumps(d) + "\n" for d in DOCS))
    for name, output_type, extra in (("toy_mc", "multiple_choice", MC), ("toy_gen", "generate_until", GEN)):
        (root / f"{name}.yaml").write_text(TASK.format(name=name, data=root / "docs.jsonl", output_type=output_type, extra=extra))
    return root


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, tokenizer):
    return load_model(save_tiny(tmp_path_factory.mktemp("harness") / "tiny", tokenizer))


def test_registered_under_mdlm_study():
    from lm_eval.api.registry import get_model

    assert get_model("mdlm_study") is MDLMHarnessLM


def test_multiple_choice_task_runs_offline_through_the_mc_likelihood(task_dir, tiny):
    lm = MDLMHarnessLM(loaded=tiny, mc_num=4, mc_batch_size=2)
    results = lm_eval.simple_evaluate(model=lm, tasks=["toy_mc"], task_manager=TaskManager(include_path=str(task_dir), include_defaults=False))
    assert results["results"]["toy_mc"]["acc,none"] in (0.0, 1 / 3, 2 / 3, 1.0)
    scores = [r[0][0] for s in results["samples"]["toy_mc"] for r in s["resps"]]
    assert len(scores) == 6 and all(math.isfinite(x) and x < 0 for x in scores)


def test_generation_task_runs_offline_through_the_engine(task_dir, tiny):
    lm = MDLMHarnessLM(loaded=tiny, sampler="l2r", gen_length=8, batch_size=2)
    results = lm_eval.simple_evaluate(model=lm, tasks=["toy_gen"], task_manager=TaskManager(include_path=str(task_dir), include_defaults=False))
    assert results["results"]["toy_gen"]["exact_match,none"] in (0.0, 1 / 3, 2 / 3, 1.0)
    assert all("\n" not in s["filtered_resps"][0] for s in results["samples"]["toy_gen"])


def test_batched_generation_equals_one_at_a_time(tiny):
    requests = [Instance("generate_until", {}, (d["question"] + "\n", {"until": ["\n"]}), i) for i, d in enumerate(DOCS)]
    one = MDLMHarnessLM(loaded=tiny, sampler="l2r", gen_length=8, batch_size=1).generate_until(requests)
    three = MDLMHarnessLM(loaded=tiny, sampler="l2r", gen_length=8, batch_size=3).generate_until(requests)
    assert one == three and len(one) == 3


def test_template_canvas_with_early_exit(tiny):
    lm = MDLMHarnessLM(loaded=tiny, sampler="l2r", gen_length=12, answer_len=4, delimiter="\n####", suffix="", exit_gamma=0.1,
                       batch_size=2)
    texts = lm.generate_until([Instance("generate_until", {}, (d["question"] + "\n", {"until": []}), i) for i, d in enumerate(DOCS)])
    assert len(texts) == 3 and all("\n####" in t for t in texts)


def test_likelihood_on_a_shifted_model_is_deterministic(tmp_path):
    loaded = load_model(save_dream(tmp_path / "dream"), trust_remote_code=True)
    lm = MDLMHarnessLM(loaded=loaded, mc_num=8, mc_batch_size=4, seed=3)
    request = [Instance("loglikelihood", {}, ("Q: 1 + 2 = ? A:", " 3"), 0)]
    first, second = lm.loglikelihood(request), lm.loglikelihood(request)
    assert first == second and first[0][1] is False and math.isfinite(first[0][0])
    rolling = lm.loglikelihood_rolling([Instance("loglikelihood_rolling", {}, ("1 + 2 = 3",), 0)])
    assert len(rolling) == 1 and rolling[0] < 0


def test_stratified_mask_counts_cover_the_continuation():
    seq = torch.arange(20)[None].repeat(4, 1)
    noisy, masked, frac = stratified_mask(seq, 8, mask_id=99, generator=torch.Generator().manual_seed(0))
    counts = masked.sum(1)
    assert not masked[:, :8].any() and (noisy[masked] == 99).all() and (noisy[~masked] == seq[~masked]).all()
    assert ((counts >= 1) & (counts <= 12)).all() and torch.equal(frac[:, 0], counts / 12)
    assert len(set(counts.tolist())) == 4  # stratified: the four rows spread over (0, 12]


class Uniform(torch.nn.Module):
    """A toy denoiser: uniform over ``vocab`` everywhere, so every draw of the estimate is exactly -T log V."""

    def __init__(self, vocab):
        super().__init__()
        self.vocab = vocab

    def forward(self, ids, attention_mask=None):
        return MaskedLMOutput(logits=torch.zeros(*ids.shape, self.vocab))


def test_mc_estimate_is_exact_on_a_uniform_denoiser():
    value = mc_loglikelihood(Uniform(10), [1, 2], [3, 4, 5], mask_id=0, mc_num=8, batch_size=4, generator=torch.Generator().manual_seed(0))
    assert value == pytest.approx(-3 * math.log(10), rel=1e-6)
    with pytest.raises(ValueError, match="mc_num=6"):
        mc_loglikelihood(Uniform(10), [1], [2], mask_id=0, mc_num=6, batch_size=4, generator=torch.Generator())


def test_stop_strings():
    assert apply_stops("12\n#### 3", ["\n"]) == "12"
    assert apply_stops("a. b", ".") == "a"
    assert apply_stops("abc", None) == "abc"


def test_bad_input(tiny):
    with pytest.raises(ValueError, match="exactly one"):
        MDLMHarnessLM()
    with pytest.raises(ValueError, match="answer_len"):
        MDLMHarnessLM(loaded=tiny, exit_gamma=0.1)
    with pytest.raises(ValueError, match="'auto'"):
        MDLMHarnessLM(loaded=tiny, batch_size="auto")
    lm = MDLMHarnessLM(loaded=tiny, mc_num=2, mc_batch_size=2)
    with pytest.raises(ValueError, match="max_length=128"):
        lm.loglikelihood_rolling([Instance("loglikelihood_rolling", {}, (" 1" * 200,), 0)])


def test_apply_chat_template_formats_requests_and_canvases_skip_their_own_bos(tmp_path):
    """lm-eval's --apply_chat_template: the request is formatted by the Instruct tokenizer's chat
    template (which brings its BOS), so the canvas then starts with that BOS once, not twice; a Base
    tokenizer is refused by name."""
    from fixtures.checkpoints import LLADA_BOS, checkpoint

    loaded = load_model(checkpoint("llada", tmp_path / "llada", instruct=True), trust_remote_code=True)
    lm = MDLMHarnessLM(loaded=loaded, gen_length=6, answer_len=2, sampler="entropy")
    text = lm.apply_chat_template([{"role": "user", "content": "1+1?"}])
    assert "1+1?" in text and lm.chat_applied and lm.tokenizer_name
    ids = lm._prefix() + lm._encode(text)
    assert ids.count(LLADA_BOS) == 1
    (out,) = lm.generate_until([Instance("generate_until", {}, (text, {"until": []}), 0)])
    assert isinstance(out, str)
    base = MDLMHarnessLM(loaded=load_model(checkpoint("llada", tmp_path / "base", instruct=False), trust_remote_code=True), gen_length=4)
    with pytest.raises(ValueError, match="has no chat template"):
        base.apply_chat_template([{"role": "user", "content": "1+1?"}])
