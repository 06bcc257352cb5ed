"""Model config validation and input checks."""

from __future__ import annotations

import pytest
import torch

from interp.errors import ConfigError, InputError
from interp.models.config import PRESETS, ModelConfig
from interp.models.gpt import GPT


def test_unknown_preset_lists_choices() -> None:
    with pytest.raises(ConfigError, match="Unknown preset 'huge'.*tiny"):
        ModelConfig.from_preset("huge")


def test_d_model_not_divisible_by_heads() -> None:
    with pytest.raises(ConfigError, match="d_model=100 is not divisible by n_heads=3"):
        ModelConfig(d_model=100, n_heads=3)


def test_unknown_norm_and_site() -> None:
    with pytest.raises(ConfigError, match="Normalization 'rms'"):
        ModelConfig(norm="rms")
    with pytest.raises(ConfigError, match="not a site"):
        ModelConfig(norm_sites={"blocks.9.ln1": "none"})


def test_presets_build_and_count_parameters() -> None:
    for name in PRESETS:
        cfg = ModelConfig.from_preset(name)
        assert cfg.d_head * cfg.n_heads == cfg.d_model
    cfg = ModelConfig.from_preset("tiny")
    model = GPT(cfg)
    assert model.num_params(non_embedding=True) == cfg.n_params()
    assert ModelConfig.from_preset("gpt2-small").n_params(include_embeddings=True) == 124_439_808


def test_prompt_longer_than_context() -> None:
    model = GPT(ModelConfig.from_preset("tiny"))
    with pytest.raises(InputError, match="longer than the context n_ctx=64"):
        model(torch.zeros(1, 65, dtype=torch.long))


def test_token_ids_outside_vocab() -> None:
    model = GPT(ModelConfig.from_preset("tiny"))
    with pytest.raises(InputError, match=r"\[0, 512\).*\[0, 600\]"):
        model(torch.tensor([[0, 600]]))


def test_causal_and_loss_matches_manual_cross_entropy() -> None:
    torch.manual_seed(0)
    model = GPT(ModelConfig.from_preset("tiny")).eval()
    x = torch.randint(0, 512, (2, 20))
    logits, loss = model(x, targets=x)
    manual = torch.nn.functional.log_softmax(logits, -1).gather(-1, x[..., None]).mean().neg()
    assert torch.allclose(loss, manual, atol=1e-6)
    x2 = x.clone()
    x2[:, 10:] = (x2[:, 10:] + 1) % 512  # changing later tokens must not change earlier logits
    assert torch.allclose(model(x2)[:, :10], logits[:, :10], atol=1e-6)
    assert not torch.allclose(model(x2)[:, 10:], logits[:, 10:], atol=1e-3)
