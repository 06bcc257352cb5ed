"""One home for SAE config facts: the registry's classes declare each architecture's family facts, the configs
ask them, and the training config guards reject settings that cannot train (without building a model)."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest
import torch

from saes import SAEConfig, architecture_class, build_sae, registered
from saes.errors import SAEConfigError
from saes.format import saelens_architecture
from saes.train_config import SAESpec, SAETrainConfig, resume_differences

SAES_DIR = Path(__file__).resolve().parents[1] / "saes"


def _config(name: str, **kw) -> SAEConfig:
    return SAEConfig(architecture=name, d_in=6, d_sae=12, k=3, **kw)


@pytest.mark.parametrize("name", registered())
def test_every_architecture_family_fact_comes_from_its_registered_class(name: str) -> None:
    """Each fact a class declares is what the config, the loss and the SAELens format actually do."""
    arch = architecture_class(name)
    assert arch.architecture == name
    # needs_k: the config demands k exactly for these, and drops it for the others.
    assert _config(name).k == (3 if arch.needs_k else None)
    if arch.needs_k:
        with pytest.raises(SAEConfigError, match="needs k"):
            SAEConfig(architecture=name, d_in=6, d_sae=12)
    else:
        SAEConfig(architecture=name, d_in=6, d_sae=12)
    # nested_widths: the config fills in the architecture's default prefix widths.
    assert _config(name).matryoshka_widths == (arch.default_widths(12) if arch.nested_widths else [])
    # uses_l1 / uses_l0 / nested_widths / uses_aux_k: the loss terms the SAE trains with.
    x, dead = torch.randn(16, 6, generator=torch.Generator().manual_seed(0)), torch.ones(12, dtype=torch.bool)

    def loss_parts(**kw) -> dict[str, float]:
        torch.manual_seed(0)
        return {k: float(v.detach()) for k, v in build_sae(_config(name, **kw)).training_loss(x, dead_mask=dead).parts.items()}

    parts = loss_parts()
    assert ("l1" in parts) == arch.uses_l1 and ("l0_penalty" in parts) == arch.uses_l0
    # the trainer logs the parts beside its own metrics: a part named like one would overwrite it (JumpReLU's L0
    # penalty once replaced the logged active-feature count)
    assert not set(parts) & {"loss", "fvu", "l0", "dead"}
    assert ("prefix_mse" in parts) == arch.nested_widths
    assert (parts.get("aux", 0) != loss_parts(aux_coefficient=0.0).get("aux", 0)) == arch.uses_aux_k
    # scalar_threshold and saelens_name: what the SAELens format writes.
    sae = build_sae(_config(name))
    assert (getattr(sae, "threshold", torch.zeros(1)).ndim == 0) == arch.scalar_threshold
    assert saelens_architecture(sae.cfg) == arch.saelens_name


def _compared_names(path: Path) -> list[str]:
    """Registered names that code in ``path`` compares something with (``x == "topk"``, ``x in ("topk", ...)``),
    except comparisons of SAELens' own architecture names (a variable named ``saelens_*``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Compare) and "saelens" not in ast.unparse(node):
            for side in [node.left, *node.comparators]:
                items = side.elts if isinstance(side, ast.Tuple | ast.List | ast.Set) else [side]
                found += [i.value for i in items if isinstance(i, ast.Constant) and i.value in registered()]
    return found


def test_no_module_keeps_its_own_list_of_architecture_names() -> None:
    offenders = {p.name: names for p in sorted(SAES_DIR.glob("*.py")) if (names := _compared_names(p))}
    assert offenders == {}, f"ask saes.registry.architecture_class(name).<fact> instead: {offenders}"


def test_config_and_registry_do_not_import_the_architectures() -> None:
    """The old cycle: config imported the registry in base.py, which imported config (type-only imports aside)."""
    for module in ("config.py", "registry.py", "base.py"):
        tree = ast.parse((SAES_DIR / module).read_text())
        for node in ast.walk(tree):  # drop `if TYPE_CHECKING:` blocks
            if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
                node.body = []
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        if module == "base.py":
            assert "saes.config" not in imported
            continue
        assert not imported & {"saes.base", "saes.architectures", *(f"saes.{n}" for n in ("topk", "relu"))}, module


