"""Training the U-Net of unet_segment: supervised fine-tuning and SimSiam pre-training.

Patches are random squares of the training area, flipped and rotated at random. The
supervised loss is cross-entropy over labelled pixels (binary cross-entropy per class for
a multi-label model); early stopping on the validation area's mIoU, computed with the same
tiled inference the process runs. `label_fraction` < 1 keeps the labels of that share of
the training area only, in 32 px blocks, to measure what pre-training is worth with few
labels. SimSiam (Chen and He, CVPR 2021) pre-trains the encoder alone on unlabelled
patches: two views of a patch (overlapping crops, flips, rotations, one gain for all
channels, noise), a projector and a predictor, the negative cosine similarity with a
stop-gradient.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from training.config import SSLConfig, UNetConfig
from training.early_stopping import EarlyStopping
from training.unet_data import Scene
from udfs import unet_segment as us

BLOCK = 32  # side of the label blocks kept with label_fraction


def widths_of(text: str) -> tuple[int, ...]:
    return tuple(int(w) for w in str(text).split(","))


def normalisation(channels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of (c, y, x) raw values (NaN read as 0, as at inference)."""
    flat = np.nan_to_num(channels, nan=0.0).reshape(len(channels), -1)
    return flat.mean(axis=1), np.maximum(flat.std(axis=1), 1e-6)


def _augment(x: np.ndarray, y: np.ndarray | None, rng: np.random.Generator):
    k = int(rng.integers(4))
    x = np.rot90(x, k, axes=(-2, -1))
    y = None if y is None else np.rot90(y, k, axes=(-2, -1))
    if rng.random() < 0.5:
        x = x[..., ::-1]
        y = None if y is None else y[..., ::-1]
    return np.ascontiguousarray(x), None if y is None else np.ascontiguousarray(y)


