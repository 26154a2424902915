import pytest
import torch

from mdlm_study.engine.templates import Template, build_canvas, read_canvas


def test_spans_and_left_padding(tokenizer, problems):
    template = Template(reasoning_len=44, answer_len=4)
    qs = [p.question for p in problems[:5]]
    canvas = build_canvas(tokenizer, qs, template)
    B, L = canvas.input_ids.shape
    mask = tokenizer.mask_token_id
    assert (canvas.reasoning[:, 1] - canvas.reasoning[:, 0] == 44).all()
    assert (canvas.answer[:, 1] - canvas.answer[:, 0] == 4).all()
    assert (canvas.answer[:, 1] == L).all()
    for i, q in enumerate(qs):
        p0, p1 = canvas.prompt[i].tolist()
        assert canvas.attention_mask[i, :p0].sum() == 0 and canvas.attention_mask[i, p0:].all()
        assert tokenizer.decode(canvas.input_ids[i, p0:p1], skip_special_tokens=True) == q + "\n"
        r0, r1 = canvas.reasoning[i].tolist()
        assert (canvas.input_ids[i, r0:r1] == mask).all()
        d0, d1 = canvas.delimiter[i].tolist()
        assert tokenizer.decode(canvas.input_ids[i, d0:d1]) == "\n####"
    assert int((canvas.input_ids == mask).sum()) == B * 48
    assert canvas.response_mask.sum() == B * 48


def test_posterior_canvas_and_readback(tokenizer, problems):
    template = Template(reasoning_len=44, answer_len=4)
    ps = problems[:6]
    canvas = build_canvas(tokenizer, [p.question for p in ps], template, answers=[p.answer for p in ps])
    a0, a1 = canvas.answer[0].tolist()
    assert (canvas.input_ids[:, a0:a1] != tokenizer.mask_token_id).all()
    full = build_canvas(tokenizer, [p.question for p in ps], template, answers=[p.answer for p in ps], reasonings=[p.reasoning for p in ps])
    for p, out in zip(ps, read_canvas(tokenizer, full.input_ids, full), strict=True):
        assert out.answer == p.answer
        assert out.steps == list(p.steps)
        assert out.reasoning == p.reasoning


def test_reasoning_prefix_with_mask_fill(tokenizer, problems):
    p = problems[0]
    template = Template()
    canvas = build_canvas(tokenizer, [p.question], template, answers=[p.answer], reasonings=[p.steps[0] + "\n"], reasoning_fill="mask")
    r0, r1 = canvas.reasoning[0].tolist()
    n_prefix = len(tokenizer(p.steps[0] + "\n", add_special_tokens=False)["input_ids"])
    assert (canvas.input_ids[0, r0 + n_prefix : r1] == tokenizer.mask_token_id).all()


def test_suffix_is_cut_from_answer(tokenizer):
    template = Template(reasoning_len=2, answer_len=4, suffix=".")
    canvas = build_canvas(tokenizer, ["How many apples now?"], template, answers=["12"], reasonings=["1"])
    assert read_canvas(tokenizer, canvas.input_ids, canvas)[0].answer == "12"
    assert tokenizer.decode(canvas.input_ids[0, canvas.suffix[0, 0] :]) == "."


def test_answer_only_template(tokenizer, problems):
    canvas = build_canvas(tokenizer, [problems[0].question], Template(reasoning_len=0, answer_len=4))
    assert (canvas.reasoning[:, 1] == canvas.reasoning[:, 0]).all()


@pytest.mark.parametrize(
    "kwargs, match",
    [({"answer_len": 0}, "answer_len"), ({"reasoning_len": -1}, "reasoning_len"), ({"delimiter": ""}, "delimiter")],
)
def test_bad_template(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Template(**kwargs)


def test_answer_longer_than_slot(tokenizer):
    with pytest.raises(ValueError, match="12345"):
        build_canvas(tokenizer, ["q"], Template(answer_len=4), answers=["12345"])


def test_canvas_longer_than_model(tokenizer, problems):
    with pytest.raises(ValueError, match="maximum length 20"):
        build_canvas(tokenizer, [problems[0].question], Template(), max_length=20)


def test_delimiter_that_merges_in_context_is_rejected():
    """A BPE-like tokenizer where 'ab' is one token: delimiter 'b' after text ending in 'a' merges."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[PAD]": 0, "[UNK]": 1, "[BOS]": 2, "[EOS]": 3, "[MASK]": 4, "a": 5, "b": 6, "ab": 7, "1": 8}
    backend = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", continuing_subword_prefix=""))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]", bos_token="[BOS]", eos_token="[EOS]", mask_token="[MASK]")
    with pytest.raises(ValueError, match="tokenizes differently"):
        build_canvas(tok, ["a"], Template(delimiter="b", prompt_suffix="a", answer_prefix=" "))


def test_mismatched_lengths(tokenizer):
    with pytest.raises(ValueError, match="answers has 1 entries for 2 questions"):
        build_canvas(tokenizer, ["a", "b"], Template(), answers=["1"])
    with pytest.raises(ValueError, match="empty"):
        build_canvas(tokenizer, [], Template())


def test_canvas_is_deterministic(tokenizer, problems):
    a = build_canvas(tokenizer, [p.question for p in problems[:4]], Template())
    b = build_canvas(tokenizer, [p.question for p in problems[:4]], Template())
    assert torch.equal(a.input_ids, b.input_ids)
