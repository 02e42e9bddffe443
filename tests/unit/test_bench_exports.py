"""bench.exports still runs the real export path and its figures add up, so the bench cannot rot."""

from __future__ import annotations

import io

from bench.exports import main


def test_the_export_bench_runs_and_memory_does_not_grow_with_the_list() -> None:
    out = io.StringIO()

    # Parts of 0.1 MiB, so that both lists go up in several parts, as a large list does with 8 MiB parts.
    small, large = main(["--subscribers", "2000", "20000", "--page", "100", "--part-mib", "0.1"], out=out)

    assert (small.rows, small.pages, large.rows, large.pages) == (2000, 20, 20000, 200)
    assert small.parts > 1 and large.parts > 10 * small.parts - 10
    # Ten times the rows, not ten times the memory: a page and a part buffer, never the list.
    assert large.largest_part_mib < 0.2
    assert large.peak_mib < 1.5 * small.peak_mib < large.csv_mib
    assert "subscribers" in out.getvalue() and "peak MiB" in out.getvalue()
