"""lstm_classify: crop types from 12 monthly Sentinel-2 composites with an LSTM.

An openEO Python UDF (`apply_datacube`) and the implementation of cropcube's
`lstm_classify` process, after Paris, Weikmann and Bruzzone (SPIE 2020): per pixel, the
12 monthly composites of nine bands (B02 B03 B04 B05 B06 B07 B8A B11 B12, reflectance x
10000 as in TimeSen2Crop) go through an LSTM whose last state gives 16 class logits.
Self-contained (numpy, torch, xarray, dask), so the file also runs through the openeo
client's local UDF runner; the model is a single torch file holding the weights, the
configuration, the class names and the normalisation statistics.
"""

import threading

import numpy as np
import torch
import xarray
from torch import nn

from core.classes import class_table

BANDS = ("B02", "B03", "B04", "B05", "B06", "B07", "B8A", "B11", "B12")
N_MONTHS = 12
SCALE = 10000.0  # TimeSen2Crop stores reflectance x 10000
FORMAT = "cropcube-lstm/1"
OUTPUTS = ("class", "confidence", "probabilities")
ENGINES = ("torch", "onnxruntime")
CLASS_NODATA = 255
_EXPORT_LOCK = threading.Lock()
BATCH = 8192  # pixels per forward pass: bounds the LSTM activations (~100 MB)


class CropLSTM(nn.Module):
    """LSTM over the months; the last output and the mean over months feed a linear head.

    Inputs are (pixels, months, bands) reflectance x 10000; the stored mean and std
    normalise them, so a model file carries everything its inference needs.
    """

    def __init__(
        self,
        n_bands: int = len(BANDS),
        n_classes: int = 16,
        hidden: int = 64,
        layers: int = 2,
        dropout: float = 0.2,
    ):
        super().__init__()
        self.config = {
            "n_bands": n_bands,
            "n_classes": n_classes,
            "hidden": hidden,
            "layers": layers,
            "dropout": dropout,
        }
        self.register_buffer("mean", torch.zeros(n_bands))
        self.register_buffer("std", torch.ones(n_bands))
        self.lstm = nn.LSTM(
            n_bands,
            hidden,
            num_layers=layers,
            batch_first=True,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * hidden, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm((x - self.mean) / self.std)
        return self.head(torch.cat([out[:, -1], out.mean(dim=1)], dim=1))


class LSTMModel:
    """A trained network with the class names and band order it was trained on."""

    def __init__(
        self, network: CropLSTM, classes: list[str], bands: tuple = BANDS, meta: dict | None = None
    ):
        self.network = network.eval()
        self.classes = list(classes)
        self.bands = tuple(bands)
        self.meta = dict(meta or {})

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "config": self.network.config,
            "classes": self.classes,
            "bands": list(self.bands),
            "meta": self.meta,
            "state_dict": self.network.state_dict(),
        }

    def stac_mlm(self) -> dict:
        """This model's STAC MLM fields: name, architecture, task, inputs and outputs."""
        months = 12
        return {
            "mlm:name": "cropcube LSTM crop classifier",
            "mlm:architecture": "LSTM",
            "mlm:tasks": ["classification"],
            "mlm:input": [
                {
                    "name": "monthly composites",
                    "bands": list(self.bands),
                    "input": {
                        "shape": [-1, months, len(self.bands)],
                        "dim_order": ["batch", "time", "bands"],
                        "data_type": "float32",
                    },
                    "description": "12 monthly composites (monthly_composite) of the bands, "
                    "reflectance x 10000; normalisation is inside the model",
                }
            ],
            "mlm:output": [
                {
                    "name": "crop class",
                    "tasks": ["classification"],
                    "result": {
                        "shape": [-1, len(self.classes)],
                        "dim_order": ["batch", "class"],
                        "data_type": "float32",
                    },
                    "classification:classes": class_table(self.classes),
                }
            ],
        }

    def save(self, path) -> None:
        torch.save(self.to_dict(), path)

    @classmethod
    def from_dict(cls, blob: dict) -> "LSTMModel":
        if blob.get("format") != FORMAT:
            raise ValueError(f"not a cropcube LSTM model (format {blob.get('format')!r})")
        network = CropLSTM(**blob["config"])
        network.load_state_dict(blob["state_dict"])
        return cls(network, blob["classes"], tuple(blob["bands"]), blob.get("meta"))

    @classmethod
    def load(cls, path) -> "LSTMModel":
        return cls.from_dict(torch.load(path, map_location="cpu", weights_only=True))

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_session", None)  # ONNX Runtime sessions do not pickle; rebuilt on use
        return state

    def onnx_session(self, threads: int = 1):
        """An ONNX Runtime session of the network, exported once per process."""
        with _EXPORT_LOCK:  # torch's exporter keeps global state: one export at a time
            return self.__dict__.get("_session") or self._new_session(threads)

    def _new_session(self, threads: int):
        import io
        import warnings

        import onnxruntime as ort

        buf = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                self.network,
                torch.zeros(2, N_MONTHS, len(self.bands)),
                buf,
                input_names=["x"],
                output_names=["logits"],
                dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}},
                dynamo=False,
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            buf.getvalue(), options, providers=["CPUExecutionProvider"]
        )
        return self._session

    def predict_proba(self, x: np.ndarray, engine: str = "torch") -> np.ndarray:
        """(pixels, months, bands) reflectance x 10000 -> (pixels, classes) probabilities.

        engine "onnxruntime" runs the same network in ONNX Runtime (faster on CPU).
        """
        out = np.empty((len(x), len(self.classes)), np.float32)
        session = self.onnx_session() if engine == "onnxruntime" else None
        with torch.inference_mode():
            for i in range(0, len(x), BATCH):
                batch = np.ascontiguousarray(x[i : i + BATCH])
                if session is not None:
                    logits = torch.from_numpy(session.run(None, {"x": batch})[0])
                else:
                    logits = self.network(torch.from_numpy(batch))
                out[i : i + BATCH] = torch.softmax(logits, dim=1).numpy()
        return out


