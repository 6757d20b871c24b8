"""Training settings, importable without torch (the command line lists them as options)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LSTMConfig:
    """Network and optimiser settings; every field is a `cropcube train lstm` option."""

    hidden: int = 64
    layers: int = 2
    dropout: float = 0.3
    epochs: int = 60
    patience: int = 15
    batch_size: int = 512
    lr: float = 1e-3
    weight_decay: float = 1e-4
    max_per_group: int = 400  # training pixels drawn per parcel/tile group and epoch
    augment: float = 0.1  # sd of a random gain per pixel and band (0: none)
    refit: bool = True  # then train on train + validation for the early-stopped epochs
    seed: int = 0


@dataclass
class NDVIConfig:
    """NDVI forecaster settings; every field is a `cropcube train ndvi` option."""

    hidden: int = 32
    layers: int = 1
    dropout: float = 0.1
    history: int = 12  # observed months a forecast reads
    min_history: int = 0  # >0: forecast windows see L of them, L from this to `history`
    calendar: bool = True  # calendar month as an input
    epochs: int = 40
    patience: int = 6
    steps: int = 200  # batches per epoch, each of fresh random windows
    batch_size: int = 512
    lr: float = 3e-3
    weight_decay: float = 1e-4
    gap_fraction: float = 0.2  # clear months hidden in a gap-filling window
    forecast_share: float = 0.5  # windows that hide the last 6 months instead
    threads: int = 1  # torch threads: one is fastest for this small network (measured)
    seed: int = 0


@dataclass
class UNetConfig:
    """U-Net settings; every field is a `cropcube train unet` option."""

    widths: str = "16,32,64"  # channels per level, comma-separated (the depth is their count)
    norm: str = "batch"
    dropout: float = 0.1
    patch: int = 64  # training patch side in pixels
    batch_size: int = 16
    steps: int = 50  # batches per epoch
    epochs: int = 40
    patience: int = 8
    lr: float = 2e-3
    weight_decay: float = 1e-4
    label_fraction: float = 1.0  # share of the training area whose labels are used
    encoder_lr: float = 1.0  # learning rate factor of the pre-trained weights (README)
    threads: int = 2
    seed: int = 0


@dataclass
class SSLConfig:
    """Self-supervised (SimSiam) pre-training settings of `cropcube train unet-ssl`."""

    widths: str = "16,32,64"
    norm: str = "batch"
    patch: int = 32  # side of each view (a multiple of 2**(depth-1))
    shift: int = 8  # the two views of a place are up to this many pixels apart
    time_shift: float = 0.3  # season shifted by up to this share of a month per view
    gain: float = 0.15  # one random gain per view in [1 - gain, 1 + gain]
    noise: float = 0.005  # reflectance noise per view
    reconstruction: float = 1.0  # weight of rebuilding the clean input (0: SimSiam alone)
    batch_size: int = 32
    steps: int = 50
    epochs: int = 15
    lr: float = 2e-3
    weight_decay: float = 1e-4
    projection: int = 128
    threads: int = 2
    seed: int = 0
