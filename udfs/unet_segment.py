"""unet_segment: pixel-level segmentation of Sentinel-2 patches with a U-Net.

An openEO Python UDF (`apply_datacube`) and the implementation of cropcube's
`unet_segment` process. The cube's bands (and, for a model trained on several dates, its
time steps, laid into channels date by date) go through a U-Net in tiles of `tile_size`
pixels that overlap by `overlap`; the tiles' probabilities are blended with weights that
fall linearly towards each tile's edge. The tile grid is anchored at the cube's corner and
every output chunk reads exactly the tiles that cover it, so results do not depend on how
the cube is chunked. A multi-label model (one sigmoid per label) gives a 0/1 band per
label, cut at the thresholds chosen on its validation area. Self-contained (numpy, torch,
xarray, dask), so the file also runs through the openeo client's local UDF runner.
"""

import numpy as np
import torch
import xarray
from torch import nn

from core.classes import class_table

FORMAT = "cropcube-unet/1"
BANDS = ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")
NORMS = ("batch", "group", "none")
OUTPUTS = ("class", "labels", "confidence", "probabilities")
# The bundled model a cube gets when none is named, by its number of dates.
DEFAULT_MODELS = {12: "demo", 1: "scene_demo"}
CLASS_NODATA = 255
BATCH_TILES = 8  # tiles per forward pass
# Output blocks: tiles straddling their edges are computed once per block, so as large as
# memory allows (the input window of 120 channels at 768 px is 0.28 GB; the class planes
# at most 128 MB; 2048 px at most), yet at least as many as the cores.
BLOCK_INPUT_BYTES = 120 * 768 * 768 * 4
BLOCK_CLASS_BYTES = 128 * 2**20
BLOCK_MAX_PX = 2048


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(min(8, channels), channels)
    return nn.Identity()


class _Block(nn.Sequential):
    """Two 3 x 3 convolutions, each with normalisation and ReLU."""

    def __init__(self, c_in: int, c_out: int, norm: str, dropout: float):
        super().__init__(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=norm == "none"),
            _norm(norm, c_out),
            nn.ReLU(inplace=True),
            nn.Dropout2d(dropout) if dropout else nn.Identity(),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=norm == "none"),
            _norm(norm, c_out),
            nn.ReLU(inplace=True),
        )


class Encoder(nn.Module):
    """The contracting half: what self-supervised pre-training trains, alone."""

    def __init__(self, in_channels: int, widths: tuple, norm: str, dropout: float):
        super().__init__()
        self.blocks = nn.ModuleList()
        c = in_channels
        for w in widths:
            self.blocks.append(_Block(c, w, norm, dropout))
            c = w
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        skips = []
        for i, block in enumerate(self.blocks):
            x = block(x if i == 0 else self.pool(x))
            skips.append(x)
        return skips


class UNet(nn.Module):
    """(n, channels, h, w) -> (n, classes, h, w) logits; h and w multiples of 2**(depth-1).

    `widths` gives the channels of each level (its length is the depth); inputs are
    normalised inside with stored per-channel mean and std.
    """

    def __init__(
        self,
        in_channels: int = len(BANDS),
        n_classes: int = 2,
        widths: tuple = (16, 32, 64, 128),
        norm: str = "batch",
        dropout: float = 0.0,
        multilabel: bool = False,
    ):
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}")
        widths = tuple(int(w) for w in widths)
        self.config = {
            "in_channels": in_channels,
            "n_classes": n_classes,
            "widths": list(widths),
            "norm": norm,
            "dropout": dropout,
            "multilabel": multilabel,
        }
        self.register_buffer("mean", torch.zeros(in_channels))
        self.register_buffer("std", torch.ones(in_channels))
        self.encoder = Encoder(in_channels, widths, norm, dropout)
        self.up = nn.ModuleList()
        self.decode = nn.ModuleList()
        for deep, shallow in zip(widths[:0:-1], widths[-2::-1], strict=True):
            self.up.append(nn.ConvTranspose2d(deep, shallow, 2, stride=2))
            self.decode.append(_Block(2 * shallow, shallow, norm, dropout))
        self.head = nn.Conv2d(widths[0], n_classes, 1)

    @property
    def multiple(self) -> int:
        return 2 ** (len(self.config["widths"]) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean[:, None, None]) / self.std[:, None, None]
        skips = self.encoder(x)
        x = skips[-1]
        for up, decode, skip in zip(self.up, self.decode, skips[-2::-1], strict=True):
            x = decode(torch.cat([up(x), skip], dim=1))
        return self.head(x)

    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        logits = self(x)
        return torch.sigmoid(logits) if self.config["multilabel"] else logits.softmax(dim=1)


