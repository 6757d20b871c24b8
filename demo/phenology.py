"""Class-specific phenology: green and senescent cover through the agricultural year.

Each class is a list of key points (day since 1 September, green fraction, dry fraction);
the remainder of a pixel is bare soil. Curves repeat every year, so the simulator can run
across several seasons. Winter crops are sown in autumn, summer crops in spring.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from core.classes import BARE_SOIL, FOREST, ROAD, SETTLEMENT, WATER

# Day since 1 September: Oct 30, Nov 61, Dec 91, Jan 122, Feb 153, Mar 181, Apr 212,
# May 242, Jun 273, Jul 303, Aug 334.
_KEYS: dict[int, list[tuple[int, float, float]]] = {
    0: [
        (0, 0.0, 0.1),
        (190, 0.0, 0.05),
        (205, 0.1, 0.0),
        (250, 0.85, 0.0),
        (285, 0.4, 0.4),
        (303, 0.05, 0.5),
        (306, 0.0, 0.25),
    ],  # legumes (peas): spring sown, harvested July
    1: [
        (0, 0.7, 0.1),
        (61, 0.55, 0.1),
        (122, 0.4, 0.2),
        (200, 0.5, 0.1),
        (262, 0.95, 0.0),
        (264, 0.45, 0.3),
        (295, 0.85, 0.05),
        (305, 0.4, 0.3),
        (340, 0.8, 0.05),
    ],  # mown 3x
    2: [
        (0, 0.45, 0.3),
        (20, 0.15, 0.5),
        (26, 0.0, 0.35),
        (235, 0.0, 0.05),
        (262, 0.15, 0.0),
        (300, 0.8, 0.0),
        (334, 0.95, 0.0),
        (364, 0.6, 0.2),
    ],  # maize: May to late September
    3: [
        (0, 0.0, 0.1),
        (220, 0.0, 0.0),
        (245, 0.25, 0.0),
        (292, 0.9, 0.0),
        (332, 0.3, 0.4),
        (340, 0.05, 0.3),
        (352, 0.0, 0.1),
    ],  # potato: haulm killing in August
    4: [
        (0, 0.1, 0.6),
        (10, 0.0, 0.4),
        (13, 0.0, 0.1),
        (222, 0.0, 0.0),
        (250, 0.2, 0.0),
        (305, 0.85, 0.0),
        (334, 0.45, 0.4),
        (364, 0.15, 0.6),
    ],  # sunflower
    5: [
        (0, 0.35, 0.35),
        (22, 0.05, 0.5),
        (26, 0.0, 0.3),
        (250, 0.0, 0.0),
        (275, 0.2, 0.0),
        (334, 0.9, 0.0),
        (364, 0.65, 0.15),
    ],  # soy
    6: [
        (0, 0.0, 0.2),
        (30, 0.0, 0.05),
        (60, 0.25, 0.0),
        (150, 0.25, 0.05),
        (190, 0.45, 0.0),
        (236, 0.9, 0.0),
        (270, 0.35, 0.5),
        (297, 0.05, 0.6),
        (299, 0.0, 0.4),
    ],  # w. barley
    7: [
        (0, 0.3, 0.2),
        (61, 0.45, 0.05),
        (150, 0.3, 0.15),
        (230, 0.7, 0.0),
        (275, 0.85, 0.0),
        (310, 0.3, 0.5),
        (318, 0.1, 0.4),
        (340, 0.25, 0.1),
    ],  # winter caraway (biennial)
    8: [
        (0, 0.0, 0.15),
        (25, 0.0, 0.05),
        (55, 0.3, 0.0),
        (150, 0.3, 0.05),
        (185, 0.5, 0.0),
        (240, 0.95, 0.0),
        (280, 0.35, 0.55),
        (307, 0.05, 0.6),
        (309, 0.0, 0.35),
    ],  # rye
    9: [
        (0, 0.1, 0.0),
        (61, 0.65, 0.0),
        (150, 0.45, 0.05),
        (215, 0.9, 0.0),
        (240, 0.8, 0.0),
        (280, 0.3, 0.5),
        (305, 0.05, 0.6),
        (307, 0.0, 0.3),
        (364, 0.05, 0.0),
    ],  # rapeseed
    10: [
        (0, 0.95, 0.0),
        (40, 0.85, 0.05),
        (46, 0.0, 0.15),
        (205, 0.0, 0.0),
        (240, 0.2, 0.0),
        (290, 0.9, 0.0),
        (364, 0.95, 0.0),
    ],  # sugar beet: harvested mid October
    11: [
        (0, 0.0, 0.2),
        (200, 0.0, 0.0),
        (225, 0.2, 0.0),
        (272, 0.9, 0.0),
        (305, 0.35, 0.5),
        (325, 0.05, 0.6),
        (327, 0.0, 0.35),
    ],  # spring cereals
    12: [
        (0, 0.0, 0.2),
        (45, 0.0, 0.05),
        (75, 0.2, 0.0),
        (160, 0.22, 0.05),
        (195, 0.35, 0.0),
        (251, 0.92, 0.0),
        (285, 0.4, 0.45),
        (310, 0.05, 0.6),
        (312, 0.0, 0.35),
    ],  # w. wheat
    13: [
        (0, 0.0, 0.2),
        (40, 0.0, 0.05),
        (72, 0.2, 0.0),
        (160, 0.22, 0.05),
        (200, 0.4, 0.0),
        (256, 0.93, 0.0),
        (295, 0.45, 0.4),
        (320, 0.05, 0.6),
        (322, 0.0, 0.35),
    ],  # triticale
    14: [
        (0, 0.75, 0.0),
        (61, 0.5, 0.1),
        (80, 0.35, 0.1),
        (220, 0.35, 0.0),
        (240, 0.6, 0.0),
        (270, 0.75, 0.0),
        (364, 0.75, 0.0),
    ],  # apple orchards and vineyards
    15: [
        (0, 0.6, 0.0),
        (20, 0.1, 0.2),
        (215, 0.0, 0.0),
        (240, 0.65, 0.0),
        (265, 0.1, 0.2),
        (285, 0.0, 0.05),
        (320, 0.7, 0.0),
        (364, 0.6, 0.0),
    ],  # vegetables, two cycles
    FOREST: [
        (0, 0.85, 0.0),
        (61, 0.72, 0.05),
        (212, 0.7, 0.05),
        (250, 0.88, 0.0),
        (364, 0.86, 0.0),
    ],
    WATER: [(0, 0.0, 0.0)],
    SETTLEMENT: [(0, 0.15, 0.0), (91, 0.08, 0.0), (242, 0.18, 0.0), (364, 0.15, 0.0)],
    ROAD: [(0, 0.03, 0.0)],
    BARE_SOIL: [(0, 0.02, 0.05), (242, 0.08, 0.02), (364, 0.02, 0.05)],
}


def day_of_agri_year(when: dt.date) -> int:
    """Days since the last 1 September (0..365)."""
    start = dt.date(when.year if when.month >= 9 else when.year - 1, 9, 1)
    return (when - start).days


def cover(class_id: int, day: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Green and dry fractions of a class on (possibly shifted, fractional) days of the year."""
    keys = np.asarray(_KEYS[class_id], dtype=float)
    day = np.mod(np.asarray(day, dtype=float), 365.0)
    if len(keys) == 1:
        return np.full_like(day, keys[0, 1]), np.full_like(day, keys[0, 2])
    green = np.interp(day, keys[:, 0], keys[:, 1], period=365.0)
    dry = np.interp(day, keys[:, 0], keys[:, 2], period=365.0)
    return green, dry


def flowering(class_id: int, day: np.ndarray) -> np.ndarray:
    """Yellow flowering strength (rapeseed in late April, sunflower in July), 0..1."""
    day = np.mod(np.asarray(day, dtype=float), 365.0)
    peaks = {9: 235.0, 4: 318.0}
    if class_id not in peaks:
        return np.zeros_like(day)
    return np.exp(-0.5 * ((day - peaks[class_id]) / 7.0) ** 2)
