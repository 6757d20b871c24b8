"""The NDVI forecaster: an LSTM over monthly (value, clear) pairs, one output per horizon.

Trained with a loss masked to clear targets (MAE, as the scores), early stopping on a
validation part, fixed seed. Work in progress for ndvi_forecast (issue 6): the process,
gap filling and bundled weights are not here yet.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn


class NDVILSTM(nn.Module):
    """(n, months, 2) -> (n, horizons) NDVI."""

    def __init__(self, hidden: int = 32, layers: int = 1, horizons: int = 6,
                 dropout: float = 0.1):
        super().__init__()
        self.config = {"hidden": hidden, "layers": layers, "horizons": horizons,
                       "dropout": dropout}
        self.lstm = nn.LSTM(2, hidden, num_layers=layers, batch_first=True,
                            dropout=dropout if layers > 1 else 0.0)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, horizons))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


def _masked_mae(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    known = torch.isfinite(target)
    return (pred[known] - target[known]).abs().mean()


def fit(x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
        hidden: int = 32, layers: int = 1, epochs: int = 40, patience: int = 6,
        batch_size: int = 256, lr: float = 3e-3, seed: int = 0) -> NDVILSTM:
    """Train on (x, y), keep the epoch with the lowest validation MAE."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = NDVILSTM(hidden=hidden, layers=layers, horizons=y.shape[1])
    optimiser = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.float32))
    xv, yv = torch.from_numpy(x_val), torch.from_numpy(y_val.astype(np.float32))
    best, best_mae, waited = None, np.inf, 0
    for _ in range(epochs):
        net.train()
        order = torch.from_numpy(rng.permutation(len(x)))
        for start in range(0, len(x), batch_size):
            idx = order[start:start + batch_size]
            optimiser.zero_grad()
            _masked_mae(net(xt[idx]), yt[idx]).backward()
            optimiser.step()
        net.eval()
        with torch.inference_mode():
            val = float(_masked_mae(net(xv), yv))
        if val < best_mae:
            best, best_mae, waited = copy.deepcopy(net.state_dict()), val, 0
        else:
            waited += 1
            if waited >= patience:
                break
    net.load_state_dict(best)
    return net.eval()


def predict(net: NDVILSTM, x: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return net(torch.from_numpy(x)).numpy()