def bundled(name: str) -> LSTMModel:
    """A model shipped in udfs/models/lstm_<name>/ (e.g. 'demo'), loaded once per process.

    Bundled models live in the installed package (udfs/models), so this needs it.
    """
    from udfs import bundles

    return bundles.load("lstm", name, LSTMModel.load)


def features(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(months, bands, y, x) reflectance -> (pixels, months, bands) x 10000 and a valid mask."""
    t, b, ny, nx = block.shape
    x = np.ascontiguousarray(block.reshape(t, b, ny * nx).transpose(2, 0, 1), np.float32)
    valid = np.isfinite(x).all(axis=(1, 2))
    x = np.where(valid[:, None, None], x, 0.0).astype(np.float32) * np.float32(SCALE)
    return x, valid


def _output_labels(classes: list[str], outputs: tuple) -> list[str]:
    labels = []
    if "class" in outputs:
        labels.append("class")
    if "confidence" in outputs:
        labels.append("confidence")
    if "probabilities" in outputs:
        labels += [f"probability:{name}" for name in classes]
    return labels


def classify_block(
    block: np.ndarray, model: LSTMModel, outputs: tuple, threads: int = 1, engine: str = "torch"
) -> np.ndarray:
    """One spatial block (months, bands, y, x) -> (outputs, y, x)."""
    torch.set_num_threads(threads)
    _, _, ny, nx = block.shape
    x, valid = features(np.asarray(block))
    proba = np.full((len(x), len(model.classes)), np.nan, np.float32)
    if valid.any():
        proba[valid] = model.predict_proba(x[valid], engine)
    layers = []
    only_class = tuple(outputs) == ("class",)
    if "class" in outputs:
        cls = np.where(valid, np.argmax(np.nan_to_num(proba, nan=-1.0), axis=1), CLASS_NODATA)
        layers.append(cls.astype(np.uint8 if only_class else np.float32))
    if "confidence" in outputs:
        layers.append(np.where(valid, np.max(np.nan_to_num(proba), axis=1), np.nan))
    if "probabilities" in outputs:
        layers += list(proba.T)
    dtype = np.uint8 if only_class else np.float32
    return np.stack(layers).astype(dtype).reshape(len(layers), ny, nx)


def check_cube(cube: xarray.DataArray, bands: tuple = BANDS) -> xarray.DataArray:
    """The cube as (t, bands, y, x) with the model's bands in order, or a ValueError."""
    missing_dims = [d for d in ("t", "bands", "y", "x") if d not in cube.dims]
    if missing_dims:
        raise ValueError(
            f"the cube lacks the dimension(s) {missing_dims}; lstm_classify "
            "needs monthly composites with t, bands, y and x"
        )
    if cube.sizes["t"] != N_MONTHS:
        raise ValueError(
            f"the cube has {cube.sizes['t']} time steps; lstm_classify needs "
            f"the {N_MONTHS} monthly composites of one year (monthly_composite)"
        )
    have = [str(b) for b in cube["bands"].values]
    missing = [b for b in bands if b not in have]
    if missing:
        raise ValueError(f"the cube lacks the band(s) {missing}; the model needs {list(bands)}")
    return cube.sel(bands=list(bands)).transpose("t", "bands", "y", "x")


def classify(
    cube: xarray.DataArray,
    model: "LSTMModel | str" = "demo",
    outputs=("class",),
    threads: int = 1,
    engine: str = "torch",
) -> xarray.DataArray:
    """Class map (and on request confidence and probabilities) of a monthly-composite cube.

    Lazy and chunked along x and y when the cube is dask-backed; `threads` torch threads
    per chunk, as the chunks themselves run in parallel.
    """
    import dask.array as da

    if isinstance(model, str):
        model = bundled(model)
    outputs = tuple(outputs)
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {list(ENGINES)}")
    unknown = [o for o in outputs if o not in OUTPUTS]
    if unknown or not outputs:
        raise ValueError(f"output must be a non-empty list of {list(OUTPUTS)}")
    cube = check_cube(cube, model.bands)
    labels = _output_labels(model.classes, outputs)
    dtype = np.uint8 if outputs == ("class",) else np.float32
    data = cube.data
    if isinstance(data, da.Array):
        data = data.rechunk({0: -1, 1: -1})
        result = da.map_blocks(
            classify_block,
            data,
            model,
            outputs,
            threads,
            engine,
            dtype=dtype,
            drop_axis=0,
            chunks=((len(labels),), data.chunks[2], data.chunks[3]),
        )
    else:
        result = classify_block(np.asarray(data, np.float32), model, outputs, threads, engine)
    coords = {
        k: v
        for k, v in cube.coords.items()
        if k not in ("t", "bands") and "t" not in v.dims and "bands" not in v.dims
    }
    coords["bands"] = labels
    attrs = {**cube.attrs, "classification:classes": class_table(model.classes)}
    return xarray.DataArray(
        result, dims=("bands", "y", "x"), coords=coords, attrs=attrs, name="lstm_classify"
    )


def apply_datacube(cube: xarray.DataArray, context: dict) -> xarray.DataArray:
    """openEO UDF entry point; context: model (bundled name or path), output (list),
    engine ("torch" or "onnxruntime")."""
    context = dict(context or {})
    model = context.get("model", "demo")
    if isinstance(model, str) and model.endswith(".pt"):
        model = LSTMModel.load(model)
    return classify(
        cube, model, tuple(context.get("output", ("class",))), engine=context.get("engine", "torch")
    )
