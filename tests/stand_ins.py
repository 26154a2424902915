"""Tiny randomly initialised stand-ins for every model family ``mdlm_study.loader`` loads.

Each builder saves a model and its tokenizer into a directory with ``save_pretrained`` so the test
loads it back through ``load_mdlm`` exactly like a real checkpoint; nothing is downloaded.

- LLaDA and Dream are remote-code models: their stand-ins ship their own modeling file and an
  ``auto_map`` in ``config.json``, so ``trust_remote_code=True`` loads them offline. The module names
  follow the real checkpoints (LLaDA ``transformer.blocks.N.{q_proj,...,ff_out}`` plus a top-level
  ``transformer.ff_out`` LM head; Dream ``model.layers.N.self_attn.q_proj``...), so LoRA targets are
  tested on the real names. LLaDA's tokenizer holds ``<|mdm_mask|>`` at 126336 but, like the real one,
  does not declare it as its mask token.
- BERT / ModernBERT come from tiny configs; ``tiny`` is the project's own model.
"""

from __future__ import annotations

import importlib.util
import json
import textwrap
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import (
    BertConfig,
    BertForMaskedLM,
    ModernBertConfig,
    ModernBertForMaskedLM,
    PreTrainedTokenizerFast,
)

WORDS = [str(d) for d in range(10)] + ["+", "-", "=", "?", ".", "is", "the", "answer", "what", "yes", "no", "a", "b", "c", "Q:", "A:"]

_COMMON = '''
import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutputWithPast


def attend(q, k, v, n_heads, mask):
    b, l, d = q.shape
    split = lambda t: t.view(b, l, n_heads, d // n_heads).transpose(1, 2)
    out = nn.functional.scaled_dot_product_attention(split(q), split(k), split(v), attn_mask=mask)
    return out.transpose(1, 2).reshape(b, l, d)
'''

LLADA_SOURCE = _COMMON + '''

class LLaDAConfig(PretrainedConfig):
    model_type = "llada"

    def __init__(self, vocab_size=126464, d_model=16, n_heads=2, n_layers=1, mlp_hidden_size=32, max_sequence_length=64, **kwargs):
        self.vocab_size, self.d_model, self.n_heads, self.n_layers = vocab_size, d_model, n_heads, n_layers
        self.mlp_hidden_size, self.max_sequence_length = mlp_hidden_size, max_sequence_length
        super().__init__(**kwargs)


class LLaDALlamaBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, h = c.d_model, c.mlp_hidden_size
        self.n_heads = c.n_heads
        self.attn_norm, self.ff_norm = nn.LayerNorm(d), nn.LayerNorm(d)
        self.q_proj, self.k_proj, self.v_proj, self.attn_out = (nn.Linear(d, d, bias=False) for _ in range(4))
        self.ff_proj, self.up_proj, self.ff_out = nn.Linear(d, h, bias=False), nn.Linear(d, h, bias=False), nn.Linear(h, d, bias=False)

    def forward(self, x, mask):
        y = self.attn_norm(x)
        x = x + self.attn_out(attend(self.q_proj(y), self.k_proj(y), self.v_proj(y), self.n_heads, mask))
        y = self.ff_norm(x)
        return x + self.ff_out(nn.functional.silu(self.ff_proj(y)) * self.up_proj(y))


class LLaDAModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(c.vocab_size, c.d_model), wpe=nn.Embedding(c.max_sequence_length, c.d_model),
            blocks=nn.ModuleList(LLaDALlamaBlock(c) for _ in range(c.n_layers)), ln_f=nn.LayerNorm(c.d_model),
            ff_out=nn.Linear(c.d_model, c.vocab_size, bias=False)))

    def forward(self, input_ids, attention_mask=None):
        t = self.transformer
        x = t.wte(input_ids) + t.wpe(torch.arange(input_ids.shape[1], device=input_ids.device))
        mask = None if attention_mask is None else attention_mask.bool()[:, None, None, :]
        for block in t.blocks:
            x = block(x, mask)
        return t.ff_out(t.ln_f(x))


class LLaDAModelLM(PreTrainedModel):
    config_class = LLaDAConfig
    base_model_prefix = "model"

    def __init__(self, config):
        super().__init__(config)
        self.model = LLaDAModel(config)
        self.post_init()

    def forward(self, input_ids, attention_mask=None, **kwargs):
        return CausalLMOutputWithPast(logits=self.model(input_ids, attention_mask))
'''

