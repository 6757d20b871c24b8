"""Training the U-Net of unet_segment: supervised fine-tuning and SimSiam pre-training.

Patches are random squares of a random image of the training area, flipped and rotated at
random. The supervised loss is cross-entropy over labelled pixels, or for a multi-label
model binary cross-entropy per label over the pixels where that label is known; early
stopping on the validation area's mIoU (multi-label: mean F1), computed with the same
tiled inference the process runs, and a multi-label model's threshold per label is the one
with the best F1 on the validation area. `label_fraction` < 1 keeps the labels of that
share of the training area only, in 32 px blocks, to measure what pre-training is worth
with few labels. A dense SimSiam (Chen and He, CVPR 2021) pre-trains the encoder alone on
unlabelled patches: two views of a place (crops a few pixels apart, from two dates of a
scene of several, the season shifted for a 12-month image; one gain, noise), a per-pixel
projector and predictor, the negative cosine similarity with a stop-gradient, and a
reconstruction term that keeps the pixel profiles.
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
VAL_IMAGES = 16  # images of a scene of many scored after each epoch (all at the end)


def widths_of(text: str) -> tuple[int, ...]:
    return tuple(int(w) for w in str(text).split(","))


def normalisation(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of (n, c, y, x) raw values (NaN read as 0, as at
    inference), channel by channel: no copy of the whole stack."""
    mean, std = np.empty(images.shape[1]), np.empty(images.shape[1])
    for i in range(images.shape[1]):
        values = np.nan_to_num(images[:, i], nan=0.0)
        mean[i], std[i] = values.mean(), max(float(values.std()), 1e-6)
    return mean, std


def _augment(x: np.ndarray, y: np.ndarray | None, rng: np.random.Generator):
    k = int(rng.integers(4))
    x = np.rot90(x, k, axes=(-2, -1))
    y = None if y is None else np.rot90(y, k, axes=(-2, -1))
    if rng.random() < 0.5:
        x = x[..., ::-1]
        y = None if y is None else y[..., ::-1]
    return np.ascontiguousarray(x), None if y is None else np.ascontiguousarray(y)


