"""The core layer: numerics, hard selection, sizes, layouts, validation and the
scan engines.  Nothing here imports from the algorithms or the public API."""
