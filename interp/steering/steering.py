"""``Steering``: interventions applied together to a ``HookedTransformer`` as a context manager, composable with
``+``, rescaled with ``scaled``, saved as safetensors + JSON.

>>> steer = Steering([Add("blocks.1.hook_resid_post", diffmean, strength=4.0, positions="from:5")])
>>> with steer.applied(model):
...     text = model.generate("Once upon a time", max_new_tokens=30)
>>> (steer + Steering([Ablate("blocks.0.hook_resid_post", other)])).save("runs/steer/sea")
>>> Steering.load("runs/steer/sea")
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from safetensors.torch import load_file

from interp.analysis.hooks import resolve_hook_names
from interp.errors import InputError
from interp.io import atomic_dir, atomic_save_safetensors, atomic_write_json
from interp.models.tl import HookedTransformer
from interp.steering.interventions import INTERVENTIONS, Intervention

_CONFIG, _TENSORS = "steering.json", "steering.safetensors"


@dataclass
class Steering:
    interventions: list[Intervention] = field(default_factory=list)

    def __add__(self, other: Steering) -> Steering:
        return Steering([*self.interventions, *other.interventions])

    def scaled(self, strength: float) -> Steering:
        """Every intervention with its strength multiplied by ``strength`` (0: the unsteered model)."""
        return Steering([replace(i, strength=i.strength * strength) for i in self.interventions])

    def check(self, model: HookedTransformer) -> None:
        """Refuse a hook the model lacks (close matches listed) or a direction of the wrong width."""
        for i in self.interventions:
            (name,) = resolve_hook_names(model, i.hook)
            i.check_model(model)
            want = i.width()
            have = _hook_width(model, name)
            if want is not None and have is not None and want != have:
                raise InputError(f"The {i.kind} direction at {name} has width {want}, but that activation has width "
                                 f"{have}: build the direction at this hook of this model.")

    @contextlib.contextmanager
    def applied(self, model: HookedTransformer) -> Iterator[HookedTransformer]:
        """Run ``model`` (forward passes, ``generate``, ``run_with_cache``) steered inside the block."""
        self.check(model)
        with model.hooks(fwd_hooks=[(i.hook, i) for i in self.interventions]):
            yield model

    def save(self, path: str | Path) -> Path:
        """Write ``steering.json`` and ``steering.safetensors`` into the directory ``path`` (atomically)."""
        tensors, configs = {}, []
        for n, i in enumerate(self.interventions):
            configs.append(i.config())
            tensors.update({f"{n}.{k}": v.detach().cpu().contiguous() for k, v in i.tensors().items()})
        with atomic_dir(Path(path)) as tmp:
            atomic_write_json(tmp / _CONFIG, {"interventions": configs})
            atomic_save_safetensors(tmp / _TENSORS, tensors, metadata={"format": "interp-steering"})
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> Steering:
        path = Path(path)
        if not (path / _CONFIG).exists():
            raise InputError(f"{path} holds no saved steering (no {_CONFIG}); write one with Steering.save().")
        configs = json.loads((path / _CONFIG).read_text())["interventions"]
        tensors = load_file(path / _TENSORS) if (path / _TENSORS).exists() else {}
        out = []
        for n, config in enumerate(configs):
            kind = config.get("kind")
            if kind not in INTERVENTIONS:
                raise InputError(f"{path}: intervention kind {kind!r} is unknown here (known: {sorted(INTERVENTIONS)});"
                                 " kinds from the saes package load after `import saes.steering`.")
            mine = {k.split(".", 1)[1]: v for k, v in tensors.items() if k.split(".", 1)[0] == str(n)}
            out.append(INTERVENTIONS[kind].from_saved(config, mine))
        return cls(out)


def _hook_width(model: HookedTransformer, name: str) -> int | None:
    """The last dimension of the activation at ``name`` for residual, attention-output and MLP-output hooks."""
    if name.endswith(("hook_resid_pre", "hook_resid_mid", "hook_resid_post", "hook_attn_out", "hook_mlp_out",
                      "hook_embed", "hook_pos_embed")):
        return model.cfg.d_model
    if name.endswith(("mlp.hook_pre", "mlp.hook_post")):
        return model.cfg.d_mlp
    return None