class UNetModel:
    """A trained U-Net with its classes, input bands and number of dates."""

    def __init__(
        self,
        network: UNet,
        classes: list[str],
        bands: tuple = BANDS,
        times: int = 1,
        meta: dict | None = None,
    ):
        self.network = network.eval()
        self.classes = list(classes)
        self.bands = tuple(bands)
        self.times = int(times)
        self.meta = dict(meta or {})

    @property
    def multilabel(self) -> bool:
        return bool(self.network.config["multilabel"])

    @property
    def thresholds(self) -> np.ndarray:
        """Per label, the probability from which a multi-label model says yes (chosen on
        validation; 0.5 where none was chosen)."""
        chosen = self.meta.get("thresholds") or [0.5] * len(self.classes)
        return np.asarray(chosen, np.float32)

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "config": self.network.config,
            "classes": self.classes,
            "bands": list(self.bands),
            "times": self.times,
            "meta": self.meta,
            "state_dict": self.network.state_dict(),
        }

    def stac_mlm(self) -> dict:
        """This model's STAC MLM fields: name, architecture, task, inputs and outputs."""
        channels = self.network.config["in_channels"]
        output = {
            "name": "labels" if self.multilabel else "classes",
            "tasks": ["semantic-segmentation"],
            "result": {
                "shape": [-1, len(self.classes), -1, -1],
                "dim_order": ["batch", "class", "height", "width"],
                "data_type": "float32",
            },
            "classification:classes": class_table(self.classes),
        }
        if self.multilabel:  # MLM has no multi-label task: the output says it
            output["description"] = (
                "multi-label: one sigmoid per label, several can hold at once; a label "
                "holds where its probability reaches its threshold"
            )
            output["post_processing_function"] = {
                "format": "python",
                "expression": "sigmoid(logits) >= "
                + str([round(float(t), 4) for t in self.thresholds]),
            }
        return {
            "mlm:name": "cropcube U-Net segmenter",
            "mlm:architecture": "U-Net",
            "mlm:tasks": ["semantic-segmentation"],
            "mlm:pretrained": bool(self.meta.get("pretrained")),
            "mlm:input": [
                {
                    "name": "bands laid into channels date by date",
                    "bands": list(self.bands),
                    "input": {
                        "shape": [-1, channels, -1, -1],
                        "dim_order": ["batch", "channel", "height", "width"],
                        "data_type": "float32",
                    },
                    "description": f"{self.times} date(s) x {len(self.bands)} bands, surface "
                    "reflectance; normalisation is inside the model",
                }
            ],
            "mlm:output": [output],
        }

    def save(self, path) -> None:
        torch.save(self.to_dict(), path)

    @classmethod
    def from_dict(cls, blob: dict) -> "UNetModel":
        if blob.get("format") != FORMAT:
            raise ValueError(f"not a cropcube U-Net model (format {blob.get('format')!r})")
        network = UNet(**blob["config"])
        network.load_state_dict(blob["state_dict"])
        return cls(
            network, blob["classes"], tuple(blob["bands"]), blob.get("times", 1), blob.get("meta")
        )

    @classmethod
    def load(cls, path) -> "UNetModel":
        return cls.from_dict(torch.load(path, map_location="cpu", weights_only=True))


def bundled(name: str) -> UNetModel:
    """A model shipped in udfs/models/unet_<name>/, loaded once per process.

    Bundled models live in the installed package (udfs/models), so this needs it.
    """
    from udfs import bundles

    return bundles.load("unet", name, UNetModel.load)


def tile_origins(length: int, tile: int, overlap: int) -> list[int]:
    """Tile starts along one axis: every tile - overlap pixels from 0, the last one flush
    with the end (one tile at 0 when the axis is shorter than a tile)."""
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile + 1, stride))
    if starts[-1] != length - tile:
        starts.append(length - tile)
    return starts