def test_per_sae_fields_are_declared_once() -> None:
    """SAETrainConfig reuses SAESpec's fields (hence the same flags), SAESpec and SAEConfig share SAEHyperparams."""
    spec = {f.name: f for f in dataclasses.fields(SAESpec)}
    train = {f.name: f for f in dataclasses.fields(SAETrainConfig)}
    assert set(spec) <= set(train)
    redeclared = sorted(n for n in spec if train[n].default != spec[n].default)
    assert redeclared == ["hook", "lr"]  # the flags' default hook; the run's lr (a spec's 0 means "the run's")
    shared = {f.name for f in dataclasses.fields(SAEConfig)} & set(spec)
    assert {"l1_coefficient", "aux_k", "matryoshka_widths", "skip"} <= shared
    cfg = SAESpec(hook="h", architecture="standard", l1_coefficient=0.25, aux_coefficient=0.5, d_sae=10).sae_config(
        4, 4, {})
    assert (cfg.l1_coefficient, cfg.aux_coefficient, cfg.d_sae, cfg.hook_name) == (0.25, 0.5, 10, "h")


def test_readme_example_takes_spec_objects() -> None:
    cfg = SAETrainConfig(run_dir="r", out_dir="o", saes=[
        SAESpec(hook="blocks.1.hook_resid_pre", architecture="topk", k=32, expansion=16),
        SAESpec(hook="blocks.0.ln2.hook_normalized", hook_out="blocks.0.hook_mlp_out", architecture="topk", k=32)])
    assert [s.label for s in cfg.specs()] == ["topk-blocks.1.hook_resid_pre",
                                              "topk-blocks.0.ln2.hook_normalized-to-blocks.0.hook_mlp_out"]
    assert cfg.to_dict()["saes"][0]["k"] == 32  # JSON-able for train_config.json


@pytest.mark.parametrize("bad,match", [
    ({"lr": 0.0}, "lr=0.0 must be > 0"), ({"lr": -1e-3}, "lr=-0.001 must be > 0"),
    ({"normalize_activations": "layer_norm"}, "normalize_activations='layer_norm'"),
    ({"ckpt_interval": 0}, "ckpt_interval=0 must be positive"), ({"log_interval": 0}, "log_interval=0"),
    ({"batch_size": 0}, "batch_size=0"), ({"decay_start": 1.5}, "decay_start=1.5"),
    ({"architecture": "topkk"}, "Unknown SAE architecture 'topkk'"), ({"k": 0}, "needs k >= 1"), ({"saes": [{"hook": "h", "k": None}]}, "needs k >= 1"),
    ({"saes": [{"hook": "h", "lr": -1.0}]}, "lr=-1.0"), ({"saes": [{"hook": "h", "kk": 3}]}, r"Unknown SAE field.*kk"),
    ({"resume": True, "overwrite": True}, "Choose one of --resume"),
])
def test_train_config_rejects_settings_that_cannot_train(bad: dict, match: str) -> None:
    with pytest.raises(SAEConfigError, match=match):
        SAETrainConfig(**bad)


def test_resume_differences_name_what_changes_the_computation() -> None:
    saved = SAETrainConfig(k=8, lr=1e-3)
    assert resume_differences(saved, SAETrainConfig(k=8, lr=1e-3, progress=False, log_interval=1, device="cpu",
                                                    ckpt_interval=7, resume=True)) == {}
    assert resume_differences(saved, SAETrainConfig(k=4, lr=1e-2, n_tokens=10)) == {
        "k": (8, 4), "lr": (1e-3, 1e-2), "n_tokens": (2_000_000, 10)}
    many = SAETrainConfig(saes=[{"name": "a", "hook": "h", "k": 8}], lr=1e-3)
    assert resume_differences(many, SAETrainConfig(saes=[{"name": "a", "hook": "h", "k": 8, "lr": 1e-3}])) == {}
    assert resume_differences(many, SAETrainConfig(saes=[{"name": "a", "hook": "h2", "k": 8}], lr=1e-3)) == {
        "saes[a].hook": ("h", "h2")}
    assert "saes" in resume_differences(many, SAETrainConfig(saes=[{"name": "b", "hook": "h"}]))
