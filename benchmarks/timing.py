"""Alternating latency measurement of two models on the same input, the benchmarks' one timing method.

Calls alternate between the two models so that drift on a shared machine hits both alike. Reported: the
medians and the best times of each (the least disturbed calls, the steadier figure on a busy machine)."""
import statistics
import time
from dataclasses import dataclass

import torch


@dataclass
class Comparison:
    ours: list[float]
    base: list[float]

    @property
    def ratio(self) -> float:
        """Median of ours over median of the baseline."""
        return statistics.median(self.ours) / statistics.median(self.base)

    @property
    def best_ratio(self) -> float:
        return min(self.ours) / min(self.base)

    def line(self, what: str) -> str:
        return (f"{what}: ours {statistics.median(self.ours):.2f} ms, baseline {statistics.median(self.base):.2f} "
                f"ms (medians of {len(self.ours)}), ratio {self.ratio:.3f}; best times {min(self.ours):.2f} / "
                f"{min(self.base):.2f} ms, ratio {self.best_ratio:.3f}")


def _ms(model, args, sync=None) -> float:
    t = time.perf_counter()
    model(*args)
    if sync is not None:
        sync()
    return (time.perf_counter() - t) * 1e3


@torch.inference_mode()
def compare(ours, base, args: tuple, reps: int = 25, budget_s: float | None = None, warmup: int = 3,
            sync=None) -> Comparison:
    """Time `ours(*args)` against `base(*args)`, alternating; with `budget_s`, fewer repetitions (at least 5)
    where a pair of calls is slow, so that the measurement takes about that long. `sync` (such as
    torch.cuda.synchronize) is called after each call on an asynchronous device."""
    for _ in range(warmup):
        pair = _ms(ours, args, sync) + _ms(base, args, sync)
    if budget_s is not None:
        reps = max(5, min(reps, int(budget_s * 1e3 / pair)))
    c = Comparison([], [])
    for _ in range(reps):
        c.ours.append(_ms(ours, args, sync))
        c.base.append(_ms(base, args, sync))
    return c
