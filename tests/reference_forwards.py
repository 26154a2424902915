"""Reference forwards of the real architectures, written from their definitions for the tests.

Each reads only a checkpoint's ``config.json`` and ``model.safetensors`` (never its modelling code)
and computes, in float64, the logits that the architecture defines:

- LLaDA: a Llama-style block (pre-norm RMSNorm, RoPE with ``rotate_half`` over the head dimension
  at absolute canvas positions 0..L-1, bidirectional multi-head attention, SwiGLU MLP
  ``ff_out(silu(ff_proj(x)) * up_proj(x))``), final RMSNorm, untied ``ff_out`` head; padding keys are
  masked out;
- Dream: a Qwen2 block without a causal mask (q/k/v biases, grouped-query attention, RoPE at
  position ids counted from each row's first real token), final RMSNorm, untied ``lm_head``; real
  queries see real keys only. Outputs are not shifted (the model predicts position i at output i - 1);
- tiny (the study's EuroBERT encoder): a Llama-style encoder block (pre-norm RMSNorm, no biases,
  RoPE at position ids counted from each row's first real token, bidirectional attention, gated SiLU
  MLP), final RMSNorm, ``lm_head`` tied to the embeddings; real queries see real keys only.

Padding positions' outputs are not defined by either architecture; compare real positions only.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file


def read_checkpoint(path: str | Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """``config.json`` and the weights of ``model.safetensors``, as float64."""
    path = Path(path)
    config = json.loads((path / "config.json").read_text())
    return config, {name: t.double() for name, t in load_file(str(path / "model.safetensors")).items()}


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    return weight * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)


def rope(x: torch.Tensor, positions: torch.Tensor, theta: float) -> torch.Tensor:
    """RoPE of ``x`` [B, H, L, D] at ``positions`` [B, L]: pairs (i, i + D/2) rotated by position / theta^(2i/D)."""
    dim = x.shape[-1]
    inv_freq = 1.0 / theta ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    angles = positions.double()[:, None, :, None] * inv_freq  # [B, 1, L, D/2]
    angles = torch.cat([angles, angles], dim=-1)
    half = torch.cat([-x[..., dim // 2:], x[..., :dim // 2]], dim=-1)
    return x * angles.cos() + half * angles.sin()


def attention(q, k, v, key_mask: torch.Tensor) -> torch.Tensor:
    """Softmax attention [B, H, L, D] where query rows see the keys ``key_mask`` [B, L] allows."""
    scores = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
    scores = scores.masked_fill(~key_mask[:, None, None, :], float("-inf"))
    return scores.softmax(-1) @ v


def _heads(x: torch.Tensor, n: int) -> torch.Tensor:
    batch, length, width = x.shape
    return x.view(batch, length, n, width // n).transpose(1, 2)


def _merge(x: torch.Tensor) -> torch.Tensor:
    batch, heads, length, dim = x.shape
    return x.transpose(1, 2).reshape(batch, length, heads * dim)


def llada_forward(path, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """LLaDA's logits [B, L, V] in float64."""
    config, w = read_checkpoint(path)
    mask = torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
    positions = torch.arange(input_ids.shape[1]).expand_as(input_ids)
    heads, eps, theta = config["n_heads"], config["rms_norm_eps"], config["rope_theta"]
    x = w["model.transformer.wte.weight"][input_ids]
    for i in range(config["n_layers"]):
        p = f"model.transformer.blocks.{i}."
        h = rms_norm(x, w[p + "attn_norm.weight"], eps)
        q, k, v = (_heads(h @ w[p + f"{n}_proj.weight"].T, heads) for n in "qkv")
        x = x + _merge(attention(rope(q, positions, theta), rope(k, positions, theta), v, mask)) @ w[p + "attn_out.weight"].T
        h = rms_norm(x, w[p + "ff_norm.weight"], eps)
        gate, up = h @ w[p + "ff_proj.weight"].T, h @ w[p + "up_proj.weight"].T
        x = x + (torch.nn.functional.silu(gate) * up) @ w[p + "ff_out.weight"].T
    return rms_norm(x, w["model.transformer.ln_f.weight"], eps) @ w["model.transformer.ff_out.weight"].T


def dream_forward(path, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Dream's (unshifted) logits [B, L, V] in float64."""
    config, w = read_checkpoint(path)
    mask = torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
    positions = (mask.long().cumsum(-1) - 1).clamp(min=0)
    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
    eps, theta = config["rms_norm_eps"], config["rope_theta"]
    x = w["model.embed_tokens.weight"][input_ids]
    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q, k, v = (h @ w[p + f"self_attn.{n}_proj.weight"].T + w[p + f"self_attn.{n}_proj.bias"] for n in "qkv")
        q, k, v = _heads(q, heads), _heads(k, kv_heads), _heads(v, kv_heads)
        k, v = (t.repeat_interleave(heads // kv_heads, dim=1) for t in (k, v))
        out = attention(rope(q, positions, theta), rope(k, positions, theta), v, mask)
        x = x + _merge(out) @ w[p + "self_attn.o_proj.weight"].T
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        gate, up = h @ w[p + "mlp.gate_proj.weight"].T, h @ w[p + "mlp.up_proj.weight"].T
        x = x + (torch.nn.functional.silu(gate) * up) @ w[p + "mlp.down_proj.weight"].T
    return rms_norm(x, w["model.norm.weight"], eps) @ w["lm_head.weight"].T


def tiny_forward(path, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """The study's tiny EuroBERT MDLM's logits [B, L, V] in float64."""
    config, w = read_checkpoint(path)
    if config["model_type"] != "mdlm-tiny-euro" or config["attention_bias"] or config["mlp_bias"]:
        raise ValueError(f"{path}: this reference covers the bias-free EuroBERT tiny model, not {config['model_type']}")
    mask = torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
    positions = (mask.long().cumsum(-1) - 1).clamp(min=0)
    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
    eps, theta = config["rms_norm_eps"], config["rope_parameters"]["rope_theta"]
    x = w["model.embed_tokens.weight"][input_ids]
    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q, k, v = (h @ w[p + f"self_attn.{n}_proj.weight"].T for n in "qkv")
        q, k, v = _heads(q, heads), _heads(k, kv_heads), _heads(v, kv_heads)
        k, v = (t.repeat_interleave(heads // kv_heads, dim=1) for t in (k, v))
        out = attention(rope(q, positions, theta), rope(k, positions, theta), v, mask)
        x = x + _merge(out) @ w[p + "self_attn.o_proj.weight"].T
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        gate, up = h @ w[p + "mlp.gate_proj.weight"].T, h @ w[p + "mlp.up_proj.weight"].T
        x = x + (torch.nn.functional.silu(gate) * up) @ w[p + "mlp.down_proj.weight"].T
    head = w["model.embed_tokens.weight"] if config["tie_word_embeddings"] else w["lm_head.weight"]
    return rms_norm(x, w["model.norm.weight"], eps) @ head.T


REFERENCE_FORWARDS = {"llada": llada_forward, "dream": dream_forward, "tiny": tiny_forward}