def blend_weights(tile: int, overlap: int) -> np.ndarray:
    """(tile, tile) weights: 1 inside, falling linearly over `overlap` pixels to the edges
    (never 0, so a pixel that only one tile's edge covers still gets a value)."""
    ramp = np.ones(tile, np.float32)
    if overlap:
        edge = (np.arange(overlap, dtype=np.float32) + 0.5) / overlap
        ramp[:overlap] = edge
        ramp[tile - overlap :] = edge[::-1]
    return np.outer(ramp, ramp)


def _window_probabilities(
    window: np.ndarray,
    model: UNetModel,
    row0: int,
    col0: int,
    rows: list[int],
    cols: list[int],
    tile: int,
    overlap: int,
    out_rows: tuple[int, int],
    out_cols: tuple[int, int],
) -> np.ndarray:
    """Blend the tiles at global origins rows x cols over the output block out_rows x
    out_cols; `window` holds the input from (row0, col0), covering all those tiles."""
    torch.set_num_threads(1)  # blocks run in parallel
    weights = blend_weights(tile, overlap)
    h, w = out_rows[1] - out_rows[0], out_cols[1] - out_cols[0]
    total = np.zeros((len(model.classes), h, w), np.float32)
    norm = np.zeros((h, w), np.float32)
    valid = np.ones(window.shape[1:], bool)
    for band in window:  # band by band: no full-size temporary
        valid &= np.isfinite(band)
    data = window
    pad_h, pad_w = max(0, tile - data.shape[1]), max(0, tile - data.shape[2])
    if pad_h or pad_w:  # a cube smaller than a tile: mirror it out to one tile
        data = np.pad(data, ((0, 0), (0, pad_h), (0, pad_w)), mode="reflect")
    origins = [(r, c) for r in rows for c in cols]
    for i in range(0, len(origins), BATCH_TILES):
        batch = origins[i : i + BATCH_TILES]
        x = np.stack(
            [data[:, r - row0 : r - row0 + tile, c - col0 : c - col0 + tile] for r, c in batch]
        ).astype(np.float32, copy=False)
        x[~np.isfinite(x)] = 0.0  # a copy already: cleaned in place, one pass
        with torch.inference_mode():
            prob = model.network.probabilities(torch.from_numpy(x)).numpy()
        for (r, c), p in zip(batch, prob, strict=True):
            # the part of this tile inside the output block
            r_lo, r_hi = max(r, out_rows[0]), min(r + tile, out_rows[1])
            c_lo, c_hi = max(c, out_cols[0]), min(c + tile, out_cols[1])
            if r_lo >= r_hi or c_lo >= c_hi:
                continue
            src = (slice(r_lo - r, r_hi - r), slice(c_lo - c, c_hi - c))
            dst = (
                slice(r_lo - out_rows[0], r_hi - out_rows[0]),
                slice(c_lo - out_cols[0], c_hi - out_cols[0]),
            )
            total[(slice(None),) + dst] += p[(slice(None),) + src] * weights[src]
            norm[dst] += weights[src]
    proba = total / np.maximum(norm, 1e-12)
    inside = valid[out_rows[0] - row0 : out_rows[1] - row0, out_cols[0] - col0 : out_cols[1] - col0]
    return np.where(inside, proba, np.nan).astype(np.float32)


def _outputs(proba: np.ndarray, outputs: tuple, thresholds: "np.ndarray | None") -> np.ndarray:
    """The requested layers of (classes, y, x) probabilities; `thresholds` for labels."""
    valid = np.isfinite(proba).all(axis=0)
    layers = []
    small = outputs in (("class",), ("labels",))  # uint8, 255 where the input is missing
    if "class" in outputs:
        cls = np.where(valid, np.argmax(np.nan_to_num(proba, nan=-1.0), axis=0), CLASS_NODATA)
        layers.append(cls.astype(np.uint8 if small else np.float32))
    if "labels" in outputs:
        yes = proba >= thresholds[:, None, None]  # NaN: no (and masked below)
        missing = CLASS_NODATA if small else np.nan
        layers += list(np.where(valid, yes, missing).astype(np.uint8 if small else np.float32))
    if "confidence" in outputs:
        layers.append(np.where(valid, np.nanmax(np.where(valid, proba, 0), axis=0), np.nan))
    if "probabilities" in outputs:
        layers += list(proba)
    return np.stack(layers).astype(np.uint8 if small else np.float32)


