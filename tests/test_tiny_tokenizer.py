import pytest
from tokenizers import Tokenizer, models
from transformers import PreTrainedTokenizerFast

from mdlm_study.core.special_tokens import SpecialTokens
from mdlm_study.models.tiny_tokenizer import load_tokenizer


def test_round_trip_digits_newlines_and_specials(tokenizer, problems, tmp_path):
    text = problems[0].question + "\n" + problems[0].reasoning + "\n#### " + problems[0].answer
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text
    pieces = tokenizer.convert_ids_to_tokens(tokenizer(" 387\n####", add_special_tokens=False)["input_ids"])
    assert pieces == ["\u2581", "3", "8", "7", "\n", "####"]
    assert tokenizer.unk_token_id not in ids
    tokenizer.save_pretrained(tmp_path)
    again = load_tokenizer(tmp_path)
    assert again(text, add_special_tokens=False)["input_ids"] == ids
    assert SpecialTokens.from_tokenizer(again) == SpecialTokens.from_tokenizer(tokenizer)


def test_special_tokens_present(tokenizer):
    special = SpecialTokens.from_tokenizer(tokenizer)
    assert len({special.mask_id, special.eos_id, special.pad_id, special.bos_id}) == 4


def test_tokenizer_without_mask_is_rejected(tmp_path):
    bare = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"a": 0, "[UNK]": 1}, unk_token="[UNK]")), unk_token="[UNK]")
    with pytest.raises(ValueError, match="mask"):
        SpecialTokens.from_tokenizer(bare)
    bare.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="mask"):
        load_tokenizer(tmp_path)
