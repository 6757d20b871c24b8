"""cropcube: an openEO backend for crop-type mapping from Sentinel-2 time series."""

__version__ = "0.1.0"
