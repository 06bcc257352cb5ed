"""Memory estimates made before a large allocation, so a graph too big for this machine fails with the numbers.

>>> check_fits(4 * b * p * n_up * d_model, "the activation differences", device)
"""

from __future__ import annotations

import psutil
import torch

from interp.errors import InputError


def available_bytes(device: torch.device | str) -> int:
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    return int(psutil.virtual_memory().available)


def check_fits(n_bytes: int, what: str, device: torch.device | str, share: float = 0.5) -> None:
    """Raise ``InputError`` when ``n_bytes`` exceed ``share`` of the device's free memory."""
    free = available_bytes(device)
    if n_bytes > share * free:
        raise InputError(f"{what} would need {n_bytes / 2**30:.2f} GiB, more than {share:.0%} of the "
                         f"{free / 2**30:.2f} GiB free on {device}: use fewer prompts (--n-prompts), a graph without "
                         "positions, or a larger machine.")
