"""The bottom layer: the openEO error model, settings, and crop classes with their colours; imports nothing of ours."""
