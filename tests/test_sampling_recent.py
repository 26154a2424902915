"""WINO, KLASS, PC-Sampler and LocalLeap: each rule on hand-built statistics, and each decoding loop at
temperature 0 against our own re-implementation of its authors' public code (read, not copied:
Feng-Hong/WINO-DLLM ``decoding_wino``, shkim0116/KLASS ``stable_confident_decode``, NEUIR/PC-Sampler
``generate_with_pc_sampler``, friedrichor/LocalLeap ``generate``), on toy denoisers whose context
dependence makes drafts, revocations and moving distributions happen. Where ours and theirs differ:
docs/decisions.md, "Recent decoders"."""

import math

import pytest
import torch
from toy_denoisers import ContextDenoiser

from mdlm_study.engine import DecodeConfig, generate
from mdlm_study.engine.memory import KLHistory
from mdlm_study.engine.recent_rules import klass, local_leap, pc_sampler, wino, wino_revoke

V, MASK = 12, 11
PROMPT, GEN = 3, 16
KLASS_SCALE = 3.0  # sharp enough that stable, confident positions appear


def canvas(seed: int) -> torch.Tensor:
    x = torch.full((PROMPT + GEN,), MASK)
    x[:PROMPT] = torch.randint(0, MASK, (PROMPT,), generator=torch.Generator().manual_seed(100 + seed))
    return x


def softmax64(logits):
    return torch.softmax(logits.to(torch.float64), -1)


# ---- the authors' loops, re-implemented (single row, temperature 0) ----

