"""Surface reflectance of the simulated materials in the ten Sentinel-2 L2A reflectance bands.

Values follow typical library spectra (soil, green and senescent vegetation, water, asphalt,
snow, cloud). Crop classes differ beyond phenology through canopy structure (near-infrared),
leaf water (short-wave infrared) and pigments (red edge), as real crops do.
"""

from __future__ import annotations

import numpy as np

from core.classes import FOREST, ROAD, SETTLEMENT, WATER

BANDS = ["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"]

SOIL = np.array([0.075, 0.105, 0.135, 0.165, 0.185, 0.200, 0.220, 0.235, 0.310, 0.270])
GREEN = np.array([0.030, 0.070, 0.035, 0.110, 0.300, 0.390, 0.430, 0.445, 0.210, 0.105])
DRY = np.array([0.070, 0.100, 0.125, 0.175, 0.230, 0.260, 0.280, 0.295, 0.370, 0.300])
YELLOW = np.array([0.040, 0.160, 0.110, 0.200, 0.330, 0.400, 0.430, 0.440, 0.220, 0.110])
WATER_SPEC = np.array([0.060, 0.065, 0.045, 0.035, 0.022, 0.018, 0.012, 0.011, 0.006, 0.004])
ASPHALT = np.array([0.090, 0.100, 0.110, 0.120, 0.125, 0.130, 0.140, 0.142, 0.160, 0.150])
ROOFS = np.array([0.110, 0.125, 0.150, 0.170, 0.185, 0.195, 0.210, 0.215, 0.260, 0.230])
CONIFER = np.array([0.020, 0.045, 0.022, 0.075, 0.200, 0.260, 0.290, 0.300, 0.140, 0.065])
SNOW = np.array([0.880, 0.870, 0.850, 0.820, 0.780, 0.760, 0.740, 0.730, 0.090, 0.070])
CLOUD = np.array([0.520, 0.530, 0.540, 0.550, 0.560, 0.565, 0.570, 0.570, 0.470, 0.380])
CIRRUS = np.array([0.090, 0.085, 0.080, 0.078, 0.075, 0.073, 0.070, 0.070, 0.050, 0.040])

# Per-class multipliers of the green spectrum: (visible, red edge B05-B07, NIR, SWIR).
_CLASS_TRAITS = {
    0: (1.00, 1.03, 1.06, 0.90),
    1: (1.05, 0.97, 0.92, 1.05),
    2: (0.95, 1.00, 1.04, 1.00),
    3: (1.00, 1.06, 1.12, 0.92),
    4: (1.08, 0.95, 0.96, 1.08),
    5: (0.97, 1.04, 1.08, 0.95),
    6: (1.04, 0.98, 0.97, 1.02),
    7: (1.10, 0.94, 0.90, 1.10),
    8: (0.98, 1.02, 1.03, 0.98),
    9: (1.02, 1.05, 1.00, 0.93),
    10: (0.92, 1.08, 1.15, 0.88),
    11: (1.03, 0.99, 0.98, 1.04),
    12: (1.00, 1.00, 1.00, 1.00),
    13: (0.99, 1.01, 1.02, 1.01),
    14: (1.06, 0.96, 0.88, 1.06),
    15: (1.01, 1.02, 1.05, 0.97),
}


def green_spectrum(class_id: int) -> np.ndarray:
    """The green-canopy spectrum of a class, with its traits applied."""
    if class_id == FOREST:
        return CONIFER.copy()
    vis, edge, nir, swir = _CLASS_TRAITS.get(class_id, (1.0, 1.0, 1.0, 1.0))
    scale = np.array([vis, vis, vis, edge, edge, edge, nir, nir, swir, swir])
    return GREEN * scale


def background_spectrum(class_id: int) -> np.ndarray:
    """What shows between the plants: soil, water, asphalt or roofs."""
    if class_id == WATER:
        return WATER_SPEC.copy()
    if class_id == ROAD:
        return ASPHALT.copy()
    if class_id == SETTLEMENT:
        return ROOFS.copy()
    return SOIL.copy()
