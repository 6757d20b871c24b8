"""Models shipped in udfs/models/<kind>_<name>/model.pt, loaded once per process."""

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

MODELS = Path(__file__).resolve().parent / "models"


@lru_cache(maxsize=16)
def load(kind: str, name: str, loader: Callable[[Path], Any]) -> Any:
    """The bundled model `name` of a kind ('lstm', 'ndvi', 'unet'), or a ValueError that
    lists the bundled ones."""
    path = MODELS / f"{kind}_{name}" / "model.pt"
    if not path.is_file():
        known = sorted(
            p.parent.name.removeprefix(f"{kind}_") for p in MODELS.glob(f"{kind}_*/model.pt")
        )
        raise ValueError(f"no bundled {kind_label(kind)} model '{name}'; bundled: {known}")
    return loader(path)


def kind_label(kind: str) -> str:
    return {"lstm": "LSTM", "ndvi": "NDVI", "unet": "U-Net"}.get(kind, kind)
