"""Early stopping shared by the trainers: keep the best weights, stop after `patience`
epochs without a better validation score."""

from __future__ import annotations

import copy

from torch import nn


class EarlyStopping:
    def __init__(self, patience: int, higher_is_better: bool = True):
        self.patience = patience
        self.sign = 1.0 if higher_is_better else -1.0
        self.best_score: float | None = None
        self.best_state: dict | None = None
        self.waited = 0

    def update(self, score: float, network: nn.Module) -> bool:
        """Record an epoch's score; True when training should stop."""
        if self.best_score is None or self.sign * (score - self.best_score) > 0:
            self.best_score, self.best_state, self.waited = (
                score,
                copy.deepcopy(network.state_dict()),
                0,
            )
            return False
        self.waited += 1
        return self.waited >= self.patience

    def restore(self, network: nn.Module) -> None:
        """Load the best weights seen (if any) into the network."""
        if self.best_state is not None:
            network.load_state_dict(self.best_state)