def patches(
    images: np.ndarray, labels: np.ndarray, rng: np.random.Generator, n: int, size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """n random (c, size, size) patches of random images with their labels, rotated and
    flipped; only patches with a labelled pixel."""
    xs, ys = [], []
    h, w = images.shape[-2:]
    while len(xs) < n:
        i = int(rng.integers(len(images)))
        r, c = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
        y = labels[i, ..., r : r + size, c : c + size]
        if (y != 255).any():
            x, y = _augment(images[i, :, r : r + size, c : c + size], y, rng)
            xs.append(x)
            ys.append(y)
    x = np.nan_to_num(np.stack(xs), nan=0.0).astype(np.float32)
    return torch.from_numpy(x), torch.from_numpy(np.stack(ys).astype(np.int64))


def keep_fraction(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Labels of `fraction` of the BLOCK px blocks that hold labels; 255 elsewhere (the
    same blocks in every image and for every label)."""
    if fraction >= 1:
        return labels
    h, w = labels.shape[-2:]
    by, bx = np.indices((h, w))
    block = (by // BLOCK) * (w // BLOCK + 1) + bx // BLOCK
    known = (labels != 255).reshape(-1, h, w).any(axis=0)
    labelled = np.unique(block[known])
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


def f1_scores(truth: np.ndarray, yes: np.ndarray, labels: list[str]) -> dict:
    """(n, labels, ...) 0/1/255 truth against 0/1 answers: F1 per label (where the truth
    holds it somewhere), their mean, and the share of known (pixel, label) answers right."""
    per_label, right, known_total = {}, 0, 0
    for i, name in enumerate(labels):
        t, p = truth[:, i], yes[:, i].astype(bool)
        known = t != 255
        hit, truly = p & (t == 1), known & (t == 1)
        right += int(np.sum(known & (p == (t == 1))))
        known_total += int(known.sum())
        if truly.any():
            per_label[name] = float(2 * hit.sum() / (truly.sum() + (p & known).sum()))
    return {
        "mean_f1": float(np.mean(list(per_label.values()))),
        "f1_per_label": per_label,
        "accuracy": right / max(known_total, 1),
        "pixels": int((truth != 255).any(axis=1).sum()),
    }


def best_thresholds(truth: np.ndarray, proba: np.ndarray) -> list[float]:
    """Per label, the threshold (0.05 to 0.95) with the best F1 where the label is known."""
    cuts = np.arange(0.05, 0.96, 0.05)
    chosen = []
    for i in range(truth.shape[1]):
        t, p = truth[:, i], proba[:, i]
        known = (t != 255) & np.isfinite(p)
        t, p = t[known] == 1, p[known]
        if not t.any():
            chosen.append(0.5)
            continue
        f1 = [2 * np.sum(t & (p >= c)) / (t.sum() + np.sum(p >= c)) for c in cuts]
        chosen.append(round(float(cuts[int(np.argmax(f1))]), 2))
    return chosen


def _flat(model: us.UNetModel, channels: int) -> us.UNetModel:
    """The model reading channels named c0, c1, ... as one date."""
    names = tuple(f"c{i}" for i in range(channels))
    return us.UNetModel(model.network, model.classes, names, 1, model.meta)


def predict(
    model: us.UNetModel,
    images: np.ndarray,
    outputs: tuple = ("class",),
    tile: int = 128,
    overlap: int = 32,
) -> np.ndarray:
    """(n, outputs, y, x) for (n, c, y, x) images, through the tiled inference of the
    process."""
    import xarray as xr

    flat = _flat(model, images.shape[1])
    return np.stack(
        [
            us.segment(
                xr.DataArray(image, dims=("bands", "y", "x"), coords={"bands": list(flat.bands)}),
                flat,
                outputs,
                tile,
                overlap,
            ).values
            for image in images
        ]
    )


def evaluate(
    model: us.UNetModel,
    scene: Scene,
    part: str,
    tile: int = 128,
    overlap: int = 32,
    images: slice | list | None = None,
) -> dict:
    """Scores on one area over its images (all, or those picked), through the tiled
    inference of the process: mIoU and overall accuracy, or for a multi-label model F1
    per label at its thresholds."""
    channels, labels = scene.part(part)
    picked = slice(None) if images is None else images
    channels, labels = channels[picked], labels[picked]
    if model.multilabel:
        yes = predict(model, channels, ("labels",), tile, overlap)
        return f1_scores(labels, yes, scene.classes)
    pred = predict(model, channels, ("class",), tile, overlap)[:, 0]
    return iou_scores(labels, pred, scene.classes)


def _some(n: int) -> list[int]:
    """At most VAL_IMAGES of n images, evenly spread."""
    return sorted({int(i) for i in np.linspace(0, n - 1, min(n, VAL_IMAGES))})


def new_network(scene: Scene, widths: tuple, norm: str, dropout: float) -> us.UNet:
    net = us.UNet(
        scene.channels.shape[1], len(scene.classes), widths, norm, dropout, scene.multilabel
    )
    mean, std = normalisation(scene.part("train")[0])
    net.mean.copy_(torch.from_numpy(mean))
    net.std.copy_(torch.from_numpy(std))
    return net


class _MaskedBCE(nn.Module):
    """Binary cross-entropy per label over the (pixel, label) pairs whose truth is known."""

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        known = target != 255
        return nn.functional.binary_cross_entropy_with_logits(
            logits[known], target[known].to(logits.dtype)
        )


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
    validation area's mIoU (multi-label: mean F1, then a threshold per label); `pretrained`
    is part of a U-Net's state dict (a backbone's, see `pretrained_part`), whose weights
    learn at `encoder_lr` times the rate."""
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
    loss_fn = _MaskedBCE() if scene.multilabel else nn.CrossEntropyLoss(ignore_index=255)
    model = us.UNetModel(net, scene.classes, scene.bands, scene.times)
    some = _some(len(scene.channels))
    score = "val_mean_f1" if scene.multilabel else "val_miou"
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
        val = evaluate(model, scene, "val", images=some)
        value = val["mean_f1"] if scene.multilabel else val["miou"]
        history.append({"epoch": epoch + 1, "loss": total / config.steps, score: value})
        if stopper.update(value, net):
            break
    stopper.restore(net)
    model.meta.update(
        {
            "config": asdict(config),
            "epochs_run": len(history),
            f"best_{score}": stopper.best_score,
            "pretrained": pretrained is not None,
        }
    )
    if scene.multilabel:
        val_images, val_labels = scene.part("val")
        proba = predict(model, val_images, ("probabilities",))
        model.meta["thresholds"] = best_thresholds(val_labels, proba)
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


def _pair(images: np.ndarray, times: int, config: SSLConfig, rng: np.random.Generator):
    """Two crops of one place up to `shift` px apart (compared position by position, so
    neighbouring pixels, mostly of one field, are pulled together), from two different
    images (dates) where the scene has several, rotated and flipped alike: (view a,
    view b, clean a, clean b)."""
    n, _, h, w = images.shape
    side = config.patch + config.shift
    r, c = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    first = int(rng.integers(n))
    second = (first + int(rng.integers(1, n))) % n if n > 1 else first
    crops = images[[first, second], :, r : r + side, c : c + side]
    x, _ = _augment(np.nan_to_num(crops, nan=0.0), None, rng)
    (ya, xa), (yb, xb) = rng.integers(0, config.shift + 1, (2, 2))
    a = x[0, :, ya : ya + config.patch, xa : xa + config.patch]
    b = x[1, :, yb : yb + config.patch, xb : xb + config.patch]
    return _view(a, times, config, rng), _view(b, times, config, rng), a, b


def fit_simsiam(
    scene: Scene, config: SSLConfig, parts: tuple = ("train", "val"), progress: bool = False
) -> tuple[us.UNet, list[dict]]:
    """Pre-train a U-Net's encoder on unlabelled patches of the given areas (of every image
    of the scene: for a single-scene model, every date); returns the network (encoder
    trained, decoder untouched, normalisation set) and the history.

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
    images = scene.channels[..., rows, :]
    mean, std = net.mean.numpy()[:, None, None], net.std.numpy()[:, None, None]
    siam = DenseSimSiam(net.encoder, widths, images.shape[1], config.projection)
    optimiser = torch.optim.AdamW(siam.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    history = []
    for epoch in tqdm(range(config.epochs), desc="simsiam", unit="epoch", disable=not progress):
        siam.train()
        total = rebuilt = 0.0
        for _ in range(config.steps):
            pairs = [_pair(images, scene.times, config, rng) for _ in range(config.batch_size)]
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
