"""The decoding loop on toy denoisers: counts, blocks, padding invariance, determinism, parity."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from toy_denoisers import ChainDenoiser, PositionTable, logits_with_entropies

from mdlm_study.engine import RULES, SAMPLERS, generate

V, MASK = 10, 9
PRIOR = torch.linspace(0.02, 0.2, V)  # a static per-token prior (PC-Sampler's background frequency)
PARAMS = {name: rule.example_params() for name, rule in RULES.items()}  # each rule's registered example values
PARAMS["pc_sampler"] = {**PARAMS["pc_sampler"], "token_prior": PRIOR}  # its prior is an input of generate, not a rule parameter


def canvas(batch, prompt, masks, key=0):
    x = torch.full((batch, prompt + masks), MASK)
    x[:, :prompt] = 1
    x[:, 0] = key if isinstance(key, int) else torch.as_tensor(key)
    return x


def with_mask_column(logits):
    """Append the mask token as a column with -inf logit (so entropies are exactly as built)."""
    pad = torch.full((*logits.shape[:-1], 1), -1e9)
    return torch.cat([logits, pad], dim=-1)


def random_table(keys, length, seed=0, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(keys, length, V, generator=g) * scale


def steps_committed(history):
    return [h["committed"].sum(1).tolist() for h in history]


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_fixed_k_commits_min_k_remaining_each_step(k):
    model = PositionTable(random_table(1, 12))
    out = generate(model, canvas(2, 2, 10), sampler="entropy", mask_id=MASK, tokens_per_step=k, return_history=True)
    remaining, expected = 10, []
    while remaining:
        expected.append(min(k, remaining))
        remaining -= expected[-1]
    assert [c[0] for c in steps_committed(out.history)] == expected
    assert out.nfe.tolist() == [len(expected)] * 2
    assert not (out.sequences == MASK).any()


def test_l2r_uses_exactly_L_passes_left_to_right():
    model = PositionTable(random_table(1, 9))
    out = generate(model, canvas(1, 2, 7), sampler="l2r", mask_id=MASK, return_history=True)
    assert out.nfe.item() == 7 and model.calls == 7
    assert [h["committed"][0].nonzero()[:, 0].tolist() for h in out.history] == [[i] for i in range(2, 9)]


def test_med_commits_exactly_positions_below_lambda():
    entropies = [0.05, 1.5, 0.15, 0.25, 0.01, 2.0]
    table = with_mask_column(torch.cat([torch.zeros(2, V - 1), logits_with_entropies(entropies, V - 1)]))
    out = generate(PositionTable(table[None]), canvas(1, 2, 6), sampler="med", mask_id=MASK, med_lambda=0.2, return_history=True)
    first = out.history[0]["committed"][0].nonzero()[:, 0].tolist()
    assert first == [2, 4, 6]
    torch.testing.assert_close(out.history[0]["entropy"][0, 2:], torch.tensor(entropies), atol=1e-3, rtol=0)


def test_med_lambda_zero_equals_one_token_entropy_decoding():
    model = ChainDenoiser(torch.randint(0, MASK, (3, 14), generator=torch.Generator().manual_seed(1)), V, MASK)
    x = canvas(3, 2, 12, key=torch.tensor([0, 1, 2]))
    a = generate(model, x, sampler="med", mask_id=MASK, med_lambda=0.0)
    b = generate(model, x, sampler="entropy", mask_id=MASK)
    assert torch.equal(a.sequences, b.sequences) and torch.equal(a.nfe, b.nfe)


def test_adaptive_counts_are_per_row_and_finished_rows_stop_counting():
    keys = torch.tensor([0, 1])
    table = random_table(2, 10, scale=1.0)
    table[1] = table[1] * 0 + torch.nn.functional.one_hot(torch.arange(10) % 5, V) * 50  # row 1: certain everywhere
    out = generate(PositionTable(table), canvas(2, 2, 8, key=keys), sampler="med", mask_id=MASK, med_lambda=0.2, return_history=True)
    assert out.nfe[1] == 1 and out.nfe[0] > 1
    assert all(not h["active"][1] for h in out.history[1:])
    assert len(out.history) == out.nfe.max()


@pytest.mark.parametrize("block", [1, 3, 4])
@pytest.mark.parametrize("sampler", ["entropy", "confidence", "med", "random"])
def test_blocks_are_respected(block, sampler):
    model = PositionTable(random_table(1, 14))
    x = canvas(1, 2, 12)
    out = generate(model, x, sampler=sampler, mask_id=MASK, block_size=block, return_history=True,
                   generator=torch.Generator().manual_seed(0), **PARAMS.get(sampler, {}))
    done = torch.zeros(14, dtype=torch.bool)
    done[:2] = True
    for h in out.history:
        cols = h["committed"][0].nonzero()[:, 0]
        leftmost_block = (int((~done).nonzero()[0]) - 2) // block
        assert all((int(c) - 2) // block == leftmost_block for c in cols)
        done[cols] = True


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_block_size_one_is_left_to_right_for_every_rule(sampler):
    model = PositionTable(random_table(2, 10))
    x = canvas(2, 2, 8, key=torch.tensor([0, 1]))
    out = generate(model, x, sampler=sampler, mask_id=MASK, block_size=1, generator=torch.Generator().manual_seed(0), **PARAMS.get(sampler, {}))
    ref = generate(model, x, sampler="l2r", mask_id=MASK)
    assert torch.equal(out.sequences, ref.sequences) and out.nfe.tolist() == [8, 8]



@pytest.mark.parametrize("sampler", SAMPLERS)
def test_block_size_one_is_left_to_right_in_the_answer_slot_too(sampler):
    """The answer slot is decoded last (docs/decisions.md, "Answer slot decoded last") but in blocks of the same size."""
    model = PositionTable(random_table(2, 10))
    x = canvas(2, 2, 8, key=torch.tensor([0, 1]))
    out = generate(model, x, sampler=sampler, mask_id=MASK, block_size=1, answer_span=(4, 7), return_history=True,
                   generator=torch.Generator().manual_seed(0), **PARAMS.get(sampler, {}))
    order = [int(h["committed"][0].nonzero()[0]) for h in out.history]
    assert order == [2, 3, 7, 8, 9, 4, 5, 6]

def left_pad(rows, pad=0):
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad)
    attn = torch.zeros(len(rows), width, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r):] = torch.as_tensor(r)
        attn[i, width - len(r):] = 1
    return ids, attn


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("temperature", [0.0, 0.7])
def test_padded_batch_equals_rows_run_alone(sampler, temperature):
    model = ChainDenoiser(torch.randint(0, MASK, (3, 16), generator=torch.Generator().manual_seed(2)), V, MASK, sharp=2.0)
    rows = [[0, 1, 1] + [MASK] * 8, [1, 1, 1, 1, 1, 1] + [MASK] * 6, [2] + [MASK] * 10]
    ids, attn = left_pad(rows)
    gens = [torch.Generator().manual_seed(10 + i) for i in range(3)]
    batch = generate(model, ids, attention_mask=attn, sampler=sampler, mask_id=MASK, temperature=temperature, generator=gens,
                     block_size=4, **PARAMS.get(sampler, {}))
    for i, row in enumerate(rows):
        alone = generate(model, torch.tensor([row]), attention_mask=torch.ones(1, len(row), dtype=torch.long), sampler=sampler, mask_id=MASK,
                         temperature=temperature, generator=[torch.Generator().manual_seed(10 + i)], block_size=4, **PARAMS.get(sampler, {}))
        assert torch.equal(batch.sequences[i, ids.shape[1] - len(row):], alone.sequences[0]), i
        assert batch.nfe[i] == alone.nfe[0]
        assert batch.logprob[i] == alone.logprob[0]
    assert torch.equal(batch.sequences[attn == 0], ids[attn == 0])


def test_same_seed_bit_identical_and_seeds_differ():
    model = PositionTable(random_table(1, 20, scale=1.0))
    x = canvas(4, 2, 18)

    def run(seed):
        return generate(model, x, sampler="entropy", mask_id=MASK, temperature=1.0, generator=torch.Generator().manual_seed(seed))

    a, b, c = run(0), run(0), run(1)
    assert torch.equal(a.sequences, b.sequences) and torch.equal(a.logprob, b.logprob)
    assert not torch.equal(a.sequences, c.sequences)
    assert not torch.equal(a.sequences[0], a.sequences[1])  # rows get their own streams


def test_sampling_needs_a_generator():
    with pytest.raises(ValueError, match="needs a generator"):
        generate(PositionTable(random_table(1, 5)), canvas(1, 1, 4), sampler="random", mask_id=MASK)


def test_logprob_is_sum_of_committed_token_logprobs():
    table = random_table(1, 6)
    out = generate(PositionTable(table), canvas(1, 1, 5), sampler="l2r", mask_id=MASK)
    logits = table[0, 1:6].clone()
    logits[:, MASK] = -torch.inf
    expected = torch.log_softmax(logits, -1).max(-1).values.sum()
    assert out.logprob[0].item() == pytest.approx(expected.item(), abs=1e-5)


def llada_reference(model, x, *, steps, block_length, mask_id):
    """Our own re-implementation of LLaDA's generate.py schedule (temperature 0, low-confidence
    remasking): blocks, steps per block, the block's masks split evenly over its steps (remainder
    to the earliest steps), top-k confidence inside the current block. Returns committed sets."""
    x = x.clone()
    prompt = int((x[0] != mask_id).sum())
    gen = x.shape[1] - prompt
    blocks = gen // block_length
    per_block = steps // blocks
    committed = []
    for b in range(blocks):
        lo, hi = prompt + b * block_length, prompt + (b + 1) * block_length
        n = int((x[:, lo:hi] == mask_id).sum(1)[0])
        quota = [n // per_block + (1 if i < n % per_block else 0) for i in range(per_block)]
        for q in quota:
            logits = model(x)
            logits[..., mask_id] = -torch.inf
            p = torch.softmax(logits.double(), -1)
            x0 = logits.argmax(-1)
            conf = p.gather(-1, x0[..., None])[..., 0]
            conf[:, :lo] = -torch.inf
            conf[:, hi:] = -torch.inf
            conf[x != mask_id] = -torch.inf
            idx = torch.topk(conf[0], q).indices
            x[0, idx] = x0[0, idx]
            committed.append(sorted(idx.tolist()))
    return x, committed


@pytest.mark.parametrize("block, k", [(4, 1), (4, 2), (8, 4), (16, 2)])
def test_confidence_rule_reproduces_llada_schedule(block, k):
    model = ChainDenoiser(torch.randint(0, MASK, (1, 20), generator=torch.Generator().manual_seed(3)), V, MASK, sharp=1.5)
    x = canvas(1, 4, 16)
    ref_x, ref_steps = llada_reference(model, x, steps=16 // k, block_length=block, mask_id=MASK)
    out = generate(model, x, sampler="confidence", mask_id=MASK, block_size=block, tokens_per_step=k, return_history=True)
    assert [h["committed"][0].nonzero()[:, 0].tolist() for h in out.history] == ref_steps
    assert torch.equal(out.sequences, ref_x)


def test_model_returning_hf_output_and_shifted_logits():
    table = random_table(1, 8)

    class Out:
        def __init__(self, logits):
            self.logits = logits

    base = PositionTable(table)

    def shifted(ids, attention_mask=None):
        logits = base(ids, attention_mask)
        return Out(torch.cat([logits[:, 1:], logits[:, -1:]], 1))

    x = canvas(2, 2, 6)
    a = generate(base, x, sampler="entropy", mask_id=MASK)
    b = generate(shifted, x, sampler="entropy", mask_id=MASK, shift_logits=True)
    assert torch.equal(a.sequences, b.sequences)


def test_suppressed_tokens_are_never_committed():
    table = random_table(1, 8)
    table[..., 3] = 100.0  # token 3 would win everywhere
    out = generate(PositionTable(table), canvas(1, 2, 6), sampler="entropy", mask_id=MASK, suppress_token_ids=[3])
    assert not (out.sequences[0, 2:] == 3).any()


def test_mask_token_is_never_committed_even_when_most_likely():
    table = random_table(1, 8)
    table[..., MASK] = 100.0
    out = generate(PositionTable(table), canvas(1, 2, 6), sampler="med", mask_id=MASK, med_lambda=0.5)
    assert not (out.sequences == MASK).any()


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    sampler=st.sampled_from(SAMPLERS),
    k=st.integers(1, 3),
    block=st.sampled_from([None, 2, 5]),
    n_masks=st.integers(1, 9),
)
def test_properties_every_step_progresses_and_keeps_non_masks(seed, sampler, k, block, n_masks):
    g = torch.Generator().manual_seed(seed)
    table = torch.randn(1, 12, V, generator=g) * 3
    x = torch.randint(0, MASK, (3, 12), generator=g)
    x[:, 12 - n_masks:] = MASK
    x[1, 2] = MASK
    kwargs = {"tokens_per_step": k} if RULES[sampler].fixed_count else {}
    out = generate(PositionTable(table), x, sampler=sampler, mask_id=MASK, block_size=block, return_history=True,
                   generator=torch.Generator().manual_seed(seed), **kwargs, **PARAMS.get(sampler, {}))
    assert torch.equal(out.sequences[x != MASK], x[x != MASK])
    assert not (out.sequences == MASK).any()
    for h in out.history:
        n = h["committed"].sum(1)
        assert ((n >= 1) | ~h["active"]).all()
        assert (n[~h["active"]] == 0).all()
    assert out.nfe.sum() == sum(int(h["active"].sum()) for h in out.history)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"sampler": "greedy"}, "unknown sampler 'greedy'"),
        ({"sampler": "med", "med_lambda": -0.1}, "med_lambda must be >= 0, got -0.1"),
        ({"sampler": "med"}, "needs med_lambda"),
        ({"sampler": "eb", "eb_gamma": -1}, "eb_gamma"),
        ({"sampler": "fast_threshold", "tau": 0.0}, "tau must be in"),
        ({"sampler": "fast_threshold", "tau": 1.5}, "tau must be in"),
        ({"sampler": "fast_factor", "factor": 0}, "factor must be > 0"),
        ({"sampler": "entropy", "tokens_per_step": 0}, "tokens_per_step must be an int >= 1, got 0"),
        ({"sampler": "entropy", "block_size": 0}, "block_size must be an int >= 1, got 0"),
        ({"sampler": "entropy", "temperature": -1.0}, "temperature"),
        ({"sampler": "entropy", "lam": 0.2}, "unknown rule parameter"),
        ({"sampler": "med", "med_lambda": 0.2, "tokens_per_step": 2}, "tokens_per_step=2 only applies"),
        ({"sampler": "entropy", "attention_mask": torch.ones(2, 3)}, "attention_mask shape"),
        ({"sampler": "entropy", "exit_rule": "oracle"}, "unknown exit_rule"),
        ({"sampler": "entropy", "answer_span": (5, 99)}, "answer_span"),
        ({"sampler": "entropy", "answer_span": (4, 4)}, "answer_span"),
    ],
)
def test_bad_input_raises_naming_the_value(kwargs, match):
    with pytest.raises(ValueError, match=match):
        generate(PositionTable(random_table(1, 8)), canvas(1, 2, 6), mask_id=MASK, **kwargs)


def test_no_mask_and_wrong_model_shape_raise():
    model = PositionTable(random_table(1, 8))
    with pytest.raises(ValueError, match="no mask token"):
        generate(model, torch.ones(1, 8, dtype=torch.long), sampler="entropy", mask_id=MASK)
    with pytest.raises(ValueError, match=r"shape \[B, L, V\]"):
        generate(lambda x, attention_mask=None: torch.zeros(1, 3), canvas(1, 2, 6), sampler="entropy", mask_id=MASK)


def _statistics_by_definition(z: torch.Tensor, temperature: float, keys) -> dict:
    """The per-position statistics written out plainly, one formula each (the engine computes them in fewer passes)."""
    from mdlm_study.engine.noise import hash_uniform

    probs = torch.softmax(z, dim=-1)
    logp = torch.log_softmax(z, dim=-1)
    entropy = -torch.where(probs > 0, probs * logp, torch.zeros_like(probs)).sum(-1)
    top2 = probs.topk(2, dim=-1).values
    if keys is None:
        tokens = z.argmax(-1)
    else:
        uniform = hash_uniform(*keys, z.shape[-1])
        tokens = (z.double() / temperature - torch.log(-torch.log(uniform))).argmax(-1)
    return {"entropy": entropy, "margin": top2[:, 0] - top2[:, 1], "gap": z.topk(2, dim=-1).values.diff(dim=-1)[:, 0].neg(),
            "tokens": tokens, "token_logp": logp.gather(-1, tokens[:, None])[:, 0]}


@pytest.mark.parametrize("temperature", [0.0, 0.7, 0.05])
def test_position_statistics_are_their_definitions_on_ties_banned_ids_and_underflow(temperature):
    from mdlm_study.engine.loop import _position_statistics

    g = torch.Generator().manual_seed(3)
    z = torch.randn(6, 5000, generator=g) * 4
    z[:, 0] = -torch.inf  # a banned id
    z[1, 50:] = -torch.inf  # few ids left
    z[2, 100:400] = -300.0  # probabilities that underflow to 0
    z[3, 7] = z[3, 9] = z[3].max() + 2  # a tie at the top: the first of the two, as argmax
    keys = None if temperature == 0 else (torch.randint(2**62, (6,), generator=g), torch.arange(6) * 3, torch.arange(6) + 1)
    got = _position_statistics(z.clone(), temperature, keys)
    want = _statistics_by_definition(z, temperature, keys)
    assert torch.equal(got["tokens"], want["tokens"]) and (temperature > 0 or int(got["tokens"][3]) == 7)
    for name in ("entropy", "margin", "gap", "token_logp"):
        torch.testing.assert_close(got[name], want[name], rtol=1e-5, atol=1e-6, msg=name)
    assert float(got["margin"][3]) == 0.0 and float(got["gap"][3]) == 0.0
    torch.testing.assert_close(got["confidence"], want["token_logp"].exp())
