"""GPT <-> TransformerLens <-> Hugging Face conversions compute the same function."""

from __future__ import annotations

import pytest
import torch

from interp.errors import CheckpointError, ConfigError
from interp.models.config import ModelConfig
from interp.models.convert import export_hf, from_hooked, import_hf, to_hooked
from interp.models.gpt import GPT


def _perturbed(norm: str = "layernorm", **kw) -> GPT:
    """A tiny GPT with non-trivial LN weights/biases and fixed scales, so every mapped tensor matters."""
    torch.manual_seed(0)
    gpt = GPT(ModelConfig.from_preset("tiny", norm=norm, d_mlp=96, **kw)).eval()
    with torch.no_grad():
        for p in gpt.parameters():
            p.add_(torch.randn_like(p) * 0.05)
        for name, b in gpt.named_buffers():
            b.fill_(0.5 + (hash(name) % 7) / 5)
    return gpt


TOKENS = torch.randint(0, 512, (3, 40), generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("norm", ["layernorm", "none", "fixed"])
def test_to_hooked_matches_logits(norm: str) -> None:
    gpt = _perturbed(norm)
    hooked = to_hooked(gpt)
    with torch.no_grad():
        diff = (hooked(TOKENS) - gpt(TOKENS)).abs().max().item()
    assert diff <= 1e-4
    assert (hooked.cfg.normalization_type == "LN") == (norm == "layernorm")


def test_fixed_norm_split_qk_v_scales_are_folded_separately() -> None:
    gpt = _perturbed("fixed")
    gpt.blocks[0].ln1.scale_v.fill_(0.3)  # value path differs from the query/key path
    with torch.no_grad():
        assert (to_hooked(gpt)(TOKENS) - gpt(TOKENS)).abs().max().item() <= 1e-4
        # folding the value scale into Q/K instead would change the function:
        wrong = to_hooked(gpt)
        wrong.blocks[0].attn.W_V.mul_(0.3)
        assert (wrong(TOKENS) - gpt(TOKENS)).abs().max().item() > 1e-3


def test_mixed_norms_refused() -> None:
    gpt = GPT(ModelConfig.from_preset("tiny", norm_sites={"blocks.0.ln1": "fixed"}))
    with pytest.raises(ConfigError, match="LayerNorm removal"):
        to_hooked(gpt)


def test_hooked_round_trip_is_exact() -> None:
    gpt = _perturbed()
    back = from_hooked(to_hooked(gpt))
    with torch.no_grad():
        assert torch.equal(back(TOKENS), gpt(TOKENS))


def test_hf_export_import(tmp_path) -> None:
    from transformers import GPT2LMHeadModel

    gpt = _perturbed()
    export_hf(gpt, tmp_path / "hf")
    hf = GPT2LMHeadModel.from_pretrained(tmp_path / "hf").eval()
    with torch.no_grad():
        assert (hf(TOKENS).logits - gpt(TOKENS)).abs().max().item() <= 1e-4
        assert torch.equal(import_hf(tmp_path / "hf")(TOKENS), gpt(TOKENS))
    (tmp_path / "hf" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty"):  # never writes into a directory that holds other files
        export_hf(gpt, tmp_path / "hf")
    assert (tmp_path / "hf" / "notes.txt").read_text() == "mine"
    export_hf(gpt, tmp_path / "hf", overwrite=True)
    assert not (tmp_path / "hf" / "notes.txt").exists() and (tmp_path / "hf" / "config.json").exists()


def test_hf_export_refuses_layernorm_free(tmp_path) -> None:
    with pytest.raises(ConfigError, match="LayerNorm"):
        export_hf(_perturbed("none"), tmp_path / "hf")


def test_import_hf_bad_directory(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="config.json"):
        import_hf(tmp_path)


def test_pretrained_name_offline_error(monkeypatch) -> None:
    from interp.errors import WorkbenchError
    from interp.models.convert import hooked_from_pretrained_name

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WorkbenchError, match="looks offline.*interp import --hf"):
        hooked_from_pretrained_name("gpt2")
