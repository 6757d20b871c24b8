"""Where cubes come from: STAC catalogs and APIs, users' URLs (fetched safely), result files."""
