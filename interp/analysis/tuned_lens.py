"""The tuned lens (Belrose et al. 2023): one affine translator per layer, trained so that each layer's residual,
translated and read through the final LayerNorm and unembedding, matches the model's final distribution.

Translators start at the identity (the logit lens) and are trained on the model's own residuals: computed on the
fly (``fit``) or read from an activation cache (``fit_from_store``).

>>> lens = TunedLens.fit(model, tokens, n_steps=300)
>>> lens = TunedLens.fit_from_store(model, ActivationStore.from_cache("runs/cache", lens_hooks(model), model=model))
>>> lens.save("runs/quickstart/tuned_lens"); lens = TunedLens.load("runs/quickstart/tuned_lens", model)
>>> lens_kl(model, held_out_tokens, lens)     # lower than the logit lens at every layer but the last
"""

from __future__ import annotations

from pathlib import Path

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn
from tqdm.auto import tqdm

from interp.analysis.lens import kl_to_final, lens_logits_from_resid, residual_stack
from interp.errors import CheckpointError
from interp.io import atomic_save_safetensors, atomic_write_json, hash_state_dict, load_safetensors, read_json
from interp.models.tl import HookedTransformer


def lens_hooks(model: HookedTransformer) -> list[str]:
    """The residual hooks a tuned lens reads: before each block and after the last (cache these to train from
    disk: ``interp cache RUN_DIR --hooks "blocks.*.hook_resid_pre,blocks.{L-1}.hook_resid_post"``)."""
    n = model.cfg.n_layers
    return [f"blocks.{i}.hook_resid_pre" for i in range(n)] + [f"blocks.{n - 1}.hook_resid_post"]


class TunedLens(nn.Module):
    def __init__(self, n_layers: int, d_model: int, model_hash: str = "") -> None:
        super().__init__()
        self.translators = nn.ModuleList(nn.Linear(d_model, d_model) for _ in range(n_layers))
        for t in self.translators:  # residual form: x + A x + b, A = b = 0 at the start (the logit lens)
            nn.init.zeros_(t.weight)
            nn.init.zeros_(t.bias)
        self.model_hash = model_hash

    def translate(self, stack: Float[Tensor, "layer batch pos d_model"]) -> Float[Tensor, "layer batch pos d_model"]:
        """Translate each layer's residual; the last entry (the final residual) passes unchanged."""
        out = [stack[i] + t(stack[i]) for i, t in enumerate(self.translators)]
        return torch.stack([*out, stack[len(self.translators)]])

    @classmethod
    def fit(cls, model: HookedTransformer, tokens: Int[Tensor, "batch pos"], n_steps: int = 300,
            lr: float = 1e-3, batch_size: int = 16, seed: int = 0, progress: bool = True) -> TunedLens:
        """Train translators to minimise the summed KL(final || translated layer) over ``tokens`` (the model is run
        on a random batch of them at each step)."""
        g = torch.Generator().manual_seed(seed)

        def stacks():
            while True:
                idx = torch.randint(len(tokens), (min(batch_size, len(tokens)),), generator=g)
                with torch.no_grad():
                    stack = residual_stack(model, tokens[idx].to(model.cfg.device))
                yield stack  # outside the no_grad block: a suspended generator would keep grad off for the caller

        return cls._train(model, stacks(), n_steps, lr, progress)

    @classmethod
    def fit_from_store(cls, model: HookedTransformer, store, n_steps: int = 300, lr: float = 1e-3,
                       progress: bool = True) -> TunedLens:
        """Train on cached activations: ``store`` serves the hooks of ``lens_hooks(model)`` (e.g.
        ``ActivationStore.from_cache(dir, lens_hooks(model), model=model)`` over an ``interp cache`` directory),
        so the model is never run. Each step's rows are shuffled tokens from many contexts."""
        hooks = lens_hooks(model)

        def stacks():
            for batch in store:
                yield torch.stack([batch[h] for h in hooks])[:, :, None].to(model.cfg.device)  # [layer, rows, 1, d]

        return cls._train(model, stacks(), n_steps, lr, progress)

    @classmethod
    def _train(cls, model: HookedTransformer, stacks, n_steps: int, lr: float, progress: bool) -> TunedLens:
        lens = cls(model.cfg.n_layers, model.cfg.d_model, hash_state_dict(model.state_dict())).to(model.cfg.device)
        opt = torch.optim.Adam(lens.parameters(), lr=lr)
        for p in model.parameters():
            p.requires_grad_(False)
        try:
            for _, stack in zip(tqdm(range(n_steps), desc="tuned lens", disable=not progress), stacks, strict=False):
                with torch.no_grad():  # the last residual read out is the model's own logits
                    final = lens_logits_from_resid(model, stack[-1])
                kl = kl_to_final(lens_logits_from_resid(model, lens.translate(stack))[:-1], final)
                opt.zero_grad()
                kl.sum().backward()
                opt.step()
        finally:
            for p in model.parameters():
                p.requires_grad_(True)
        return lens

    def save(self, out_dir: str | Path) -> Path:
        out = Path(out_dir)
        atomic_save_safetensors(out / "tuned_lens.safetensors", self.state_dict())
        atomic_write_json(out / "tuned_lens.json", {"n_layers": len(self.translators),
                                                    "d_model": self.translators[0].in_features,
                                                    "model_hash": self.model_hash})
        return out

    @classmethod
    def load(cls, path: str | Path, model: HookedTransformer) -> TunedLens:
        path = Path(path)
        if not (path / "tuned_lens.json").exists():
            raise CheckpointError(f"No tuned_lens.json in {path}; save one with TunedLens.save().")
        meta = read_json(path / "tuned_lens.json")
        actual = hash_state_dict(model.state_dict())
        if meta["model_hash"] != actual:
            raise CheckpointError(f"The tuned lens in {path} was trained on model {meta['model_hash']}, but this "
                                  f"model is {actual}; train a lens for this model with TunedLens.fit().")
        lens = cls(meta["n_layers"], meta["d_model"], meta["model_hash"])
        lens.load_state_dict(load_safetensors(path / "tuned_lens.safetensors"))
        return lens
