"""Temperature scaling (Guo et al., 2017, "On Calibration of Modern Neural Networks").

One scalar ``T > 0`` divides a classifier's logits; it is fitted by minimising the negative
log-likelihood of held-out labels, so the arg-max (and every ranking by one class's probability)
is unchanged while the probabilities become honest. Written here because it is a dozen lines of
torch: the libraries that offer it work on numpy arrays and would add a dependency.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["IGNORE_INDEX", "TEMPERATURE_RANGE", "fit_temperature"]

#: Targets with this value are unlabelled and left out of the fit.
IGNORE_INDEX = -100
#: The fitted temperature is kept inside this range (a degenerate split cannot send it to 0 or infinity).
TEMPERATURE_RANGE = (0.05, 20.0)


def fit_temperature(logits: Tensor, targets: Tensor, max_iter: int = 100) -> float:
    """The temperature that minimises the NLL of ``softmax(logits / T)`` on the labelled rows.

    Args:
        logits: ``(N, C)`` class scores, any float dtype (fitted in float64).
        targets: long ``(N,)`` class indices; :data:`IGNORE_INDEX` rows are skipped.
        max_iter: L-BFGS iterations.

    Returns:
        ``T`` in :data:`TEMPERATURE_RANGE`; ``1.0`` when no row is labelled.
    """
    # Validation runs under inference mode; the fit needs autograd, on copies that are normal tensors.
    with torch.inference_mode(False), torch.enable_grad():
        keep = targets != IGNORE_INDEX
        logits, targets = logits[keep].detach().double().clone(), targets[keep].long().clone()
        if logits.shape[0] == 0:
            return 1.0
        log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")

        def closure() -> Tensor:
            optimizer.zero_grad()
            loss = F.cross_entropy(logits / log_t.exp(), targets)
            loss.backward()
            return loss

        optimizer.step(closure)
    low, high = TEMPERATURE_RANGE
    temperature = float(log_t.detach().exp())
    return min(high, max(low, temperature)) if temperature == temperature else 1.0
