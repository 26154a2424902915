"""Length buckets for models that ignore the attention mask: decoding padded rows in buckets equals
decoding each row alone (the toy model below attends to its padding, as the first LLaDA release does)."""

import pytest
import torch

from mdlm_study.engine import generate
from mdlm_study.engine.batching import (
    BucketedDenoiser,
    bucket_batches,
    inverse_permutation,
    restore_order,
    row_lengths,
)

VOCAB, MASK, PAD = 23, 22, 0


class MaskBlindToy(torch.nn.Module):
    """Logits at each position from a hash of the position, its token and the sum of EVERY token of the
    row, padding included; ``attention_mask`` is accepted and ignored."""

    def __init__(self):
        super().__init__()
        self.table = torch.nn.Parameter(torch.randn(64, VOCAB, generator=torch.Generator().manual_seed(0)) * 3)
        self.calls = 0

    def forward(self, input_ids, attention_mask=None):
        self.calls += 1
        width = input_ids.shape[1]
        context = input_ids.sum(1, keepdim=True)
        key = (input_ids * 7 + torch.arange(width) * 3 + context * 5) % 64
        return self.table[key]


def left_pad(rows):
    width = max(map(len, rows))
    ids = torch.full((len(rows), width), PAD)
    attn = torch.zeros_like(ids)
    for i, row in enumerate(rows):
        ids[i, width - len(row):] = torch.tensor(row)
        attn[i, width - len(row):] = 1
    return ids, attn


ROWS = [[3, 4, 5] + [MASK] * 4, [6] + [MASK] * 3, [7, 8, 9] + [MASK] * 4, [1, 2] + [MASK] * 5, [10] + [MASK] * 3]


def test_bucket_batches_groups_by_exact_length_and_restores_order():
    lengths = [len(r) for r in ROWS]  # 7, 4, 7, 7, 4
    assert bucket_batches(lengths, 8) == [[0, 2, 3], [1, 4]]
    batches = bucket_batches(lengths, 2)
    assert batches == [[0, 2], [3], [1, 4]]
    assert all(len({lengths[i] for i in b}) == 1 for b in batches)
    outputs = [f"row{i}" for b in batches for i in b]
    assert restore_order(batches, outputs) == [f"row{i}" for i in range(len(ROWS))]
    stacked = torch.tensor([i for b in batches for i in b])
    assert stacked[inverse_permutation(batches)].tolist() == list(range(len(ROWS)))


@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
def test_bucket_batches_refuses_a_bad_batch_size(bad):
    with pytest.raises(ValueError, match="batch_size"):
        bucket_batches([1, 2], bad)


def test_restore_order_refuses_mismatches():
    with pytest.raises(ValueError, match="3 outputs for 2"):
        restore_order([[0, 1]], [1, 2, 3])
    with pytest.raises(ValueError, match="exactly once"):
        restore_order([[0, 0]], [1, 2])


@pytest.mark.parametrize("sampler", ["entropy", "confidence", "l2r"])
def test_decoding_padded_rows_in_buckets_equals_decoding_each_row_alone(sampler):
    model = MaskBlindToy()
    ids, attn = left_pad(ROWS)
    alone = [generate(model, torch.tensor([row]), sampler=sampler, mask_id=MASK).sequences[0].tolist() for row in ROWS]
    padded = generate(model, ids, sampler=sampler, mask_id=MASK, attention_mask=attn).sequences
    assert any(padded[i, -len(r):].tolist() != alone[i] for i, r in enumerate(ROWS))  # the toy does see its padding

    # 1. the decode path batches by bucket (no padding in any batch) and restores the order
    batches = bucket_batches(row_lengths(attn), 2)
    outs = []
    for batch in batches:
        sub_ids, sub_attn = left_pad([ROWS[i] for i in batch])
        assert bool(sub_attn.all())
        outs += generate(model, sub_ids, sampler=sampler, mask_id=MASK, attention_mask=sub_attn).sequences.tolist()
    assert restore_order(batches, outs) == alone

    # 2. or the denoiser itself runs one unpadded forward pass per bucket of a padded batch
    model.calls = 0
    bucketed = generate(BucketedDenoiser(model), ids, sampler=sampler, mask_id=MASK, attention_mask=attn)
    assert [bucketed.sequences[i, -len(r):].tolist() for i, r in enumerate(ROWS)] == alone
    assert int(bucketed.nfe.max()) < model.calls <= 2 * int(bucketed.nfe.max())  # two lengths: at most two calls a step


def test_bucketed_denoiser_passes_unpadded_batches_through_and_refuses_right_padding():
    model = MaskBlindToy()
    ids = torch.tensor([[1, 2, MASK], [3, 4, MASK]])
    plain = model(ids)
    assert torch.equal(BucketedDenoiser(model)(ids, attention_mask=torch.ones_like(ids)).logits, plain)
    with pytest.raises(ValueError, match="left-padded"):
        BucketedDenoiser(model)(ids, attention_mask=torch.tensor([[1, 1, 0], [1, 1, 1]]))


@pytest.mark.parametrize("sampler", ["entropy", "wino"])
def test_history_merged_over_batches_has_every_key_of_one_batch(sampler):
    """decode_rows in batches of 2 returns one history record per step with the same keys as a single
    ``generate`` call (a rule that revokes tokens adds ``revoked``; every merged record carries it)."""
    from mdlm_study.engine import RULES, DecodeConfig
    from mdlm_study.engine.decoding import decode_rows

    ids, attn = left_pad(ROWS)
    config = DecodeConfig(sampler, **RULES[sampler].example_params())
    one = generate(MaskBlindToy(), ids, attention_mask=attn, mask_id=MASK, config=config, return_history=True)
    merged = decode_rows(MaskBlindToy(), ids, attn, config, mask_id=MASK, batch_size=2, return_history=True)
    assert merged.history and all(set(record) >= set(one.history[0]) for record in merged.history)
    committed = torch.stack([r["committed"] for r in merged.history]).sum(0) - torch.stack([r["revoked"] for r in merged.history]).sum(0)
    assert (committed == (ids == MASK).long()).all()  # every mask committed once for good, whatever was revoked on the way
