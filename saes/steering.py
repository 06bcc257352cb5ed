"""Steering with SAE features: choose a concept's features, add their decoder directions, or clamp them.

>>> table = concept_features(model, sae, concept_texts, other_texts)      # ranked by activation and frequency
>>> feats = table.index[:3].tolist()
>>> with steer_features(sae, feats, strength=8.0).applied(model): ...    # add unit decoder directions
>>> with Steering([FeatureClamp(sae.cfg.hook_name, strength=5.0, sae=sae, features=feats)]).applied(model): ...

Clamping sets the features' activations to ``strength`` and changes the activation by exactly the decoder
contribution of that change, ``(clamped - f) @ W_dec``: the SAE's reconstruction error stays in the stream, so a
clamp to each feature's own value (and strength 0, which is no edit at all) leaves the model unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pandas as pd
import torch
from torch import Tensor

from interp.errors import InputError
from interp.models.tl import HookedTransformer
from interp.steering import Add, Intervention, Steering, register_intervention, text_activations
from interp.steering.methods import MethodInputs, register_method
from saes.base import SAE, build_sae
from saes.config import SAEConfig
from saes.format import load_sae
from saes.hooked import check_sae_fits


def _check_features(sae: SAE, features: Sequence[int]) -> list[int]:
    feats = [int(f) for f in features]
    if not feats:
        raise InputError("No features given: pick some with concept_features(...).")
    bad = [f for f in feats if not 0 <= f < sae.cfg.d_sae]
    if bad:
        raise InputError(f"Features {bad} are outside this SAE's {sae.cfg.d_sae} features.")
    if sae.cfg.is_transcoder:
        raise InputError("Steering edits the activation an SAE reconstructs; this is a transcoder (it writes "
                         f"{sae.cfg.hook_name_out}, not {sae.cfg.hook_name}): use an SAE.")
    return feats


def feature_direction(sae: SAE, features: Sequence[int]) -> Tensor:
    """The sum of the features' unit decoder directions ([d_in]): at strength s each feature's direction is added
    s times, as if each fired with activation s."""
    feats = _check_features(sae, features)
    rows = sae.W_dec[feats].detach().float()
    return (rows / rows.norm(dim=-1, keepdim=True).clamp_min(1e-12)).sum(0)


def steer_features(sae: SAE, features: Sequence[int], strength: float, positions: str = "all") -> Steering:
    """Add the features' decoder directions at the SAE's hook (the detox paper's steering)."""
    return Steering([Add(sae.cfg.hook_name, feature_direction(sae, features), strength, positions)])


@register_intervention
@dataclass
class FeatureClamp(Intervention):
    """Clamp the SAE features ``features`` to ``strength`` (times ``scales[i]`` for feature i, when given: e.g.
    each feature's typical activation) at ``hook`` (the SAE's), keeping its error."""

    hook: str
    strength: float = 1.0
    sae: SAE | None = None
    features: list[int] = field(default_factory=list)
    positions: str = "all"
    scales: list[float] | None = None
    kind: ClassVar[str] = "sae_clamp"

    def __post_init__(self) -> None:
        if self.sae is None:
            raise InputError("FeatureClamp needs the SAE (sae=...).")
        self.features = _check_features(self.sae, self.features)
        if self.hook != self.sae.cfg.hook_name:
            raise InputError(f"This SAE reads {self.sae.cfg.hook_name}, not {self.hook}: clamp it at its own hook.")
        if self.scales is not None and len(self.scales) != len(self.features):
            raise InputError(f"scales has {len(self.scales)} values for {len(self.features)} features.")

    def edit(self, act: Tensor) -> Tensor:
        assert self.sae is not None
        f = self.sae.encode(act.to(self.sae.W_enc.dtype))[..., self.features]
        target = self.strength * (f.new_tensor(self.scales) if self.scales is not None else 1.0)
        delta = (target - f) @ self.sae.W_dec[self.features]
        return act + delta.to(act.dtype)

    def width(self) -> int:
        assert self.sae is not None
        return self.sae.cfg.d_in

    def check_model(self, model: HookedTransformer) -> None:
        assert self.sae is not None
        check_sae_fits(model, self.sae)

    def tensors(self) -> dict[str, Tensor]:
        assert self.sae is not None
        return {f"sae.{k}": v for k, v in self.sae.state_dict().items()}

    def config(self) -> dict[str, Any]:
        assert self.sae is not None
        return {"kind": self.kind, "hook": self.hook, "strength": self.strength, "positions": self.positions,
                "features": self.features, "scales": self.scales, "sae_config": self.sae.cfg.to_dict()}

    @classmethod
    def from_saved(cls, config: dict[str, Any], tensors: dict[str, Tensor]) -> FeatureClamp:
        sae = build_sae(SAEConfig.from_dict({**config["sae_config"], "device": "cpu"}))
        sae.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("sae.")})
        kw = {k: v for k, v in config.items() if k not in ("kind", "sae_config")}
        return cls(**kw, sae=sae.eval())


