"""The PC/SC adapter: the only package that imports pyscard."""
