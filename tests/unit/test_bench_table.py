"""The one table `make bench` prints: ratios against the same run's baseline, targets either
way, absolute targets (memory), plain text and Markdown."""
from bench.common import Figure, table

FASTER = Figure("ingest", "term push", 3000, "records/s", "bare insert", 10000, target=0.2)
SLOWER = Figure("pipeline", "erasure under load", 12.0, "s", "idle erasure", 2.0, target=5,
                higher_is_better=False)
MEMORY = Figure("pipeline", "reports worker peak RSS", 120.4, "MB", target=150,
                higher_is_better=False)
REPORTED = Figure("load", "reads", 42.6, "reads/s")


def test_ratio_is_the_value_over_the_baseline_of_the_same_run():
    assert FASTER.ratio == 0.3
    assert SLOWER.ratio == 6.0
    assert MEMORY.ratio is None and REPORTED.ratio is None


def test_a_target_is_met_in_the_direction_it_asks_for():
    assert FASTER.met is True
    assert SLOWER.met is False  # 6× idle against at most 5×
    assert MEMORY.met is True  # no baseline: the value itself against the target
    assert Figure("p", "m", 151, "MB", target=150, higher_is_better=False).met is False
    assert REPORTED.met is None


def test_target_text():
    assert FASTER.target_text() == "≥ 0.2×"
    assert SLOWER.target_text() == "≤ 5×"
    assert MEMORY.target_text() == "≤ 150 MB"
    assert REPORTED.target_text() == ""


def test_plain_table_has_a_row_a_figure_in_aligned_columns():
    lines = table([FASTER, SLOWER, MEMORY, REPORTED]).splitlines()
    assert len(lines) == 2 + 4
    assert lines[0].startswith("benchmark")
    assert set(lines[1]) <= {"-", " "}
    assert "3,000 records/s" in lines[2] and "10,000 records/s" in lines[2]
    assert "0.30×" in lines[2] and "yes" in lines[2]
    assert "6.00×" in lines[3] and "NO" in lines[3]
    assert "120 MB" in lines[4] and "≤ 150 MB" in lines[4]
    assert lines[2].index("term push") == lines[0].index("figure")


def test_a_small_ratio_keeps_two_significant_digits():
    slow = Figure("pipeline", "term", 35, "records/s", "bare insert", 10000, target=0.2)
    assert "0.0035×" in table([slow])


def test_counts_show_without_decimals():
    assert "| 0 errors |" in table([Figure("load", "errors", 0, "errors", target=0,
                                           higher_is_better=False)], markdown=True)


def test_markdown_table():
    lines = table([FASTER, MEMORY], markdown=True).splitlines()
    assert lines[0].startswith("| benchmark | figure |")
    assert lines[1] == "|" + "---|" * 8
    assert lines[2] == ("| ingest | term push | 3,000 records/s | bare insert | "
                        "10,000 records/s | 0.30× | ≥ 0.2× | yes |")
    assert lines[3].endswith("|  |  | ≤ 150 MB | yes |")
