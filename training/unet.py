"""Training the U-Net of unet_segment: supervised fine-tuning and SimSiam pre-training.

Patches are random squares of the training area, flipped and rotated at random. The
supervised loss is cross-entropy over labelled pixels (binary cross-entropy per class for
a multi-label model); early stopping on the validation area's mIoU, computed with the same
tiled inference the process runs. `label_fraction` < 1 keeps the labels of that share of
the training area only, in 32 px blocks, to measure what pre-training is worth with few
labels. A dense SimSiam (Chen and He, CVPR 2021) pre-trains the encoder alone on
unlabelled patches: two views of a place (crops a few pixels apart, the season shifted,
one gain, noise), a per-pixel projector and predictor, the negative cosine similarity with
a stop-gradient, and a reconstruction term that keeps the pixel profiles.
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


def patches(
    channels: np.ndarray, labels: np.ndarray, rng: np.random.Generator, n: int, size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """n random (c, size, size) patches with their labels, rotated and flipped; only
    patches with a labelled pixel."""
    xs, ys = [], []
    _, h, w = channels.shape
    while len(xs) < n:
        r, c = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
        y = labels[r : r + size, c : c + size]
        if (y != 255).any():
            x, y = _augment(channels[:, r : r + size, c : c + size], y, rng)
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
    return {
        "miou": float(np.mean(list(per_class.values()))),
        "overall_accuracy": float(np.mean(t == p)),
        "iou_per_class": per_class,
        "pixels": int(ok.sum()),
    }


def evaluate(
    model: us.UNetModel, scene: Scene, part: str, tile: int = 128, overlap: int = 32
) -> dict:
    """Scores on one area, through the tiled inference of the process."""
    import xarray as xr

    channels, labels = scene.part(part)
    cube = xr.DataArray(
        channels,
        dims=("bands", "y", "x"),
        coords={"bands": [f"c{i}" for i in range(len(channels))]},
    )
    flat = us.UNetModel(
        model.network, model.classes, tuple(f"c{i}" for i in range(len(channels))), 1
    )
    pred = us.segment(cube, flat, ("class",), tile, overlap).values[0]
    return iou_scores(labels, pred, scene.classes)


def new_network(scene: Scene, widths: tuple, norm: str, dropout: float) -> us.UNet:
    net = us.UNet(len(scene.channels), len(scene.classes), widths, norm, dropout)
    mean, std = normalisation(scene.part("train")[0])
    net.mean.copy_(torch.from_numpy(mean))
    net.std.copy_(torch.from_numpy(std))
    return net


def pretrained_part(backbone: us.UNetModel) -> dict:
    """What a fine-tuning takes from a backbone: the pre-trained encoder and the input
    normalisation its features were learnt with (its decoder was never trained)."""
    return {
        k: v
        for k, v in backbone.network.state_dict().items()
        if k.startswith("encoder.") or k in ("mean", "std")
    }


def fit_segmenter(
    scene: Scene, config: UNetConfig, pretrained: dict | None = None, progress: bool = False
) -> tuple[us.UNetModel, list[dict]]:
    """Train on the training area (labels thinned to label_fraction), stop early on the
    validation area's mIoU; `pretrained` is part of a U-Net's state dict (a backbone's,
    see `pretrained_part`), whose weights learn at `encoder_lr` times the rate."""
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = np.random.default_rng(config.seed)
    net = new_network(scene, widths_of(config.widths), config.norm, config.dropout)
    start = pretrained or {}  # its normalisation too: its features were learnt with it
    net.load_state_dict(start, strict=False)
    channels, labels = scene.part("train")
    labels = keep_fraction(labels, config.label_fraction, config.seed)
    loaded = [p for n, p in net.named_parameters() if n in start]
    others = [p for n, p in net.named_parameters() if n not in start]
    optimiser = torch.optim.AdamW(
        [{"params": loaded, "lr": config.lr * config.encoder_lr}, {"params": others}],
        lr=config.lr,
        weight_decay=config.weight_decay,
    )
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
        history.append({"epoch": epoch + 1, "loss": total / config.steps, "val_miou": val["miou"]})
        if stopper.update(val["miou"], net):
            break
    stopper.restore(net)
    model.meta.update(
        {
            "config": asdict(config),
            "epochs_run": len(history),
            "best_val_miou": stopper.best_score,
            "pretrained": pretrained is not None,
        }
    )
    return model, history


class DenseSimSiam(nn.Module):
    """SimSiam per pixel on the encoder's features (every level brought to full
    resolution), plus a 1 x 1 convolution that rebuilds the clean input from them."""

    def __init__(self, encoder: us.Encoder, widths: tuple, channels: int, dim: int):
        super().__init__()
        self.encoder = encoder
        self.projector = nn.Sequential(
            nn.Conv2d(sum(widths), dim, 1),
            nn.BatchNorm2d(dim),
            nn.ReLU(inplace=True),
            nn.Conv2d(dim, dim, 1),
            nn.BatchNorm2d(dim),
        )
        self.predictor = nn.Sequential(
            nn.Conv2d(dim, dim // 4, 1),
            nn.BatchNorm2d(dim // 4),
            nn.ReLU(inplace=True),
            nn.Conv2d(dim // 4, dim, 1),
        )
        self.rebuild = nn.Conv2d(sum(widths), channels, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        levels = self.encoder(x)
        size = levels[0].shape[-2:]
        f = torch.cat(
            [levels[0]]
            + [nn.functional.interpolate(t, size=size, mode="nearest") for t in levels[1:]],
            dim=1,
        )
        z = self.projector(f)
        return z, self.predictor(z), self.rebuild(f)


def _view(raw: np.ndarray, times: int, config: SSLConfig, rng: np.random.Generator) -> np.ndarray:
    """One view of a (c, y, x) reflectance crop, changed the way parcels of one crop
    differ in the simulator and on the ground: the season shifted by up to
    `time_shift` of a month (each month blended with its neighbour), one gain for all
    channels (soil brightness, vigour) and sensor noise. Not a gain per channel, nor
    dropped months: the spectra and their timing are what tells crops apart, and views
    that hide them did worse (README)."""
    t = raw.reshape(times, -1, *raw.shape[1:])
    a = rng.uniform(-config.time_shift, config.time_shift)
    nearby = np.concatenate([t[1:], t[-1:]]) if a > 0 else np.concatenate([t[:1], t[:-1]])
    t = ((1 - abs(a)) * t + abs(a) * nearby) * rng.uniform(1 - config.gain, 1 + config.gain)
    return (t + rng.normal(0, config.noise, t.shape)).reshape(raw.shape)


def _pair(raw: np.ndarray, times: int, config: SSLConfig, rng: np.random.Generator):
    """Two crops of one place up to `shift` px apart (compared position by position, so
    neighbouring pixels, mostly of one field, are pulled together), rotated and flipped
    alike: (view a, view b, clean a, clean b)."""
    _, h, w = raw.shape
    side = config.patch + config.shift
    r, c = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    x, _ = _augment(raw[:, r : r + side, c : c + side], None, rng)
    (ya, xa), (yb, xb) = rng.integers(0, config.shift + 1, (2, 2))
    a = x[:, ya : ya + config.patch, xa : xa + config.patch]
    b = x[:, yb : yb + config.patch, xb : xb + config.patch]
    return _view(a, times, config, rng), _view(b, times, config, rng), a, b


def fit_simsiam(
    scene: Scene, config: SSLConfig, parts: tuple = ("train", "val"), progress: bool = False
) -> tuple[us.UNet, list[dict]]:
    """Pre-train a U-Net's encoder on unlabelled patches of the given areas; returns the
    network (encoder trained, decoder untouched, normalisation set) and the history.

    The loss is SimSiam's (negative cosine similarity with a stop-gradient, Chen and He,
    CVPR 2021) per pixel between two views, plus `reconstruction` times the mean squared
    error of rebuilding each crop's clean normalised input: similarity alone kept too
    little of the pixel profiles (README)."""
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = np.random.default_rng(config.seed)
    widths = widths_of(config.widths)
    net = new_network(scene, widths, config.norm, 0.0)
    rows = slice(scene.rows(parts[0]).start, scene.rows(parts[-1]).stop)
    raw = np.nan_to_num(scene.channels[:, rows], nan=0.0)
    mean, std = net.mean.numpy()[:, None, None], net.std.numpy()[:, None, None]
    siam = DenseSimSiam(net.encoder, widths, len(raw), config.projection)
    optimiser = torch.optim.AdamW(siam.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    history = []
    for epoch in tqdm(range(config.epochs), desc="simsiam", unit="epoch", disable=not progress):
        siam.train()
        total = rebuilt = 0.0
        for _ in range(config.steps):
            pairs = [_pair(raw, scene.times, config, rng) for _ in range(config.batch_size)]
            a, b, clean_a, clean_b = (
                torch.from_numpy(((np.stack(k) - mean) / std).astype(np.float32))
                for k in zip(*pairs, strict=True)
            )
            z1, p1, r1 = siam(a)
            z2, p2, r2 = siam(b)
            similarity = (
                -(
                    nn.functional.cosine_similarity(p1, z2.detach()).mean()
                    + nn.functional.cosine_similarity(p2, z1.detach()).mean()
                )
                / 2
            )
            error = (nn.functional.mse_loss(r1, clean_a) + nn.functional.mse_loss(r2, clean_b)) / 2
            optimiser.zero_grad()
            (similarity + config.reconstruction * error).backward()
            optimiser.step()
            total += float(similarity.detach())
            rebuilt += float(error.detach())
        with torch.no_grad():  # collapse check: spread of the normalised projections
            z = nn.functional.normalize(z1, dim=1).movedim(1, -1).reshape(-1, z1.shape[1])
            spread = float(z.std(dim=0).mean())
        history.append(
            {
                "epoch": epoch + 1,
                "loss": total / config.steps,
                "reconstruction": rebuilt / config.steps,
                "z_std": spread,
            }
        )
    return net.eval(), history