@torch.no_grad()
def concept_features(model: HookedTransformer, sae: SAE, concept_texts: Sequence[str], other_texts: Sequence[str],
                     top: int = 20, positions: str = "all") -> pd.DataFrame:
    """SAE features ranked for a concept, as the detox paper ranks them: by how much more they fire on concept texts
    than on the others (mean activation) and how much more often (firing frequency). ``score`` = activation
    difference x frequency difference, features that fire more often on the concept first; the ``top`` best rows.
    ``positions``: every token of the texts (``all``) or each text's last (``last``)."""
    check_sae_fits(model, sae)
    acts = {}
    for key, texts in (("concept", concept_texts), ("other", other_texts)):
        x = text_activations(model, list(texts), sae.cfg.hook_name, positions)
        acts[key] = sae.encode(x.to(sae.W_enc.dtype)).float()
    mean_c, mean_o = acts["concept"].mean(0), acts["other"].mean(0)
    freq_c, freq_o = (acts["concept"] > 0).float().mean(0), (acts["other"] > 0).float().mean(0)
    frame = pd.DataFrame({"mean_act_concept": mean_c.numpy(), "mean_act_other": mean_o.numpy(),
                          "freq_concept": freq_c.numpy(), "freq_other": freq_o.numpy()})
    frame["score"] = ((mean_c - mean_o).clamp_min(0) * (freq_c - freq_o).clamp_min(0)).numpy()
    frame.index.name = "feature"
    return frame.sort_values("score", ascending=False).head(top)


def _concept_sae(inputs: MethodInputs) -> tuple[SAE, pd.DataFrame]:
    """The SAE of ``--sae-dir`` and its ``inputs.sae_features`` best features for the concept (computed once)."""
    key = f"sae/{inputs.sae_dir}/{inputs.sae_features}/{inputs.fit_positions}"
    if key not in inputs.cache:
        sae = load_sae(inputs.sae_dir, device=str(next(inputs.model.parameters()).device)).eval()
        table = concept_features(inputs.model, sae, inputs.with_concept, inputs.without_concept,
                                 top=inputs.sae_features, positions=inputs.fit_positions)
        inputs.cache[key] = (sae, table)
    return inputs.cache[key]  # type: ignore[return-value]


@register_method("sae", description="the concept's top SAE features (by activation and frequency, as the detox "
                                    "paper ranks them): their decoder directions added", needs_sae=True)
def _sae_add(inputs: MethodInputs) -> Steering:
    sae, table = _concept_sae(inputs)
    hook = sae.cfg.hook_name
    d = inputs.to_unit(feature_direction(sae, table.index.tolist()).to(inputs.diffmean(hook).device), hook)
    return Steering([Add(hook, inputs.sign * d, 1.0, inputs.positions)])


@register_method("sae_clamp", goals=("add",), description="the concept's top SAE features clamped to strength x "
                                                          "their mean activation where they fire, error kept",
                 needs_sae=True)
def _sae_clamp(inputs: MethodInputs) -> Steering:
    sae, table = _concept_sae(inputs)
    typical = (table["mean_act_concept"] / table["freq_concept"].clip(lower=1e-6)).tolist()
    return Steering([FeatureClamp(sae.cfg.hook_name, 1.0, sae, table.index.tolist(), inputs.positions, typical)])
