"""The bottom layer: the openEO error model, settings, and crop classes with their
colours; it imports nothing of ours."""
