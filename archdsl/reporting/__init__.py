"""Reports on a checked graph: the per-layer summary table and its formats, and the weight ties they show
(no backend imported; a tie's parameter name is read from the torch lowerings' table when asked for)."""
