"""cropcube: an openEO backend for crop-type mapping from Sentinel-2 time series."""

__version__ = "0.2.0"  # the one version number: pyproject.toml and GET / read it
