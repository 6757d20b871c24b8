"""The crop-mapping algorithms as openEO Python UDFs (apply_datacube), free of HTTP."""
