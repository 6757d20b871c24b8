"""Result files: the format registry (registry), the block-streaming engine (blocks) and
one writer per format (gtiff, netcdf, json_value, png, vector)."""

from formats.registry import FORMATS, OutputFormat, lookup

__all__ = ["FORMATS", "OutputFormat", "lookup"]