def channels_of(cube: xarray.DataArray, model: UNetModel) -> xarray.DataArray:
    """(channels, y, x): the model's bands, date by date, or a ValueError."""
    missing = [d for d in ("bands", "y", "x") if d not in cube.dims]
    if missing:
        raise ValueError(
            f"the cube lacks the dimension(s) {missing}; unet_segment needs "
            "bands, y and x (and t for a model of several dates)"
        )
    have = [str(b) for b in cube["bands"].values]
    lacking = [b for b in model.bands if b not in have]
    if lacking:
        raise ValueError(
            f"the cube lacks the band(s) {lacking}; the model needs {list(model.bands)}"
        )
    cube = cube.sel(bands=list(model.bands))
    times = cube.sizes.get("t", 1)
    if times != model.times:
        raise ValueError(f"the cube has {times} time step(s); the model needs {model.times}")
    if "t" in cube.dims:
        cube = cube.transpose("t", "bands", "y", "x")
        data = cube.data
        if hasattr(data, "rechunk"):
            data = data.rechunk({0: -1, 1: -1})
        stacked = data.reshape((times * len(model.bands),) + cube.data.shape[2:])
        return xarray.DataArray(
            stacked, dims=("c", "y", "x"), coords={"y": cube["y"], "x": cube["x"]}, attrs=cube.attrs
        )
    return cube.transpose("bands", "y", "x").rename(bands="c")


def default_model(cube: xarray.DataArray) -> str:
    """The bundled model for a cube of this many dates, or a ValueError."""
    times = cube.sizes.get("t", 1)
    if times not in DEFAULT_MODELS:
        raise ValueError(
            f"the cube has {times} time step(s); the bundled models take "
            + " or ".join(f"{n} ({name})" for n, name in sorted(DEFAULT_MODELS.items()))
        )
    return DEFAULT_MODELS[times]


def default_outputs(model: UNetModel) -> tuple:
    return ("labels",) if model.multilabel else ("class",)


def outputs_problem(model: UNetModel, outputs: tuple) -> "str | None":
    """Why a model cannot give these outputs, or None."""
    if "class" in outputs and model.multilabel:
        return "a multi-label model gives labels, not a class"
    if "labels" in outputs and not model.multilabel:
        return "labels come from a multi-label model; this one gives a class"
    return None