def patches(channels: np.ndarray, labels: np.ndarray, rng: np.random.Generator, n: int,
            size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n random (c, size, size) patches with their labels, rotated and flipped; only
    patches with a labelled pixel."""
    xs, ys = [], []
    _, h, w = channels.shape
    while len(xs) < n:
        r, c = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
        y = labels[r:r + size, c:c + size]
        if (y != 255).any():
            x, y = _augment(channels[:, r:r + size, c:c + size], y, rng)
            xs.append(x)
            ys.append(y)
    x = np.nan_to_num(np.stack(xs), nan=0.0).astype(np.float32)
    return torch.from_numpy(x), torch.from_numpy(np.stack(ys).astype(np.int64))


def keep_fraction(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Labels of `fraction` of the BLOCK px blocks that hold labels; 255 elsewhere."""
    if fraction >= 1:
        return labels
    h, w = labels.shape
    by, bx = np.indices((h, w))
    block = (by // BLOCK) * (w // BLOCK + 1) + bx // BLOCK
    labelled = np.unique(block[labels != 255])
    rng = np.random.default_rng(seed)
    n = max(1, int(round(fraction * len(labelled))))
    keep = np.isin(block, rng.choice(labelled, n, replace=False))
    return np.where(keep, labels, 255)


def iou_scores(truth: np.ndarray, pred: np.ndarray, classes: list[str]) -> dict:
    """mIoU (over classes present in the truth), overall accuracy, IoU per class."""
    ok = truth != 255
    t, p = truth[ok], pred[ok]
    per_class = {}
    for i, name in enumerate(classes):
        union = np.sum((t == i) | (p == i))
        if np.any(t == i):
            per_class[name] = float(np.sum((t == i) & (p == i)) / union)
    return {"miou": float(np.mean(list(per_class.values()))), "overall_accuracy":
            float(np.mean(t == p)), "iou_per_class": per_class, "pixels": int(ok.sum())}


def evaluate(model: us.UNetModel, scene: Scene, part: str, tile: int = 128,
             overlap: int = 32) -> dict:
    """Scores on one area, through the tiled inference of the process."""
    import xarray as xr

    channels, labels = scene.part(part)
    cube = xr.DataArray(channels, dims=("bands", "y", "x"),
                        coords={"bands": [f"c{i}" for i in range(len(channels))]})
    flat = us.UNetModel(model.network, model.classes, tuple(f"c{i}" for i in
                                                           range(len(channels))), 1)
    pred = us.segment(cube, flat, ("class",), tile, overlap).values[0]
    return iou_scores(labels, pred, scene.classes)


def new_network(scene: Scene, widths: tuple, norm: str, dropout: float) -> us.UNet:
    net = us.UNet(len(scene.channels), len(scene.classes), widths, norm, dropout)
    mean, std = normalisation(scene.part("train")[0])
    net.mean.copy_(torch.from_numpy(mean))
    net.std.copy_(torch.from_numpy(std))
    return net


def fit_segmenter(scene: Scene, config: UNetConfig, encoder: dict | None = None,
                  progress: bool = False) -> tuple[us.UNetModel, list[dict]]:
    """Train on the training area (labels thinned to label_fraction), stop early on the
    validation area's mIoU; `encoder` is a pre-trained encoder's state dict."""
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = np.random.default_rng(config.seed)
    net = new_network(scene, widths_of(config.widths), config.norm, config.dropout)
    if encoder is not None:
        net.encoder.load_state_dict(encoder)
    channels, labels = scene.part("train")
    labels = keep_fraction(labels, config.label_fraction, config.seed)
    encoder_params = list(net.encoder.parameters())
    others = [p for n, p in net.named_parameters() if not n.startswith("encoder.")]
    factor = config.encoder_lr if encoder is not None else 1.0
    optimiser = torch.optim.AdamW([{"params": encoder_params, "lr": config.lr * factor},
                                   {"params": others}], lr=config.lr,
                                  weight_decay=config.weight_decay)
    loss_fn = nn.CrossEntropyLoss(ignore_index=255)
    model = us.UNetModel(net, scene.classes, scene.bands, scene.times)
    stopper, history = EarlyStopping(config.patience), []
    for epoch in tqdm(range(config.epochs), desc="unet", unit="epoch", disable=not progress):
        net.train()
        total = 0.0
        for _ in range(config.steps):
            x, y = patches(channels, labels, rng, config.batch_size, config.patch)
            optimiser.zero_grad()
            loss = loss_fn(net(x), y)
            loss.backward()
            optimiser.step()
            total += float(loss.detach())
        net.eval()
        val = evaluate(model, scene, "val")
        history.append({"epoch": epoch + 1, "loss": total / config.steps,
                        "val_miou": val["miou"]})
        if stopper.update(val["miou"], net):
            break
    stopper.restore(net)
    model.meta.update({"config": asdict(config), "epochs_run": len(history),
                       "best_val_miou": stopper.best_score,
                       "pretrained_encoder": encoder is not None})
    return model, history


class SimSiam(nn.Module):
    """Encoder -> global pooling -> projector; predictor on top (Chen and He, 2021)."""

    def __init__(self, encoder: us.Encoder, width: int, dim: int):
        super().__init__()
        self.encoder = encoder
        self.projector = nn.Sequential(nn.Linear(width, dim), nn.BatchNorm1d(dim),
                                       nn.ReLU(inplace=True), nn.Linear(dim, dim),
                                       nn.BatchNorm1d(dim))
        self.predictor = nn.Sequential(nn.Linear(dim, dim // 4), nn.BatchNorm1d(dim // 4),
                                       nn.ReLU(inplace=True), nn.Linear(dim // 4, dim))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.projector(self.encoder(x)[-1].mean(dim=(2, 3)))
        return z, self.predictor(z)


def _view(channels: np.ndarray, r: int, c: int, size: int, rng: np.random.Generator
          ) -> np.ndarray:
    """One view of the patch at (r, c): shifted by up to a quarter, rotated, flipped, all
    channels scaled by one random gain (as haze or illumination would) and given noise
    (in normalised units). Not a gain per channel: the spectra are what tells crops apart,
    and a pre-training that teaches invariance to them did worse (README)."""
    _, h, w = channels.shape
    shift = size // 4
    r = int(np.clip(r + rng.integers(-shift, shift + 1), 0, h - size))
    c = int(np.clip(c + rng.integers(-shift, shift + 1), 0, w - size))
    x, _ = _augment(channels[:, r:r + size, c:c + size], None, rng)
    return (x * rng.normal(1.0, 0.1) + rng.normal(0, 0.05, x.shape)).astype(np.float32)


def fit_simsiam(scene: Scene, config: SSLConfig, parts: tuple = ("train", "val"),
                progress: bool = False) -> tuple[us.UNet, list[dict]]:
    """Pre-train a U-Net's encoder on unlabelled patches of the given areas; returns the
    network (encoder trained, decoder untouched, normalisation set) and the history."""
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = np.random.default_rng(config.seed)
    widths = widths_of(config.widths)
    net = new_network(scene, widths, config.norm, 0.0)
    rows = slice(scene.rows(parts[0]).start, scene.rows(parts[-1]).stop)
    raw = np.nan_to_num(scene.channels[:, rows], nan=0.0)
    normed = ((raw - net.mean.numpy()[:, None, None]) / net.std.numpy()[:, None, None]
              ).astype(np.float32)
    siam = SimSiam(net.encoder, widths[-1], config.projection)
    optimiser = torch.optim.AdamW(siam.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    _, h, w = normed.shape
    history = []
    for epoch in tqdm(range(config.epochs), desc="simsiam", unit="epoch",
                      disable=not progress):
        siam.train()
        total = 0.0
        for _ in range(config.steps):
            origins = [(int(rng.integers(0, h - config.patch + 1)),
                        int(rng.integers(0, w - config.patch + 1)))
                       for _ in range(config.batch_size)]
            a = torch.from_numpy(np.stack([_view(normed, r, c, config.patch, rng)
                                           for r, c in origins]))
            b = torch.from_numpy(np.stack([_view(normed, r, c, config.patch, rng)
                                           for r, c in origins]))
            z1, p1 = siam(a)
            z2, p2 = siam(b)
            loss = -(nn.functional.cosine_similarity(p1, z2.detach()).mean() +
                     nn.functional.cosine_similarity(p2, z1.detach()).mean()) / 2
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss.detach())
        with torch.no_grad():  # collapse check: spread of the normalised projections
            spread = float(nn.functional.normalize(z1, dim=1).std(dim=0).mean())
        history.append({"epoch": epoch + 1, "loss": total / config.steps,
                        "z_std": spread})
    return net.eval(), history
