"""Matrix products of numpy arrays on torch's thread pool, the one the embedding models use.

numpy's OpenBLAS threads keep spinning after a product; on 2 cores they starved the next MiniLM
pass 4x (a 30 ms network selection measured 120 ms right after one `rows @ task`). Products
that run beside the encoders go through `matmul` instead. torch is imported on first use, so
importing a caller costs nothing.
"""

from __future__ import annotations

import numpy as np


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The product a @ b, in the arrays' common dtype, computed by torch."""
    import torch

    dtype = np.result_type(a, b)
    x = torch.from_numpy(np.ascontiguousarray(a, dtype))
    y = torch.from_numpy(np.ascontiguousarray(b, dtype))
    out: np.ndarray = (x @ y).numpy()
    return out