DREAM_SOURCE = _COMMON + '''

class DreamConfig(PretrainedConfig):
    model_type = "Dream"

    def __init__(self, vocab_size=64, hidden_size=16, num_attention_heads=2, num_hidden_layers=1, intermediate_size=32,
                 max_position_embeddings=64, mask_token_id=None, **kwargs):
        self.vocab_size, self.hidden_size, self.num_attention_heads = vocab_size, hidden_size, num_attention_heads
        self.num_hidden_layers, self.intermediate_size = num_hidden_layers, intermediate_size
        self.max_position_embeddings, self.mask_token_id = max_position_embeddings, mask_token_id
        super().__init__(**kwargs)


class DreamAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c.hidden_size
        self.n_heads = c.num_attention_heads
        self.q_proj, self.k_proj, self.v_proj, self.o_proj = (nn.Linear(d, d) for _ in range(4))

    def forward(self, x, mask):
        return self.o_proj(attend(self.q_proj(x), self.k_proj(x), self.v_proj(x), self.n_heads, mask))


class DreamMLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, h = c.hidden_size, c.intermediate_size
        self.gate_proj, self.up_proj, self.down_proj = nn.Linear(d, h, bias=False), nn.Linear(d, h, bias=False), nn.Linear(h, d, bias=False)

    def forward(self, x):
        return self.down_proj(nn.functional.silu(self.gate_proj(x)) * self.up_proj(x))


class DreamLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.input_layernorm, self.post_attention_layernorm = nn.LayerNorm(c.hidden_size), nn.LayerNorm(c.hidden_size)
        self.self_attn, self.mlp = DreamAttention(c), DreamMLP(c)

    def forward(self, x, mask):
        x = x + self.self_attn(self.input_layernorm(x), mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class DreamBaseModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens, self.embed_positions = nn.Embedding(c.vocab_size, c.hidden_size), nn.Embedding(c.max_position_embeddings, c.hidden_size)
        self.layers = nn.ModuleList(DreamLayer(c) for _ in range(c.num_hidden_layers))
        self.norm = nn.LayerNorm(c.hidden_size)

    def forward(self, input_ids, attention_mask, position_ids):
        if position_ids is None:
            position_ids = torch.arange(input_ids.shape[1], device=input_ids.device)[None]
        if attention_mask is not None and attention_mask.dim() != 4:
            raise ValueError("Dream expects a 4-D attention mask (or none)")
        x = self.embed_tokens(input_ids) + self.embed_positions(position_ids)
        for layer in self.layers:
            x = layer(x, attention_mask)
        return self.norm(x)


class DreamModel(PreTrainedModel):
    config_class = DreamConfig
    base_model_prefix = "model"

    def __init__(self, config):
        super().__init__(config)
        self.model = DreamBaseModel(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def forward(self, input_ids, attention_mask=None, position_ids=None, **kwargs):
        return CausalLMOutputWithPast(logits=self.lm_head(self.model(input_ids, attention_mask, position_ids)))
'''


def word_tokenizer(specials: dict[str, int], roles: dict[str, str], words=WORDS) -> PreTrainedTokenizerFast:
    """A whitespace word-level tokenizer: ``specials`` at fixed ids, ``words`` after them; ``roles``
    maps e.g. ``eos_token`` to one of the specials."""
    first = max(specials.values()) + 1 if max(specials.values()) < 1000 else 0
    used = set(specials.values())
    free = (i for i in range(first, first + 10 * len(words)) if i not in used)
    vocab = {**specials, **{w: next(free) for w in words}}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.decoder = decoders.WordPiece(prefix="##")
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", **roles)


