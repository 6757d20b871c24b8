"""Clouds, their shadows, thin cirrus, snow and swath edges for one acquisition.

Everything is drawn at 20 m, the resolution of SCL, from a random generator seeded by the
scene seed and the date, so a date always looks the same.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np

from demo.landscape import smooth_field

LATITUDE, LONGITUDE = 46.5, 11.3  # Bolzano


@dataclass
class Sky:
    """Per-pixel opacities (0..1) at 20 m, and where the swath has no data."""

    cloud: np.ndarray
    shadow: np.ndarray
    cirrus: np.ndarray
    snow: np.ndarray
    nodata: np.ndarray


def sun_position(when: dt.datetime) -> tuple[float, float]:
    """Solar elevation and azimuth in degrees (azimuth clockwise from north)."""
    doy = when.timetuple().tm_yday
    decl = math.radians(23.44) * math.sin(2 * math.pi * (284 + doy) / 365)
    solar_hours = when.hour + when.minute / 60 + LONGITUDE / 15
    hour_angle = math.radians(15 * (solar_hours - 12))
    lat = math.radians(LATITUDE)
    sin_el = math.sin(lat) * math.sin(decl) + math.cos(lat) * math.cos(decl) * math.cos(hour_angle)
    el = math.asin(sin_el)
    cos_az = (math.sin(decl) - sin_el * math.sin(lat)) / (math.cos(el) * math.cos(lat))
    az = math.degrees(math.acos(max(-1.0, min(1.0, cos_az))))
    if hour_angle > 0:
        az = 360 - az
    return math.degrees(el), az


def _shift(a: np.ndarray, drow: int, dcol: int) -> np.ndarray:
    """Move an image by whole pixels, filling with zeros (no wrap-around)."""
    out = np.zeros_like(a)
    rows, cols = a.shape
    src_r = slice(max(0, -drow), min(rows, rows - drow))
    dst_r = slice(max(0, drow), min(rows, rows + drow))
    src_c = slice(max(0, -dcol), min(cols, cols - dcol))
    dst_c = slice(max(0, dcol), min(cols, cols + dcol))
    if src_r.start < src_r.stop and src_c.start < src_c.stop:
        out[dst_r, dst_c] = a[src_r, src_c]
    return out


def _cover_fraction(rng: np.random.Generator, when: dt.date) -> float:
    winter = math.cos(2 * math.pi * (when.timetuple().tm_yday - 15) / 365)  # 1 mid-Jan
    u = rng.random()
    if u < 0.42 - 0.1 * winter:
        return 0.0
    if u < 0.75:
        return float(rng.uniform(0.03, 0.45))
    return float(rng.uniform(0.5, 1.0))


def draw_sky(shape20: tuple[int, int], when: dt.datetime, seed: int, index: int) -> Sky:
    """The atmosphere of acquisition number `index`."""
    rng = np.random.default_rng([seed, 2, index])
    rows, cols = shape20
    zeros = np.zeros(shape20, dtype=np.float32)

    fraction = _cover_fraction(rng, when.date())
    cloud = zeros.copy()
    shadow = zeros.copy()
    if fraction > 0:
        field = smooth_field(rng, shape20, scale=rng.uniform(6, 20))
        thr = np.quantile(field, 1 - fraction) if fraction < 1 else field.min() - 1
        cloud = np.clip((field - thr) / 0.6, 0, 1).astype(np.float32) ** 0.7
        cloud[field < thr] = 0
        elevation, azimuth = sun_position(when)
        height_m = rng.uniform(600, 2000)
        length_px = height_m / math.tan(math.radians(max(elevation, 5))) / 20
        az = math.radians(azimuth)
        # Shadows fall away from the sun: north-west at a morning overpass.
        drow = int(round(math.cos(az) * length_px))
        dcol = int(round(-math.sin(az) * length_px))
        shadow = _shift((cloud > 0.3).astype(np.float32), drow, dcol)
        shadow *= 1 - np.minimum(cloud * 3, 1)

    cirrus = zeros.copy()
    if rng.random() < 0.15:
        field = smooth_field(rng, shape20, scale=30)
        cirrus = (np.clip(field - 0.2, 0, None) * rng.uniform(0.3, 0.8)).clip(0, 1)

    snow = zeros.copy()
    if when.month in (12, 1, 2) and rng.random() < 0.4:
        field = smooth_field(rng, shape20, scale=25)
        snow = np.clip((field + rng.uniform(-0.5, 1.5)) / 0.5, 0, 1).astype(np.float32)

    nodata = np.zeros(shape20, dtype=bool)
    if rng.random() < 0.08:
        r = np.arange(rows)[:, None]
        c = np.arange(cols)[None, :]
        slope, offset = rng.uniform(-0.3, 0.3), rng.uniform(0.6, 0.95) * cols
        nodata = c > offset + slope * r

    return Sky(
        cloud=cloud, shadow=shadow, cirrus=cirrus.astype(np.float32), snow=snow, nodata=nodata
    )
