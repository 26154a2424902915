"""Remote-code checkpoints (LLaDA, Dream) under transformers 5, loaded so that every tensor is right.

Two concerns, one per section:

- **transformers 5 compatibility**: remote code written for transformers 4 (LLaDA's model card asks
  for 4.38.2, Dream's for 4.46.2) meets six changes of transformers 5; each patch answers one, acts
  only on a class or config that needs it, and is named in ``LoadedMDLM.compat`` when it acted;
- **tensors the checkpoint does not hold**: transformers 5 builds a model on the meta device and
  fills every non-persistent buffer (rotary frequencies, ...) with ``torch.empty`` memory, expecting
  the model's ``_init_weights`` to recompute it. Remote ``_init_weights`` written for transformers 4
  (Dream's) does not, so :func:`rebuild_unsaved_tensors` recomputes them exactly as the architecture's
  own ``__init__`` does, and :func:`refuse_unfinished` refuses a model with a tensor that is still on the
  meta device or holds a non-finite value, naming it.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Iterator

import torch
from transformers import AutoConfig, GenerationConfig, PretrainedConfig
from transformers.dynamic_module_utils import get_class_from_dynamic_module
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

# --- transformers 5 compatibility -----------------------------------------------------------------
# Remote code written for transformers 4 meets six changes of transformers 5 (LLaDA: post_init,
# tie_weights, use_cache; Dream: default RoPE, GenerationConfig.validate and from_model_config). Each
# function below answers one, only where the class or config shows the old form, and reports whether
# it acted; load_remote applies them before from_pretrained builds the model.

_ROPE_DEFAULT_BUILTIN = "default" in ROPE_INIT_FUNCTIONS


def _default_rope_parameters(config=None, device=None, seq_len=None, **rope_kwargs) -> tuple[torch.Tensor, float]:
    """transformers 4.46's ``_compute_default_rope_parameters``: ``inv_freq = 1 / theta^(2i/d)`` over
    the (partially) rotated head dimension, attention scaling 1.0."""
    if config is not None:
        rope = getattr(config, "rope_parameters", None) or {}
        base = getattr(config, "rope_theta", None) or rope.get("rope_theta", 10000.0)
        partial = getattr(config, "partial_rotary_factor", None) or rope.get("partial_rotary_factor", 1.0)
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        dim = int(head_dim * partial)
    else:
        base, dim = rope_kwargs["base"], rope_kwargs["dim"]
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float().to(device) / dim))
    return inv_freq, 1.0


def patch_default_rope(module) -> bool:
    """transformers 5 dropped ``"default"`` from ``ROPE_INIT_FUNCTIONS`` (each model now computes its
    plain RoPE itself); Dream's ``DreamRotaryEmbedding`` still looks it up (``KeyError: 'default'``).
    When ``module`` uses the table and the installed transformers lacks the entry, registers 4.46's
    function under ``"default"`` (other entries and models are untouched)."""
    if _ROPE_DEFAULT_BUILTIN or getattr(module, "ROPE_INIT_FUNCTIONS", None) is not ROPE_INIT_FUNCTIONS:
        return False
    ROPE_INIT_FUNCTIONS.setdefault("default", _default_rope_parameters)
    return True


def _accepts(func, keyword: str) -> bool:
    """Whether ``func`` takes ``keyword`` (by name or through ``**kwargs``)."""
    params = inspect.signature(func, follow_wrapped=False).parameters
    return keyword in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _mark(cls: type, patch: str) -> bool:
    """Record on ``cls`` itself (not its subclasses) that ``patch`` was applied; returns True."""
    cls._mdlm_compat = cls.__dict__.get("_mdlm_compat", ()) + (patch,)
    return True


def _marked(cls: type, patch: str) -> bool:
    return patch in cls.__dict__.get("_mdlm_compat", ())


def patch_post_init(cls: type) -> None:
    """transformers 5 requires ``post_init()`` at the end of a model's ``__init__``: it sets
    ``all_tied_weights_keys`` (and the other per-model sets) that ``from_pretrained`` reads. LLaDA's
    ``LLaDAModelLM.__init__`` never calls it (``'LLaDAModelLM' object has no attribute
    'all_tied_weights_keys'``). Wraps ``cls.__init__`` to call it when the new instance lacks that
    attribute (and then sets ``_mdlm_post_init_added`` on it), so classes that call it themselves
    (Dream) run unchanged."""
    if _marked(cls, "post_init"):
        return
    original = cls.__init__

    @functools.wraps(original)
    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        if not hasattr(self, "all_tied_weights_keys"):
            self._mdlm_post_init_added = True
            self.post_init()

    cls.__init__ = __init__
    _mark(cls, "post_init")


def patch_tie_weights(cls: type) -> bool:
    """transformers 5 calls ``tie_weights(missing_keys=..., recompute_mapping=...)``; LLaDA overrides
    it as ``tie_weights(self)`` (``unexpected keyword argument 'recompute_mapping'``). Replaces an
    override that takes neither keyword by one that accepts and ignores them."""
    if _marked(cls, "tie_weights"):
        return True
    original = cls.tie_weights
    if _accepts(original, "recompute_mapping"):
        return False

    @functools.wraps(original)
    def tie_weights(self, missing_keys=None, recompute_mapping=True, **kwargs):
        return original(self)

    cls.tie_weights = tie_weights
    return _mark(cls, "tie_weights")


def patch_use_cache(config: PretrainedConfig, config_dict: dict) -> bool:
    """transformers 5 treats ``use_cache`` as a generation parameter and drops it from the kwargs that
    ``PretrainedConfig.__init__`` stores; LLaDA's config passes it there and its ``forward`` reads
    ``self.config.use_cache`` (``'LLaDAConfig' object has no attribute 'use_cache'``). Sets it from
    ``config.json`` (default False, LLaDA's default) when the config lacks it."""
    if hasattr(config, "use_cache"):
        return False
    config.use_cache = bool(config_dict.get("use_cache", False))
    return True


def _generation_config_subclasses(module) -> list[type]:
    """The ``GenerationConfig`` subclasses in a remote module's namespace (Dream's modelling file
    imports ``DreamGenerationConfig``)."""
    return [obj for obj in vars(module).values()
            if isinstance(obj, type) and issubclass(obj, GenerationConfig) and obj is not GenerationConfig]


def patch_generation_validate(module) -> bool:
    """transformers 5's ``GenerationConfig.__init__`` and ``update`` call ``self.validate(
    user_set_attributes=...)`` (and ``strict=``); Dream's ``DreamGenerationConfig.validate(self,
    is_init=False)`` takes neither. Wraps each such ``GenerationConfig`` subclass that ``module`` uses so
    its ``validate`` drops the keywords it does not declare."""
    acted = False
    for cls in _generation_config_subclasses(module):
        if _marked(cls, "generation_validate"):
            acted = True
            continue
        original = cls.validate
        if _accepts(original, "user_set_attributes"):
            continue
        declared = tuple(inspect.signature(original).parameters)

        @functools.wraps(original)
        def validate(self, *args, _original=original, _declared=declared, **kwargs):
            return _original(self, *args, **{k: v for k, v in kwargs.items() if k in _declared})

        cls.validate = validate
        acted = _mark(cls, "generation_validate")
    return acted


def _from_model_config_446(cls, model_config) -> GenerationConfig:
    """transformers 4.46's ``GenerationConfig.from_model_config`` for a config without decoder
    sub-configs: the model config's non-None entries through ``cls.from_dict``."""
    config_dict = dict(model_config) if isinstance(model_config, dict) else model_config.to_dict()
    config_dict.pop("_from_model_config", None)
    config_dict = {key: value for key, value in config_dict.items() if value is not None}
    generation_config = cls.from_dict(config_dict, return_unused_kwargs=False, _from_model_config=True)
    generation_config._original_object_hash = hash(generation_config)
    return generation_config


def patch_generation_from_model_config(module) -> bool:
    """transformers 5's ``GenerationConfig.from_model_config`` compares every attribute of the new
    config with a plain ``GenerationConfig()``; Dream's ``diffusion_generate`` calls it on
    ``DreamGenerationConfig``, whose diffusion attributes a plain one lacks (``'GenerationConfig'
    object has no attribute 'eps'``). For each such subclass that ``module`` uses, restores 4.46's
    ``from_model_config``, which compared attributes only for decoder sub-configs. Run after
    :func:`patch_generation_validate` (it builds one instance of each subclass)."""
    acted = False
    plain = set(GenerationConfig().to_dict())
    for cls in _generation_config_subclasses(module):
        if _marked(cls, "generation_from_model_config"):
            acted = True
        elif set(cls().to_dict()) - plain:
            cls.from_model_config = classmethod(_from_model_config_446)
            acted = _mark(cls, "generation_from_model_config")
    return acted


def _remote_model_class(name: str, config_dict: dict) -> type:
    """The class ``AutoModel`` builds for a remote-code checkpoint (``auto_map["AutoModel"]``)."""
    auto_map = config_dict.get("auto_map") or {}
    reference = auto_map.get("AutoModel") or auto_map.get("AutoModelForCausalLM")
    if reference is None:
        raise ValueError(f"{name!r}: config.json's auto_map has no AutoModel entry ({sorted(auto_map)})")
    return get_class_from_dynamic_module(reference, name)


def load_remote(name: str, config_dict: dict, dtype: torch.dtype | None) -> tuple[torch.nn.Module, tuple[str, ...]]:
    """A remote-code model loaded under transformers 5, and the names of the patches that acted."""
    config = AutoConfig.from_pretrained(name, trust_remote_code=True)
    model_class = _remote_model_class(name, config_dict)
    module = sys.modules[model_class.__module__]
    acted = {"default_rope": patch_default_rope(module), "use_cache": patch_use_cache(config, config_dict),
             "tie_weights": patch_tie_weights(model_class), "generation_validate": patch_generation_validate(module),
             "generation_from_model_config": patch_generation_from_model_config(module)}
    patch_post_init(model_class)
    model = model_class.from_pretrained(name, config=config, dtype=dtype)
    acted["post_init"] = getattr(model, "_mdlm_post_init_added", False)
    return model, tuple(patch for patch, done in acted.items() if done)


# --- tensors the checkpoint does not hold -----------------------------------------------------------

def _non_persistent_buffers(model: torch.nn.Module) -> Iterator[tuple[str, torch.nn.Module, str]]:
    """``(module path, module, buffer name)`` of every buffer that ``state_dict`` (so the checkpoint) omits."""
    for path, module in model.named_modules():
        for buffer_name in sorted(module._non_persistent_buffers_set):
            if module._buffers.get(buffer_name) is not None:
                yield path, module, buffer_name


def reference_skeleton(model: torch.nn.Module) -> torch.nn.Module:
    """``type(model)(model.config)`` built the way transformers 4 built it, with the dtype the model was
    loaded in as default dtype, but with every parameter on the meta device (no weight memory): its
    buffers are what the architecture's ``__init__`` computes."""
    from accelerate import init_empty_weights  # deferred: only loads of remote or hub models need it

    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.get_default_dtype())
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with init_empty_weights(include_buffers=False), torch.device("cpu"):
            return type(model)(model.config)
    finally:
        torch.set_default_dtype(previous)