def _save_remote(out_dir: Path, source: str, module: str, config_name: str, model_name: str, tokenizer, seed: int, **config_kwargs) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{module}.py"
    path.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(f"stand_in_{module}_{abs(hash(str(out_dir)))}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    config = getattr(mod, config_name)(**config_kwargs)
    config.auto_map = {"AutoConfig": f"{module}.{config_name}", "AutoModel": f"{module}.{model_name}"}
    config.architectures = [model_name]
    torch.manual_seed(seed)
    getattr(mod, model_name)(config).save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def save_llada(out_dir: Path, *, seed: int = 0) -> Path:
    """A LLaDA stand-in: remote code, vocabulary 126464, specials at LLaDA's ids, no declared mask."""
    specials = {"[UNK]": 0, "<|startoftext|>": 126080, "<|endoftext|>": 126081, "<|mdm_mask|>": 126336, "<|eot_id|>": 126348}
    tok = word_tokenizer(specials, {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>"})
    return _save_remote(Path(out_dir), LLADA_SOURCE, "modeling_llada", "LLaDAConfig", "LLaDAModelLM", tok, seed)


def save_dream(out_dir: Path, *, seed: int = 0) -> Path:
    """A Dream stand-in: remote code, 4-D attention mask, mask token declared by the tokenizer."""
    specials = {"[UNK]": 0, "<|endoftext|>": 1, "<|im_end|>": 2, "<|mask|>": 3, "[PAD]": 4}
    tok = word_tokenizer(specials, {"eos_token": "<|endoftext|>", "pad_token": "[PAD]", "mask_token": "<|mask|>"})
    return _save_remote(Path(out_dir), DREAM_SOURCE, "modeling_dream", "DreamConfig", "DreamModel", tok, seed,
                        vocab_size=len(tok), mask_token_id=tok.mask_token_id)


def _bert_tokenizer() -> PreTrainedTokenizerFast:
    specials = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4}
    return word_tokenizer(specials, {"pad_token": "[PAD]", "cls_token": "[CLS]", "sep_token": "[SEP]", "mask_token": "[MASK]"})


def save_bert(out_dir: Path, *, seed: int = 0, arch: str = "bert") -> Path:
    """A BERT (``arch="bert"``) or ModernBERT (``arch="modernbert"``) masked LM from a tiny config."""
    tok = _bert_tokenizer()
    common = dict(vocab_size=len(tok), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                  max_position_embeddings=64, pad_token_id=tok.pad_token_id)
    torch.manual_seed(seed)
    if arch == "modernbert":
        model = ModernBertForMaskedLM(ModernBertConfig(**common, global_attn_every_n_layers=1, local_attention=128,
                                                       cls_token_id=2, sep_token_id=3, bos_token_id=2, eos_token_id=3))
    else:
        model = BertForMaskedLM(BertConfig(**common))
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return Path(out_dir)


def save_without_mask(out_dir: Path) -> Path:
    """A BERT checkpoint whose tokenizer has no mask token (bad input for ``load_mdlm``)."""
    save_bert(out_dir)
    cfg = Path(out_dir) / "tokenizer_config.json"
    data = json.loads(cfg.read_text())
    data.pop("mask_token", None)
    cfg.write_text(json.dumps(data))
    special = Path(out_dir) / "special_tokens_map.json"
    if special.exists():
        data = json.loads(special.read_text())
        data.pop("mask_token", None)
        special.write_text(json.dumps(data))
    return Path(out_dir)


def save_tiny(out_dir: Path, tokenizer, *, seed: int = 0) -> Path:
    """The project's own tiny model (``mdlm_study.tiny_model``) for ``tokenizer``."""
    from mdlm_study.tiny_model import ModelConfig, build_model

    model = build_model(ModelConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64), tokenizer, seed=seed)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return Path(out_dir)
