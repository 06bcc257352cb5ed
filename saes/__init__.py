"""Sparse autoencoders and transcoders: architectures (one file each), training, evaluation, SAELens format.

>>> from saes import SAEConfig, build_sae, load_sae, save_sae
"""

from saes import architectures  # noqa: F401  (registers every architecture; must come first)
from saes.attn import flatten_heads, per_head_attribution, unflatten_heads
from saes.base import SAE, LossOutput, build_sae
from saes.config import SAEConfig
from saes.errors import SAECheckpointError, SAEConfigError, SAEError, SAEShapeError
from saes.format import from_saelens, load_released, load_sae, save_sae, to_saelens
from saes.registry import ARCHITECTURES, architecture_class, register, registered
from saes.toy import ToyData, mean_max_cosine, train_on_toy
from saes.transcoder import build_transcoder, mlp_hooks, transcoder_config

__all__ = ["ARCHITECTURES", "SAE", "LossOutput", "SAECheckpointError", "SAEConfig", "SAEConfigError", "SAEError",
           "SAEShapeError", "ToyData", "architecture_class", "build_sae", "build_transcoder", "flatten_heads",
           "from_saelens", "load_released", "load_sae", "mean_max_cosine", "mlp_hooks", "per_head_attribution",
           "register", "registered", "save_sae", "to_saelens", "train_on_toy", "transcoder_config", "unflatten_heads"]
