"""A deterministic simulator of Sentinel-2 L2A over farmland near Bolzano (the embedded data)."""