def wino_reference(model, x, *, block, tau, tau_back):
    """WINO: the block's shadow copy sits after the sequence, all masks, at the block's position ids;
    shadow j sees everything but the original position j. Drafts above τ (capped), then committed
    tokens whose shadow probability is < τ_back go back to the mask when more than one was drafted."""
    length = x.shape[0]
    xb = torch.cat([x.clone(), torch.full((block,), MASK)])
    steps = 0
    for b in range(GEN // block):
        lo, hi = PROMPT + b * block, PROMPT + (b + 1) * block
        todo = torch.zeros(length + block, dtype=torch.bool)
        todo[lo:hi] = xb[lo:hi] == MASK
        known = xb[lo:hi] != MASK
        pos = torch.cat([torch.arange(length), torch.arange(lo, hi)])
        attention = torch.ones(length + block, length + block, dtype=torch.bool)
        attention[:, length:] = False
        attention[length:, length:] = True
        attention[length:, lo:hi] = ~torch.eye(block, dtype=torch.bool)
        last = 30
        while todo.any():
            cap = min(max(int(int(todo.sum()) * 0.7), 5), 20)
            p = softmax64(model.shadow(xb, attention, pos))
            guess = p.argmax(-1)
            conf = torch.where(todo, p.gather(-1, guess[:, None])[:, 0], torch.tensor(-math.inf, dtype=torch.float64))
            back = torch.full((block,), math.inf, dtype=torch.float64)
            for j in range(block):
                if known[j]:
                    back[j] = p[length + j, xb[lo + j]]
            accept = conf > tau
            if accept.sum() > cap:
                accept = torch.zeros_like(accept)
                accept[conf.topk(cap).indices] = True
            elif not accept.any():
                accept[conf.argmax()] = True
            n = int(accept.sum())
            remask = torch.zeros(block, dtype=torch.bool)
            if n > 1:
                remask = back < tau_back
                if remask.sum() >= last:
                    remask = torch.zeros(block, dtype=torch.bool)
                    remask[back.topk(last - 1, largest=False).indices] = True
            xb[accept] = guess[accept]
            xb[lo:hi][remask] = MASK
            todo[accept] = False
            todo[lo:hi] |= remask
            known = (known | accept[lo:hi]) & ~remask
            last, steps = n, steps + 1
    return xb[:length], steps


def klass_reference(model, x, *, conf_threshold, kl_threshold, history):
    """KLASS, one block of GEN steps: KL(p_t || p_t-1) per position (p_prev starts at zeros), ready =
    stable over the last H steps (from the H-th step on) & confidence > threshold & masked; else the
    single most confident masked position (its schedule's one token per step)."""
    x = x.clone()
    kl_history = torch.zeros(x.shape[0], history, dtype=torch.float64)
    p_prev = torch.zeros(x.shape[0], V, dtype=torch.float64)
    steps = 0
    for step in range(GEN):
        todo = x == MASK
        if not todo.any():
            break
        p = softmax64(model(x[None])[0])
        guess = p.argmax(-1)
        conf = p.gather(-1, guess[:, None])[:, 0]
        kl = (p * (torch.log(p + 1e-12) - torch.log(p_prev + 1e-12))).sum(-1)
        kl_history = torch.roll(kl_history, -1, -1)
        kl_history[:, -1] = kl
        p_prev = p
        stable = (kl_history < kl_threshold).all(-1) if step >= history - 1 else torch.zeros_like(todo)
        ready = stable & (conf > conf_threshold) & todo
        if not ready.any():
            ready = torch.zeros_like(todo)
            ready[torch.where(todo, conf, -math.inf).argmax()] = True
        x[ready] = guess[ready]
        steps += 1
    return x, steps


def pc_reference(model, x, *, block, lam, alpha, background):
    """PC-Sampler, one token per step: in the current block, score = exp(-λ·i) · min(α, -p·log(f_bg+1e-9)), top 1."""
    x = x.clone()
    for b in range(GEN // block):
        lo, hi = PROMPT + b * block, PROMPT + (b + 1) * block
        for _ in range(block):
            p = torch.softmax(model(x[None])[0], -1)
            guess = p.argmax(-1)
            conf = p.gather(-1, guess[:, None])[:, 0][lo:hi]
            calibrated = (-conf * torch.log(background[guess[lo:hi]] + 1e-9)).clamp(max=alpha)
            score = torch.exp(-lam * torch.arange(block, dtype=torch.float32)) * calibrated
            score = torch.where(x[lo:hi] == MASK, score, torch.tensor(-math.inf))
            i = lo + int(score.argmax())
            x[i] = guess[i]
    return x, GEN


def leap_reference(model, x, *, block, tau, relaxed, radius):
    """LocalLeap: the most confident masked position always; any other at >= τ, or at >= the relaxed
    threshold when within ``radius`` columns of an anchor (a masked position with confidence >= τ)."""
    x = x.clone()
    steps = 0
    for b in range(GEN // block):
        hi = PROMPT + (b + 1) * block
        while (x[:hi] == MASK).any():
            todo = x == MASK
            todo[hi:] = False
            p = softmax64(model(x[None])[0])
            guess = p.argmax(-1)
            conf = torch.where(todo, p.gather(-1, guess[:, None])[:, 0], torch.tensor(-math.inf, dtype=torch.float64))
            order = conf.topk(int(todo.sum())).indices.tolist()
            anchors = [i for i in order if conf[i] >= tau]
            near = {j for a in anchors for j in range(max(0, a - radius), a + radius + 1)}
            commit = [order[0]] + [i for i in order[1:] if conf[i] >= (relaxed if i in near else tau)]
            x[commit] = guess[commit]
            steps += 1
    return x, steps


# ---- parity ----

@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("block", [8, 16])
def test_wino_matches_its_shadow_block_reference(seed, block):
    model = ContextDenoiser(PROMPT + GEN, V, MASK, seed=seed)
    ref, steps = wino_reference(model, canvas(seed), block=block, tau=0.5, tau_back=0.9)
    out = generate(model, canvas(seed)[None], sampler="wino", mask_id=MASK, block_size=block, wino_tau=0.5, wino_tau_back=0.9)
    assert torch.equal(out.sequences[0], ref) and out.nfe.item() == steps


def test_wino_reference_cases_do_revoke():
    """The parity above is not vacuous: the narrow-out step fires in these cases."""
    revoked = 0
    for seed in range(6):
        model = ContextDenoiser(PROMPT + GEN, V, MASK, seed=seed)
        out = generate(model, canvas(seed)[None], sampler="wino", mask_id=MASK, block_size=16, wino_tau=0.5, wino_tau_back=0.9,
                       return_history=True)
        revoked += sum(int(h["revoked"].sum()) for h in out.history)
    assert revoked > 0


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("history", [1, 2, 3])
def test_klass_matches_its_reference(seed, history):
    model = ContextDenoiser(PROMPT + GEN, V, MASK, seed=seed, scale=KLASS_SCALE)
    ref, steps = klass_reference(model, canvas(seed), conf_threshold=0.5, kl_threshold=0.05, history=history)
    out = generate(model, canvas(seed)[None], sampler="klass", mask_id=MASK, klass_conf=0.5, klass_kl=0.05, klass_history=history)
    assert torch.equal(out.sequences[0], ref) and out.nfe.item() == steps


def test_klass_reference_cases_commit_in_parallel():
    """The parity above is not vacuous: stable, confident positions are committed several at a time."""
    nfe = [generate(ContextDenoiser(PROMPT + GEN, V, MASK, seed=seed, scale=KLASS_SCALE), canvas(seed)[None], sampler="klass", mask_id=MASK,
                    klass_conf=0.5, klass_kl=0.05, klass_history=2).nfe.item() for seed in range(6)]
    assert min(nfe) < GEN


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("block, lam", [(16, 0.25), (8, 0.25), (16, 0.0), (16, 1.0)])
def test_pc_sampler_matches_its_reference(seed, block, lam):
    model = ContextDenoiser(PROMPT + GEN, V, MASK, seed=seed)
    background = torch.rand(V, generator=torch.Generator().manual_seed(seed)) * 0.2
    ref, steps = pc_reference(model, canvas(seed), block=block, lam=lam, alpha=10.0, background=background)
    out = generate(model, canvas(seed)[None], sampler="pc_sampler", mask_id=MASK, block_size=block, pc_lambda=lam, pc_alpha=10.0,
                   token_prior=background)
    assert torch.equal(out.sequences[0], ref) and out.nfe.item() == steps


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("block, radius", [(16, 2), (8, 1), (16, 0)])
def test_local_leap_matches_its_reference(seed, block, radius):
    model = ContextDenoiser(PROMPT + GEN, V, MASK, seed=seed)
    ref, steps = leap_reference(model, canvas(seed), block=block, tau=0.8, relaxed=0.5, radius=radius)
    out = generate(model, canvas(seed)[None], sampler="local_leap", mask_id=MASK, block_size=block, leap_tau=0.8, leap_relaxed_tau=0.5,
                   leap_radius=radius)
    assert torch.equal(out.sequences[0], ref) and out.nfe.item() == steps


# ---- the rules on hand-built statistics ----

def test_wino_drafts_above_tau_capped_at_seven_tenths_of_the_block():
    confidence = torch.tensor([[0.9, 0.8, 0.7, 0.6, 0.95, 0.3, 0.65, 0.85, 0.75, 0.99]])
    eligible = torch.ones(1, 10, dtype=torch.bool)
    commit = wino({"confidence": confidence}, eligible, k=1, params={"wino_tau": 0.5})
    assert commit.nonzero()[:, 1].tolist() == [0, 1, 2, 4, 7, 8, 9]  # 9 above τ, cap ⌊0.7·10⌋ = 7: the 7 most confident
    none = wino({"confidence": confidence * 0.1}, eligible, k=1, params={"wino_tau": 0.5})
    assert none.nonzero()[:, 1].tolist() == [9]


def test_wino_revokes_low_verification_only_after_a_multi_commit_and_caps_by_the_previous_step():
    verify = torch.tensor([[0.2, 0.95, 0.5, 0.1, float("nan")]])
    revocable = torch.tensor([[True, True, True, True, False]])
    stats = {"verify": verify, "previous_commits": torch.tensor([5])}
    two = torch.tensor([[False, False, False, False, True]]).repeat(1, 1)
    multi = torch.tensor([[False] * 4 + [True]]) | torch.tensor([[True] + [False] * 4])
    params = {"wino_tau_back": 0.9}
    assert wino_revoke(stats, revocable, two, params=params).sum() == 0  # one commit: nothing goes back
    assert wino_revoke(stats, revocable, multi, params=params).nonzero()[:, 1].tolist() == [0, 2, 3]
    stats["previous_commits"] = torch.tensor([3])  # 3 low ones >= 3 committed last step: only the 2 least believed
    assert wino_revoke(stats, revocable, multi, params=params).nonzero()[:, 1].tolist() == [0, 3]


def test_klass_needs_confidence_and_a_stable_history():
    stats = {"confidence": torch.tensor([[0.9, 0.9, 0.4, 0.95]]),
             "kl_history": torch.tensor([[[0.001, 0.002], [0.001, 0.5], [0.0, 0.0], [math.inf, 0.001]]], dtype=torch.float64)}
    eligible = torch.ones(1, 4, dtype=torch.bool)
    params = {"klass_conf": 0.6, "klass_kl": 0.01, "klass_history": 2}
    assert klass(stats, eligible, k=1, params=params).nonzero()[:, 1].tolist() == [0]
    assert klass(stats, eligible, k=1, params={**params, "klass_history": 1}).nonzero()[:, 1].tolist() == [0, 3]
    stats["confidence"] = torch.tensor([[0.5, 0.5, 0.4, 0.55]])
    assert klass(stats, eligible, k=1, params=params).nonzero()[:, 1].tolist() == [3]  # none ready: the most confident


def test_pc_sampler_score_by_hand():
    stats = {"confidence": torch.tensor([[0.9, 0.6, 0.8]]), "prior": torch.tensor([[0.5, 0.001, 0.01]], dtype=torch.float64),
             "block_position": torch.tensor([[0, 1, 2]])}
    eligible = torch.ones(1, 3, dtype=torch.bool)
    # scores: 0.9·ln2 = 0.624; e^-0.5·min(3, 0.6·6.908=4.145) = 1.820; e^-1·min(3, 0.8·4.605=3.684) = 1.104
    assert pc_sampler(stats, eligible, k=1, params={"pc_lambda": 0.5, "pc_alpha": 3.0}).nonzero()[:, 1].tolist() == [1]
    assert pc_sampler(stats, eligible, k=2, params={"pc_lambda": 0.5, "pc_alpha": 3.0}).nonzero()[:, 1].tolist() == [1, 2]
    # a steep decay makes the first column win: 0.624 vs e^-3·3 = 0.149
    assert pc_sampler(stats, eligible, k=1, params={"pc_lambda": 3.0, "pc_alpha": 3.0}).nonzero()[:, 1].tolist() == [0]


def test_local_leap_relaxes_only_within_the_radius_of_an_anchor():
    confidence = torch.tensor([[0.95, 0.7, 0.7, 0.7, 0.7, 0.7, 0.92]])
    eligible = torch.ones(1, 7, dtype=torch.bool)
    params = {"leap_tau": 0.9, "leap_relaxed_tau": 0.6, "leap_radius": 1}
    assert local_leap({"confidence": confidence}, eligible, k=1, params=params).nonzero()[:, 1].tolist() == [0, 1, 5, 6]
    wide = local_leap({"confidence": confidence}, eligible, k=1, params={**params, "leap_radius": 2})
    assert wide.nonzero()[:, 1].tolist() == [0, 1, 2, 4, 5, 6]


def test_kl_history_by_hand():
    memory = KLHistory.start(1, 2, 2, torch.device("cpu"))
    p1 = torch.tensor([[[0.5, 0.5], [0.9, 0.1]]]).log()
    p2 = torch.tensor([[[0.9, 0.1], [0.9, 0.1]]]).log()
    masked = torch.tensor([[True, True]])
    first = memory.update(torch.tensor([0]), masked, p1)
    assert torch.isinf(first).all()
    second = memory.update(torch.tensor([0]), masked, p2)
    expected = 0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5)
    assert second[0, 0, 1].item() == pytest.approx(expected, abs=1e-6) and second[0, 1, 1].item() == pytest.approx(0.0, abs=1e-6)
    assert torch.isinf(second[..., 0]).all()  # oldest first


# ---- revocation guarantees ----

class Doubter:
    """Every masked position is sure of one token, 1 or 2 by the parity of the row's mask count; a
    hidden position adds a mask and flips the parity, so committed tokens are doubted often: a hard
    case for revocation. Every draft has the same distribution (one logit at 6, the rest 0)."""

    def __init__(self, vocab, mask_id):
        self.vocab, self.mask_id = vocab, mask_id

    def __call__(self, input_ids, attention_mask=None):
        logits = torch.zeros(*input_ids.shape, self.vocab)
        parity = (input_ids == self.mask_id).sum(1) % 2
        logits.scatter_(-1, (1 + parity)[:, None, None].expand(*input_ids.shape, 1), 6.0)
        logits[..., self.mask_id] = -1e9
        return logits


def doubter_logp() -> float:
    logits = torch.zeros(V)
    logits[1] = 6.0
    logits[MASK] = -1e9
    return torch.log_softmax(logits, -1)[1].item()


def test_revocation_never_touches_prompt_or_given_answer_and_every_row_ends():
    ids = torch.tensor([[5, 6] + [MASK] * 12 + [7, 3]] * 2)
    given = torch.tensor([0, 1, 14, 15])
    out = generate(Doubter(V, MASK), ids, sampler="wino", mask_id=MASK, wino_tau=0.5, wino_tau_back=0.9, answer_span=(14, 16),
                   return_history=True)
    assert torch.equal(out.sequences[:, given], ids[:, given])  # the prompt and the given answer stay
    assert not (out.sequences == MASK).any()
    revoked = torch.stack([h["revoked"] for h in out.history])
    assert revoked.any() and not revoked[..., given].any()
    assert (out.nfe <= 2 * 14).all()


def test_logprob_leaves_with_revoked_tokens():
    ids = torch.tensor([[5, 6] + [MASK] * 12])
    out = generate(Doubter(V, MASK), ids, sampler="wino", mask_id=MASK, wino_tau=0.5, wino_tau_back=0.9, return_history=True)
    commits = sum(int(h["committed"].sum()) for h in out.history)
    assert commits > 12  # some tokens were committed twice
    assert out.logprob[0].item() == pytest.approx(12 * doubter_logp(), abs=1e-4)


# ---- validation ----

@pytest.mark.parametrize("settings, match", [
    ({"sampler": "wino", "wino_tau": 0.0, "wino_tau_back": 0.9}, "wino_tau must be in"),
    ({"sampler": "wino", "wino_tau": 0.5, "wino_tau_back": 1.5}, "wino_tau_back must be in"),
    ({"sampler": "klass", "klass_conf": 0.6, "klass_kl": 0.0, "klass_history": 2}, "klass_kl must be > 0, got 0.0"),
    ({"sampler": "klass", "klass_conf": 0.6, "klass_kl": 0.01, "klass_history": 1.5}, "klass_history must be a whole number >= 1, got 1.5"),
    ({"sampler": "pc_sampler", "pc_lambda": -1, "pc_alpha": 10}, "pc_lambda must be >= 0, got -1"),
    ({"sampler": "pc_sampler", "pc_lambda": 0.25, "pc_alpha": 0}, "pc_alpha must be > 0, got 0"),
    ({"sampler": "local_leap", "leap_tau": 0.7, "leap_relaxed_tau": 0.8, "leap_radius": 2}, "leap_relaxed_tau must be <= leap_tau"),
    ({"sampler": "local_leap", "leap_tau": 0.9, "leap_relaxed_tau": 0.8, "leap_radius": -1}, "leap_radius must be a whole number >= 0"),
    ({"sampler": "wino", "wino_tau": 0.5, "wino_tau_back": 0.9, "tokens_per_step": 2}, "tokens_per_step=2 only applies"),
])
def test_bad_parameters_raise_naming_the_value(settings, match):
    with pytest.raises(ValueError, match=match):
        DecodeConfig(**settings)


@pytest.mark.parametrize("prior, sampler, match", [
    (None, "pc_sampler", "needs token_prior"),
    (torch.ones(V), "entropy", "token_prior only applies"),
    (torch.ones(2, V), "pc_sampler", "1-D real tensor"),
    (-torch.ones(V), "pc_sampler", "finite values >= 0"),
    (torch.ones(3), "pc_sampler", "token_prior has 3 entries"),
])
def test_bad_token_prior_raises(prior, sampler, match):
    params = {"pc_lambda": 0.25, "pc_alpha": 10.0} if sampler == "pc_sampler" else {}
    model = ContextDenoiser(PROMPT + GEN, V, MASK)
    with pytest.raises(ValueError, match=match):
        generate(model, canvas(0)[None], sampler=sampler, mask_id=MASK, token_prior=prior, **params)


# ---- the engine's guarantees, with revocation and history actually at work ----

RECENT = {"wino": {"wino_tau": 0.5, "wino_tau_back": 0.9}, "klass": {"klass_conf": 0.5, "klass_kl": 0.05, "klass_history": 2},
          "pc_sampler": {"pc_lambda": 0.25, "pc_alpha": 10.0, "token_prior": torch.linspace(0.01, 0.3, V)},
          "local_leap": {"leap_tau": 0.8, "leap_relaxed_tau": 0.5, "leap_radius": 2}}


@pytest.mark.parametrize("sampler", sorted(RECENT))
@pytest.mark.parametrize("temperature", [0.0, 0.8])
def test_padded_rows_decode_as_alone_and_seeds_are_bit_exact(sampler, temperature):
    model = Doubter(V, MASK) if sampler == "wino" else ContextDenoiser(PROMPT + GEN, V, MASK, seed=3)
    rows = [[1, 2, 3] + [MASK] * 10, [4, 5] + [MASK] * 6, [6] + [MASK] * 12]
    width = max(len(r) for r in rows)
    ids = torch.tensor([[0] * (width - len(r)) + r for r in rows])
    attn = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])

    def run(x, mask, seeds):
        return generate(model, x, attention_mask=mask, sampler=sampler, mask_id=MASK, temperature=temperature, block_size=8,
                        generator=[torch.Generator().manual_seed(s) for s in seeds], **RECENT[sampler])

    batch, again = run(ids, attn, [7, 8, 9]), run(ids, attn, [7, 8, 9])
    assert torch.equal(batch.sequences, again.sequences) and torch.equal(batch.logprob, again.logprob)
    for i, row in enumerate(rows):
        alone = run(torch.tensor([row]), torch.ones(1, len(row), dtype=torch.long), [7 + i])
        assert torch.equal(batch.sequences[i, width - len(row):], alone.sequences[0]) and batch.nfe[i] == alone.nfe[0]
        assert batch.logprob[i] == alone.logprob[0]
    assert not (batch.sequences == MASK).any()


def test_background_frequencies_by_hand():
    from mdlm_study.engine.recent_rules import background_frequencies

    prior = background_frequencies([[1, 1, 2], [2, 2, 0]], vocab=4)
    assert prior.tolist() == pytest.approx([1 / 6, 2 / 6, 3 / 6, 1 / 6])  # id 3 never seen: 1 / count
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        background_frequencies([[5]], vocab=4)
    with pytest.raises(ValueError, match="non-empty"):
        background_frequencies([[]], vocab=4)
