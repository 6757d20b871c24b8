"""Training of the crop-type LSTM: class-balanced loss, early stopping, fixed seed."""

from __future__ import annotations

from dataclasses import asdict, replace

import numpy as np
import torch
from sklearn.metrics import f1_score
from torch import nn
from tqdm import tqdm

from training.config import LSTMConfig
from training.early_stopping import EarlyStopping
from training.samples import Samples
from udfs.lstm_classify import CropLSTM, LSTMModel


def _balanced_weights(labels: np.ndarray, n_classes: int) -> torch.Tensor:
    """Inverse class frequency, so rare crops weigh as much as common ones in the loss."""
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    weights = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / n_classes, 0.0)
    return torch.tensor(weights, dtype=torch.float32)


def _epoch_indices(groups: np.ndarray, cap: int, rng: np.random.Generator) -> np.ndarray:
    """At most `cap` pixels of each group, fresh each epoch: big fields do not dominate."""
    order = rng.permutation(len(groups))
    by_group = np.argsort(groups[order], kind="stable")
    sorted_groups = groups[order][by_group]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    sizes = np.diff(np.r_[starts, len(groups)])
    rank = np.empty(len(groups), np.int64)
    rank[by_group] = np.arange(len(groups)) - np.repeat(starts, sizes)
    chosen = order[rank < cap]
    return rng.permutation(chosen)


def fit(
    samples: Samples, config: LSTMConfig | None = None, progress: bool = True
) -> tuple[LSTMModel, list[dict]]:
    """Train on the 'train' part, stop early on the 'val' part's macro F1; returns the best."""
    config = config or LSTMConfig()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    n_classes = len(samples.classes)
    keep = samples.split == "train"
    x_train, y_train, g_train = (samples.features[keep], samples.labels[keep], samples.groups[keep])
    x_val, y_val = samples.part("val")
    network = CropLSTM(
        n_bands=x_train.shape[2],
        n_classes=n_classes,
        hidden=config.hidden,
        layers=config.layers,
        dropout=config.dropout,
    )
    flat = x_train.reshape(-1, x_train.shape[2])
    network.mean.copy_(torch.from_numpy(flat.mean(axis=0)))
    network.std.copy_(torch.from_numpy(flat.std(axis=0) + 1e-3))
    loss_fn = nn.CrossEntropyLoss(weight=_balanced_weights(y_train, n_classes))
    optimiser = torch.optim.AdamW(
        network.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, config.epochs)
    model = LSTMModel(network, samples.classes)
    stopper, history = EarlyStopping(config.patience), []
    bar = tqdm(range(config.epochs), desc="train lstm", unit="epoch", disable=not progress)
    for epoch in bar:
        network.train()
        idx = _epoch_indices(g_train, config.max_per_group, rng)
        total = 0.0
        for start in range(0, len(idx), config.batch_size):
            batch = idx[start : start + config.batch_size]
            optimiser.zero_grad()
            inputs = torch.from_numpy(x_train[batch])
            if config.augment:
                # A gain per pixel and band: fields differ in brightness, not in timing.
                inputs = inputs * (1 + config.augment * torch.randn(len(batch), 1, inputs.shape[2]))
            loss = loss_fn(network(inputs), torch.from_numpy(y_train[batch]))
            loss.backward()
            optimiser.step()
            total += loss.item() * len(batch)
        scheduler.step()
        network.eval()
        pred = model.predict_proba(x_val).argmax(axis=1) if len(x_val) else np.array([])
        val_f1 = float(f1_score(y_val, pred, average="macro")) if len(x_val) else 0.0
        history.append(
            {"epoch": epoch + 1, "train_loss": total / max(len(idx), 1), "val_macro_f1": val_f1}
        )
        bar.set_postfix(
            loss=f"{total / max(len(idx), 1):.3f}",
            **({"val_f1": f"{val_f1:.3f}"} if len(x_val) else {}),
        )
        if not len(x_val):
            continue  # nothing to stop on: every epoch, the last weights
        if stopper.update(val_f1, network):
            break
    stopper.restore(network)
    network.eval()
    model.meta = {
        "config": asdict(config),
        "epochs_run": len(history),
        "best_val_macro_f1": stopper.best_score or -1.0,
        **samples.description,
    }
    return model, history


def fit_and_refit(
    samples: Samples, config: LSTMConfig, progress: bool = True
) -> tuple[LSTMModel, list[dict], Samples]:
    """Early-stop on 'val', then (config.refit) train afresh on train + val for the epochs
    that validation chose. Returns the model, the validated run's history, and the samples
    as the final model saw them (val merged into train when refitted)."""
    model, history = fit(samples, config, progress=progress)
    if not config.refit or not (samples.split == "val").any():
        return model, history, samples
    epochs = int(np.argmax([h["val_macro_f1"] for h in history])) + 1
    merged = Samples(
        samples.features,
        samples.labels,
        samples.groups,
        np.where(samples.split == "val", "train", samples.split).astype(object),
        samples.classes,
        dict(samples.description),
    )
    refitted, _ = fit(merged, replace(config, epochs=epochs), progress=progress)
    refitted.meta.update(model.meta)
    refitted.meta.update(
        {
            "refit": f"train + validation, {epochs} epochs (the best on validation)",
            "epochs_run": epochs,
        }
    )
    return refitted, history, merged


def random_forest(samples: Samples, seed: int = 0, max_per_group: int = 400):
    """The baseline: scikit-learn's random forest on the same features, flattened, from
    the same 'train' part the LSTM's final training used."""
    from sklearn.ensemble import RandomForestClassifier

    keep = samples.split == "train"
    rng = np.random.default_rng(seed)
    idx = _epoch_indices(samples.groups[keep], max_per_group, rng)
    x = samples.features[keep][idx].reshape(len(idx), -1)
    forest = RandomForestClassifier(
        n_estimators=200, n_jobs=-1, random_state=seed, class_weight="balanced"
    )
    return forest.fit(x, samples.labels[keep][idx])
