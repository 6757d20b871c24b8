"""Render one Sentinel-2 L2A acquisition of the landscape as digital numbers and SCL."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from core.classes import WATER
from demo import phenology, spectra
from demo.atmosphere import Sky, draw_sky
from demo.landscape import Landscape

BANDS_10M = ["B02", "B03", "B04", "B08"]
BASELINE_04_START = dt.date(2022, 1, 25)


def boa_offset(when: dt.date) -> int:
    """The DN offset of processing baseline 04.00 (from 25 January 2022) or 0 before."""
    return -1000 if when >= BASELINE_04_START else 0


@dataclass
class Acquisition:
    """Digital numbers per band (10 m or 20 m), SCL at 20 m and the scene's cloud cover."""

    dn: dict[str, np.ndarray]
    scl: np.ndarray
    cloud_cover: float


def _surface(land: Landscape, when: dt.date) -> np.ndarray:
    """Cloud-free surface reflectance (bands, rows, cols), float32."""
    day = phenology.day_of_agri_year(when)
    n = len(land.classes)
    green = np.zeros(n, np.float32)
    dry = np.zeros(n, np.float32)
    g_spec = np.zeros((n, len(spectra.BANDS)), np.float32)
    b_spec = np.zeros((n, len(spectra.BANDS)), np.float32)
    for cls in np.unique(land.classes):
        idx = np.flatnonzero(land.classes == cls)
        days = day - land.shift[idx]
        g, d = phenology.cover(int(cls), days)
        green[idx] = np.clip(g * land.vigour[idx], 0, 1)
        dry[idx] = d
        bloom = phenology.flowering(int(cls), days)[:, None]
        g_spec[idx] = (1 - bloom) * spectra.green_spectrum(int(cls)) + bloom * spectra.YELLOW
        b_spec[idx] = spectra.background_spectrum(int(cls)) * land.brightness[idx, None]
    pid = land.parcel_id
    g_px = np.clip(green[pid] * (1 + 0.08 * land.texture), 0, 1)
    d_px = np.minimum(dry[pid], 1 - g_px)
    soil_px = 1 - g_px - d_px
    refl = (
        g_spec[pid] * g_px[..., None]
        + spectra.DRY.astype(np.float32) * d_px[..., None]
        + b_spec[pid] * soil_px[..., None]
    )
    return np.moveaxis(refl, -1, 0).astype(np.float32)


def _up(a: np.ndarray) -> np.ndarray:
    return np.repeat(np.repeat(a, 2, axis=0), 2, axis=1)


def _apply_sky(refl: np.ndarray, sky: Sky) -> np.ndarray:
    def spec(v: np.ndarray) -> np.ndarray:
        return v.astype(np.float32)[:, None, None]

    snow, cirrus, cloud, shadow = (
        _up(a)[None] for a in (sky.snow, sky.cirrus, sky.cloud, sky.shadow)
    )
    refl = refl * (1 - 0.9 * snow) + 0.9 * snow * spec(spectra.SNOW)
    refl = refl * (1 - 0.65 * shadow)
    refl = refl + cirrus * spec(spectra.CIRRUS)
    return refl * (1 - cloud) + cloud * spec(spectra.CLOUD)


def _scl(refl20: np.ndarray, sky: Sky, water20: np.ndarray) -> np.ndarray:
    """Scene classification as Sen2Cor would label the simulated scene."""
    red, nir = refl20[spectra.BANDS.index("B04")], refl20[spectra.BANDS.index("B8A")]
    ndvi = (nir - red) / np.maximum(nir + red, 1e-6)
    scl = np.where(ndvi > 0.35, 4, 5).astype(np.uint8)
    scl[water20 & (ndvi < 0.2)] = 6
    scl[sky.snow > 0.5] = 11
    scl[sky.shadow > 0.5] = 3
    scl[sky.cirrus > 0.25] = 10
    scl[(sky.cloud > 0.02) & (sky.cloud <= 0.08)] = 7
    scl[sky.cloud > 0.08] = 8
    scl[sky.cloud > 0.5] = 9
    scl[sky.nodata] = 0
    return scl


def render(land: Landscape, when: dt.datetime, seed: int, index: int) -> Acquisition:
    """One acquisition: surface, then snow, shadows, cirrus, clouds, sensor noise, DN."""
    rows, cols = land.parcel_id.shape
    sky = draw_sky((rows // 2, cols // 2), when, seed, index)
    rng = np.random.default_rng([seed, 3, index])
    refl = _apply_sky(_surface(land, when.date()), sky)
    refl += rng.normal(0, 0.004, refl.shape).astype(np.float32)
    refl20 = refl.reshape(refl.shape[0], rows // 2, 2, cols // 2, 2).mean(axis=(2, 4))
    offset = boa_offset(when.date())

    def to_dn(a: np.ndarray, nodata: np.ndarray) -> np.ndarray:
        dn = np.clip(np.rint(a * 10000 - offset), 1, 65535).astype(np.uint16)
        dn[nodata] = 0
        return dn

    nodata10 = _up(sky.nodata)
    dn = {}
    for i, band in enumerate(spectra.BANDS):
        dn[band] = to_dn(refl[i], nodata10) if band in BANDS_10M else to_dn(refl20[i], sky.nodata)
    water20 = (land.classes[land.parcel_id] == WATER)[::2, ::2]
    scl = _scl(refl20, sky, water20)
    valid = scl != 0
    cloudy = np.isin(scl, [3, 8, 9, 10])
    cover = 100.0 * cloudy[valid].mean() if valid.any() else 100.0
    return Acquisition(dn=dn, scl=scl, cloud_cover=round(float(cover), 2))
