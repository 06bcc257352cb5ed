"""SAELens on-disk format: workbench -> SAELens and SAELens -> workbench give the same outputs, per architecture."""

from __future__ import annotations

import json

import pytest
import torch

from saes import (
    SAECheckpointError,
    SAEConfig,
    SAEConfigError,
    build_sae,
    build_transcoder,
    from_saelens,
    load_released,
    load_sae,
    save_sae,
    to_saelens,
)

sae_lens = pytest.importorskip("sae_lens")

D_IN, D_SAE = 12, 40
SAE_CASES = {
    "standard": {}, "topk": {"k": 5}, "batchtopk": {"k": 5}, "jumprelu": {}, "gated": {},
    "matryoshka_batchtopk": {"k": 5, "matryoshka_widths": [10, 40]},
}
TRANSCODER_CASES = {"standard": False, "jumprelu": False, "batchtopk": False}  # arch -> skip


def _perturbed(sae):
    """Random non-zero values in every parameter and buffer, so a wrongly mapped tensor changes outputs."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, t in list(sae.named_parameters()) + list(sae.named_buffers()):
            t.copy_(0.3 * torch.randn(t.shape, generator=g) + (0.2 if "threshold" in name else 0.0))
    return sae


def _x(d=D_IN):
    return torch.randn(64, d, generator=torch.Generator().manual_seed(2))


def _check_same(ours, theirs, x):
    with torch.no_grad():
        feats = ours.encode(x)
        assert (feats > 0).any(), "the test input must fire some features"
        torch.testing.assert_close(theirs.encode(x), feats, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(theirs.decode(feats), ours.decode(feats), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(theirs(x), ours(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("arch", sorted(SAE_CASES))
def test_sae_saved_by_workbench_loads_in_saelens(arch, tmp_path):
    sae = _perturbed(build_sae(SAEConfig(architecture=arch, d_in=D_IN, d_sae=D_SAE, hook_name="blocks.0.hook_resid_post",
                                         metadata={"model_hash": "abc123"}, **SAE_CASES[arch])))
    save_sae(sae, tmp_path / "sae")
    theirs = sae_lens.SAE.load_from_disk(str(tmp_path / "sae"))
    _check_same(sae, theirs, _x())
    # and back: our loader restores our own architecture (not SAELens' inference class) and metadata
    again = load_sae(tmp_path / "sae")
    assert type(again) is type(sae) and again.cfg.metadata["model_hash"] == "abc123"
    _check_same(again, theirs, _x())
    cfg = json.loads((tmp_path / "sae" / "cfg.json").read_text())
    assert cfg["metadata"]["hook_name"] == "blocks.0.hook_resid_post"


@pytest.mark.parametrize("arch,skip", [("standard", False), ("standard", True), ("jumprelu", False),
                                       ("jumprelu", True), ("batchtopk", True)])
def test_transcoder_round_trip(arch, skip, tmp_path):
    tc = _perturbed(build_transcoder(arch, d_in=D_IN, d_sae=D_SAE, d_out=D_IN + 4, layer=1, skip=skip,
                                     **({"k": 5} if arch == "batchtopk" else {})))
    save_sae(tc, tmp_path / "tc")
    theirs = sae_lens.SAE.load_from_disk(str(tmp_path / "tc"))
    assert type(theirs).__name__.lower().endswith("transcoder")
    _check_same(tc, theirs, _x())
    assert load_sae(tmp_path / "tc").cfg.hook_name_out == "blocks.1.hook_mlp_out"


def _saelens_sae(arch: str):
    from sae_lens import (
        GatedSAE,
        GatedSAEConfig,
        JumpReLUSAE,
        JumpReLUSAEConfig,
        StandardSAE,
        StandardSAEConfig,
        TopKSAE,
        TopKSAEConfig,
    )

    classes = {"standard": (StandardSAE, StandardSAEConfig), "topk": (TopKSAE, TopKSAEConfig),
               "jumprelu": (JumpReLUSAE, JumpReLUSAEConfig), "gated": (GatedSAE, GatedSAEConfig)}
    cls, cfg_cls = classes[arch]
    extra = {"k": 5} if arch == "topk" else {}
    return _perturbed(cls(cfg_cls(d_in=D_IN, d_sae=D_SAE, dtype="float32", device="cpu", **extra)))


@pytest.mark.parametrize("arch", ["standard", "topk", "jumprelu", "gated"])
def test_directory_written_by_saelens_loads(arch, tmp_path):
    theirs = _saelens_sae(arch)
    theirs.save_model(str(tmp_path / "theirs"))
    ours = load_sae(tmp_path / "theirs")
    assert ours.cfg.architecture == arch
    _check_same(ours, theirs, _x())
    _check_same(from_saelens(theirs), theirs, _x())


def test_saelens_transcoder_directory_loads(tmp_path):
    from sae_lens import SkipTranscoder, SkipTranscoderConfig

    theirs = _perturbed(SkipTranscoder(SkipTranscoderConfig(d_in=D_IN, d_sae=D_SAE, d_out=D_IN + 2, dtype="float32",
                                                            device="cpu", apply_b_dec_to_input=False)))
    theirs.save_model(str(tmp_path / "t"))
    ours = load_sae(tmp_path / "t")
    assert ours.cfg.skip and ours.cfg.d_out == D_IN + 2
    _check_same(ours, theirs, _x())


def test_to_saelens_matches():
    sae = _perturbed(build_sae(SAEConfig(architecture="batchtopk", d_in=D_IN, d_sae=D_SAE, k=5)))
    _check_same(sae, to_saelens(sae), _x())


def test_missing_tensor_names_tensor_and_file(tmp_path):
    from safetensors.torch import load_file, save_file

    sae = build_sae(SAEConfig(architecture="jumprelu", d_in=D_IN, d_sae=D_SAE))
    save_sae(sae, tmp_path / "s")
    weights = tmp_path / "s" / "sae_weights.safetensors"
    state = load_file(str(weights))
    del state["threshold"]
    save_file(state, str(weights))
    with pytest.raises(SAECheckpointError, match=r"sae_weights\.safetensors has no tensor 'threshold'"):
        load_sae(tmp_path / "s")


def test_unknown_architecture_lists_known(tmp_path):
    sae = build_sae(SAEConfig(architecture="standard", d_in=D_IN, d_sae=D_SAE))
    save_sae(sae, tmp_path / "s")
    cfg_path = tmp_path / "s" / "cfg.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["architecture"] = "mystery"
    del cfg["metadata"]["workbench"]
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(SAEConfigError, match="mystery.*jumprelu"):
        load_sae(tmp_path / "s")
    with pytest.raises(SAEConfigError, match="Unknown SAE architecture 'mystery'.*topk"):
        SAEConfig(architecture="mystery", d_in=4, d_sae=8)


def test_not_a_directory_and_offline_release(tmp_path, monkeypatch):
    with pytest.raises(SAECheckpointError, match="cfg.json"):
        load_sae(tmp_path)

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(sae_lens.SAE, "from_pretrained", offline)
    with pytest.raises(SAECheckpointError, match=r"offline.*load_sae\(dir\)"):
        load_released("gpt2-small-res-jb", "blocks.8.hook_resid_pre")


@pytest.mark.parametrize("arch", ["standard", "topk"])
def test_sae_trained_by_saelens_runner_loads(arch, tiny_run_dir, tiny_data_dir, tmp_path):
    """SAELens' own training runner, offline (our tiny model and tokens passed in), writes a directory that
    ``load_sae`` reads into an SAE with the same outputs and the runner's hook."""
    import datasets
    from sae_lens import SAE as SAELensSAE
    from sae_lens import LanguageModelSAERunnerConfig, LanguageModelSAETrainingRunner, LoggingConfig
    from sae_lens.saes.standard_sae import StandardTrainingSAEConfig
    from sae_lens.saes.topk_sae import TopKTrainingSAEConfig

    import interp
    from interp.data.shards import TokenShards

    model = interp.load(tiny_run_dir, device="cpu")
    ctx = 32
    tokens = TokenShards(tiny_data_dir / "val").batch(range(0, 256 * ctx, ctx), ctx)
    dataset = datasets.Dataset.from_dict({"input_ids": tokens.tolist()})
    d = model.cfg.d_model
    sae_cfg = (TopKTrainingSAEConfig(d_in=d, d_sae=4 * d, k=4) if arch == "topk"
               else StandardTrainingSAEConfig(d_in=d, d_sae=4 * d, l1_coefficient=1.0))
    cfg = LanguageModelSAERunnerConfig(
        sae=sae_cfg, model_name="tiny", hook_name="blocks.1.hook_resid_pre", dataset_path="unused",
        is_dataset_tokenized=True, streaming=False, context_size=ctx, prepend_bos=False, training_tokens=4096,
        train_batch_size_tokens=256, store_batch_size_prompts=16, n_batches_in_buffer=8, device="cpu",
        output_path=str(tmp_path / "out"), checkpoint_path=str(tmp_path / "ckpt"), dtype="float32",
        logger=LoggingConfig(log_to_wandb=False))
    LanguageModelSAETrainingRunner(cfg, override_dataset=dataset, override_model=model).run()
    ours = load_sae(tmp_path / "out")
    theirs = SAELensSAE.load_from_disk(str(tmp_path / "out"))
    assert ours.cfg.architecture == arch and ours.cfg.hook_name == "blocks.1.hook_resid_pre"
    _check_same(ours, theirs, torch.randn(16, d, generator=torch.Generator().manual_seed(0)) * 3)
