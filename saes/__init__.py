"""Sparse autoencoders and transcoders: architectures (one file each), training, evaluation, SAELens format.

>>> from saes import SAEConfig, build_sae, load_sae, save_sae
"""

from saes import architectures  # noqa: F401  (registers every architecture)
from saes.base import ARCHITECTURES, SAE, LossOutput, build_sae, register
from saes.config import SAEConfig
from saes.errors import SAECheckpointError, SAEConfigError, SAEError, SAEShapeError

__all__ = ["ARCHITECTURES", "SAE", "LossOutput", "SAECheckpointError", "SAEConfig", "SAEConfigError", "SAEError",
           "SAEShapeError", "build_sae", "register"]
