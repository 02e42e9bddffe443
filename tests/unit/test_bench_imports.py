"""bench.imports still runs the real import path and its memory stays flat as the file grows, so the bench cannot rot."""

from __future__ import annotations

import io

from bench.imports import main


def test_the_import_bench_runs_and_memory_does_not_grow_with_the_file() -> None:
    out = io.StringIO()

    small, large = main(["--rows", "1000", "5000", "--moto-rows", "0"], out=out)

    assert (small.rows, large.rows) == (1000, 5000)
    assert large.rejected == 5 * small.rejected and large.imported + large.rejected == 5000
    # Five times the rows, not five times the memory: a segment's rows, never the file.
    assert large.peak_mib < 1.5 * small.peak_mib and large.peak_mib < large.file_mib * 4
    assert "peak MiB" in out.getvalue()
