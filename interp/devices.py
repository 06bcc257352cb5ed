"""Device names -> ``torch.device``, with a clear error for a device this machine does not have.

>>> resolve_device("auto")      # cuda when available, else cpu
device(type='cpu')
>>> resolve_device("cuda")      # on a machine without CUDA
ConfigError: --device cuda: CUDA is not available here ... use --device cpu or auto.
"""

from __future__ import annotations

import torch

from interp.errors import ConfigError


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """``auto``/None: cuda when available, else cpu; ``cpu``, ``cuda``, ``cuda:N`` checked against the machine."""
    if name is None or str(name) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as err:
        raise ConfigError(f"--device {name}: not a device name; use auto, cpu, cuda or cuda:N.") from err
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {name}: CUDA is not available here (torch {torch.__version__}, "
                              f"{'a CPU-only build' if torch.version.cuda is None else 'no GPU visible'}); use "
                              "--device cpu or auto.")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"--device {name}: this machine has {torch.cuda.device_count()} GPU(s), numbered from 0.")
    elif device.type not in ("cpu", "mps", "meta"):
        raise ConfigError(f"--device {name}: unsupported device type; use auto, cpu, cuda or cuda:N.")
    return device