def block_shape(
    ny: int, nx: int, channels: int, classes: int, cores: int | None = None
) -> tuple[int, int]:
    """Rows and columns of the output blocks: as large as BLOCK_INPUT_BYTES,
    BLOCK_CLASS_BYTES and BLOCK_MAX_PX allow (fewer tiles straddle their edges), at least
    one block per core where the cube is large enough, the blocks along an axis about equal
    (multiples of 32 px)."""
    from dask.system import CPU_COUNT

    largest = min(
        BLOCK_MAX_PX,
        int((BLOCK_INPUT_BYTES / (4 * channels)) ** 0.5),
        int((BLOCK_CLASS_BYTES / (4 * max(classes, 1))) ** 0.5),
    )
    n_y, n_x = -(-ny // largest), -(-nx // largest)
    while n_y * n_x < (cores or CPU_COUNT) and (n_y < ny // 64 or n_x < nx // 64):
        if ny / n_y >= nx / n_x:
            n_y += 1
        else:
            n_x += 1
    return _up32(-(-ny // n_y)), _up32(-(-nx // n_x))


def _up32(n: int) -> int:
    return -(-n // 32) * 32


def segment(
    cube: xarray.DataArray,
    model: "UNetModel | str | None" = None,
    outputs: "tuple | None" = None,
    tile_size: int = 128,
    overlap: int = 32,
    block_px: "int | str | None" = "auto",
) -> xarray.DataArray:
    """Class map or label bands (and on request confidence and per-class probabilities)
    of a cube, by default from the bundled model for its number of dates; lazy when the
    cube is dask-backed: each output block (`block_shape`'s, or block_px square, or the
    cube's own chunks with None) computes the tiles that cover it."""
    import dask
    import dask.array as da

    if model is None:
        model = default_model(cube)
    if isinstance(model, str):
        model = bundled(model)
    outputs = tuple(outputs) if outputs else default_outputs(model)
    if any(o not in OUTPUTS for o in outputs):
        raise ValueError(f"output must be a non-empty list of {list(OUTPUTS)}")
    problem = outputs_problem(model, outputs)
    if problem:
        raise ValueError(problem)
    m = model.network.multiple
    if tile_size % m or tile_size < m:
        raise ValueError(f"tile_size must be a positive multiple of {m} for this model")
    if not 0 <= overlap <= tile_size // 2:
        raise ValueError("overlap must be from 0 to half the tile size")
    stack = channels_of(cube, model)
    ny, nx = stack.sizes["y"], stack.sizes["x"]
    tile_h, tile_w = tile_size, tile_size
    rows_all, cols_all = tile_origins(ny, tile_h, overlap), tile_origins(nx, tile_w, overlap)
    labels = (
        (["class"] if "class" in outputs else [])
        + ([f"label:{c}" for c in model.classes] if "labels" in outputs else [])
        + (["confidence"] if "confidence" in outputs else [])
        + ([f"probability:{c}" for c in model.classes] if "probabilities" in outputs else [])
    )
    dtype = np.uint8 if outputs in (("class",), ("labels",)) else np.float32
    cuts = model.thresholds if model.multilabel else None
    data = stack.data
    lazy = isinstance(data, da.Array)
    if lazy and block_px:
        rows, cols = (
            block_shape(ny, nx, data.shape[0], len(model.classes))
            if block_px == "auto"
            else (block_px, block_px)
        )
        data = data.rechunk({0: -1, 1: rows, 2: cols})
    row_chunks = data.chunks[1] if lazy else (ny,)
    col_chunks = data.chunks[2] if lazy else (nx,)

    def block(r0: int, r1: int, c0: int, c1: int):
        rows = [r for r in rows_all if r < r1 and r + tile_h > r0]
        cols = [c for c in cols_all if c < c1 and c + tile_w > c0]
        win_r = (rows[0], min(rows[-1] + tile_h, ny))
        win_c = (cols[0], min(cols[-1] + tile_w, nx))
        window = data[:, win_r[0] : win_r[1], win_c[0] : win_c[1]]
        args = (model, win_r[0], win_c[0], rows, cols, tile_size, overlap, (r0, r1), (c0, c1))
        if lazy:
            proba = dask.delayed(_window_probabilities)(window, *args)
            out = dask.delayed(_outputs)(proba, outputs, cuts)
            return da.from_delayed(out, (len(labels), r1 - r0, c1 - c0), dtype=dtype)
        return _outputs(_window_probabilities(np.asarray(window, np.float32), *args), outputs, cuts)

    edges_r = np.concatenate([[0], np.cumsum(row_chunks)])
    edges_c = np.concatenate([[0], np.cumsum(col_chunks)])
    grid = [
        [
            block(int(edges_r[i]), int(edges_r[i + 1]), int(edges_c[j]), int(edges_c[j + 1]))
            for j in range(len(col_chunks))
        ]
        for i in range(len(row_chunks))
    ]
    result = da.block(grid) if lazy else grid[0][0]
    coords = {k: v for k, v in stack.coords.items() if k in ("y", "x")}
    coords["bands"] = labels
    attrs = dict(cube.attrs)
    if "class" in outputs or "labels" in outputs:
        attrs["classification:classes"] = class_table(model.classes)
    return xarray.DataArray(
        result, dims=("bands", "y", "x"), coords=coords, attrs=attrs, name="unet_segment"
    )


def apply_datacube(cube: xarray.DataArray, context: dict) -> xarray.DataArray:
    """openEO UDF entry point; context: model (bundled name or path to a model.pt; by
    default the bundled model for the cube's dates), output (list), tile_size, overlap."""
    context = dict(context or {})
    model = context.get("model")
    if isinstance(model, str) and model.endswith(".pt"):
        model = UNetModel.load(model)
    return segment(
        cube,
        model,
        context.get("output"),
        context.get("tile_size", 128),
        context.get("overlap", 32),
    )
