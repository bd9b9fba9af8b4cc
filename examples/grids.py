"""Image grids for the generative examples: tiles of small grey images saved as one PNG (needs Pillow)."""
from __future__ import annotations

import numpy as np


def save_grid(images, path: str, rows: int, scale: int = 4, pad: int = 1, value_range=(0.0, 1.0)) -> None:
    """Save `images` ([n, h, w] or [n, 1, h, w], array or tensor) as a `rows`-row grid, each pixel
    enlarged to scale x scale, tiles separated by `pad` grey pixels."""
    from PIL import Image

    a = images.detach().cpu().numpy() if hasattr(images, "detach") else np.asarray(images)
    a = a.reshape(a.shape[0], a.shape[-2], a.shape[-1]).astype(np.float64)
    lo, hi = value_range
    a = np.clip((a - lo) / (hi - lo), 0.0, 1.0)
    n, h, w = a.shape
    cols = -(-n // rows)
    grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad), 0.5)
    for i in range(n):
        r, c = divmod(i, cols)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        grid[top:top + h, left:left + w] = a[i]
    grid = np.kron(grid, np.ones((scale, scale)))  # nearest-neighbour enlargement
    Image.fromarray((grid * 255).round().astype(np.uint8), mode="L").save(path)
