"""Reports on a checked graph: the per-layer summary table and its formats (no backend imported)."""