def _alias_of(module: torch.nn.Module, tensor: torch.Tensor) -> str | None:
    """The name of ``module``'s buffer that ``tensor`` is (Dream's ``original_inv_freq`` is its ``inv_freq``)."""
    return next((name for name, buffer in module._buffers.items() if buffer is tensor), None)


def _rebuild_tensor_attributes(module: torch.nn.Module, reference: torch.nn.Module) -> list[str]:
    """Plain tensor attributes left on the meta device, taken from ``reference`` (aliases of a buffer
    alias the rebuilt buffer again). Returns their names."""
    rebuilt = []
    for attr, value in list(vars(module).items()):
        if isinstance(value, torch.Tensor) and value.is_meta and isinstance(getattr(reference, attr, None), torch.Tensor):
            alias = _alias_of(reference, getattr(reference, attr))
            device = next(iter(module._buffers.values()), torch.empty(0)).device
            setattr(module, attr, module._buffers[alias] if alias else getattr(reference, attr).to(device))
            rebuilt.append(attr)
    return rebuilt


@torch.no_grad()
def rebuild_unsaved_tensors(model: torch.nn.Module) -> list[str]:
    """Recompute every non-persistent buffer (and tensor attribute left on the meta device) exactly as
    the architecture's own ``__init__`` computes it (:func:`reference_skeleton`), in place, keeping each
    buffer's dtype and device. Returns the dotted names rebuilt."""
    reference = dict(reference_skeleton(model).named_modules())
    rebuilt = []
    for path, module, buffer_name in list(_non_persistent_buffers(model)):
        value = reference[path]._buffers[buffer_name]
        buffer = module._buffers[buffer_name]
        if buffer.is_meta:
            module._buffers[buffer_name] = value.to(buffer.dtype)
        else:
            buffer.copy_(value)
        rebuilt.append(f"{path}.{buffer_name}".lstrip("."))
    for path, module in model.named_modules():
        rebuilt += [f"{path}.{attr}".lstrip(".") for attr in _rebuild_tensor_attributes(module, reference[path])]
    return rebuilt


def _all_finite(tensor: torch.Tensor, chunk_elements: int = 2**24) -> bool:
    """Whether every value of a floating tensor is finite, checked in chunks (no full-size bool copy)."""
    flat = tensor.detach().reshape(-1)
    return all(bool(torch.isfinite(flat[i:i + chunk_elements]).all()) for i in range(0, flat.numel(), chunk_elements))


def refuse_unfinished(model: torch.nn.Module) -> None:
    """``ValueError`` naming the first parameter or buffer that is still on the meta device (never
    loaded nor computed) or holds a NaN or an infinity (a corrupt checkpoint, or uninitialised memory)."""
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        if tensor.is_meta:
            raise ValueError(f"{name}: the checkpoint does not hold this tensor and the architecture did not compute it")
        if tensor.is_floating_point() and not _all_finite(tensor):
            raise ValueError(f"{name} holds non-finite values (NaN or inf): a corrupt checkpoint or uninitialised memory")
