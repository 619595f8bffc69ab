"""The matcher against a bare matrix product of the same size, side by side in one run.

`uv run python -m bench.matcher` prints, for M faces against N references, the median time of
``politician_distances`` (distances, per-politician minimum), of ``faces @ references.T`` alone,
and their ratio.
"""

from __future__ import annotations

import numpy as np

from app.faces.matcher import ReferenceMatrix, politician_distances
from bench.common import median_seconds

POLITICIANS = 5
SIZES = [(1, 5), (1, 1_000), (1, 100_000), (64, 5), (64, 1_000), (64, 100_000)]


def references(n: int, rng: np.random.Generator) -> ReferenceMatrix:
    labels = rng.integers(0, POLITICIANS, size=n)
    rows = rng.normal(0, 0.09, size=(n, 128))
    return ReferenceMatrix.build({f"p{i}": list(rows[labels == i]) for i in range(POLITICIANS)})


def measure(
    faces_count: int, refs_count: int, rng: np.random.Generator, budget: float = 1.5
) -> dict[str, float]:
    refs = references(refs_count, rng)
    faces = rng.normal(0, 0.09, size=(faces_count, 128))
    ours = median_seconds(lambda: politician_distances(faces, refs), budget=budget)
    bare = median_seconds(lambda: faces @ refs.encodings.T, budget=budget)
    return {
        "faces": faces_count,
        "references": refs_count,
        "matcher_s": ours,
        "matmul_s": bare,
        "ratio": ours / bare,
    }


def run(sizes: list[tuple[int, int]] = SIZES, budget: float = 1.5) -> list[dict[str, float]]:
    rng = np.random.default_rng(0)
    return [measure(m, n, rng, budget) for m, n in sizes]


def main() -> None:
    rows = run()
    print(f"{'faces':>5} {'refs':>7} {'matcher':>11} {'bare a@b.T':>11} {'ratio':>6}")
    for r in rows:
        print(
            f"{r['faces']:>5.0f} {r['references']:>7.0f} {r['matcher_s'] * 1e3:>9.3f}ms"
            f" {r['matmul_s'] * 1e3:>9.3f}ms {r['ratio']:>6.2f}"
        )


if __name__ == "__main__":
    main()
