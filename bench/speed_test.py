"""make bench: the report's arithmetic on made-up repeats, and one real tiny run end to end."""

import json

import pytest

from bench import speed as bench


def repeat(size: int, scale: float, plain_scale: float) -> bench.Repeat:
    """A repeat whose times grow linearly with size: `scale` s per image in the pipeline."""
    result = bench.Repeat(size=size, train_images=size * 4 // 5, eval_images=size // 5)
    result.components = {
        "ImageExampleGen": 0.01 * size,
        "ImportSchemaGen": 0.0,  # too quick to time
        **{component: scale * size for component in bench.STAGES.values()},
    }
    result.plain = {stage: plain_scale * size for stage in bench.STAGES}
    result.run_seconds = 4 * scale * size
    result.peak_rss_mb = 1000 + size / 10
    result.plain_peak_rss_mb = 500 + size / 10
    result.steal_percent = 0.25 * scale
    return result


@pytest.mark.unit
def test_ratios_are_medians_of_same_repeat_ratios_and_linear_growth_shows_as_one():
    repeats = [
        repeat(100, 0.2, 0.1),  # ratio 2
        repeat(100, 0.9, 0.3),  # ratio 3: a slow machine moment hits both sides
        repeat(100, 0.4, 0.1),  # ratio 4
        repeat(1000, 0.2, 0.1),
    ]
    entries = bench.summarize(repeats)

    trainer = next(e for e in entries if e["name"] == "trainer" and e["size"] == 100)
    assert trainer["ratio"] == 3.0
    assert trainer["seconds"] == 40.0  # the median of 20, 90 and 40
    assert trainer["images_per_s"] == round(80 * 2 / 40.0, 1)  # train images x epochs
    assert trainer["repeats"] == [20.0, 90.0, 40.0]
    run = next(e for e in entries if e["name"] == "run" and e["size"] == 1000)
    assert run["peak_rss_mb"] == 1100
    slow_moments = next(e for e in entries if e["name"] == "run" and e["size"] == 100)
    assert slow_moments["steal_percent"] == [0.1, 0.2, 0.1]  # each repeat's, not a median
    assert bench.growth_exponent(entries, "component:ImageExampleGen") == pytest.approx(1.0)
    assert bench.growth_exponent(entries, "component:ImportSchemaGen") is None
    fixed, per_image = bench.fixed_and_per_image(entries, "component:ImageExampleGen")
    assert (fixed, per_image) == (pytest.approx(0.0, abs=1e-9), pytest.approx(0.01))


@pytest.mark.unit
def test_the_report_has_a_row_per_stage_and_size_and_a_plot(tmp_path):
    entries = bench.summarize([repeat(100, 0.2, 0.1), repeat(1000, 0.3, 0.1)])

    saved = bench.results_file(entries, "cmd", 1)
    bench.write_results(saved, str(tmp_path / "results.json"), str(tmp_path))

    report = (tmp_path / "benchmarks.md").read_text()
    assert "| trainer @ 1000 | train split x epochs | 300 | " in report
    assert "**3x** | 1.3x |" in report
    assert "| ImportSchemaGen | 0 | 0 | - | 0.0 s + 0.00 ms/image |" in report
    # 20 s at 100 images, 300 s at 1000: 311 ms more per image, from -11.1 s.
    assert "| trainer | -11.1 s + 311.11 ms/image | 0.0 s + 100.00 ms/image |" in report
    assert "| CPU stolen by other machines, % (per repeat) | 0.1 | 0.1 | | |" in report
    assert "| peak memory of plain TensorFlow's process, MB | 510 | 600 | | |" in report
    assert (tmp_path / "benchmarks.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((tmp_path / "results.json").read_text()) == saved
    assert saved["command"] == "cmd"

    # --report-only: the same docs again from the file, nothing measured.
    (tmp_path / "benchmarks.md").unlink()
    results = str(tmp_path / "results.json")
    assert bench.main(["--report-only", "--results", results, "--docs", str(tmp_path)]) == 0
    assert (tmp_path / "benchmarks.md").read_text() == report


def line(name: str, fixed: float, per_image: float) -> list[dict]:
    """Entries of `name` at 1,000 and 9,000 images, on the line fixed + per_image * size."""
    return [
        {"name": name, "size": n, "seconds": fixed + per_image * n, "images_per_s": 1, "ratio": 1}
        for n in (1000, 9000)
    ]


@pytest.mark.unit
def test_the_size_from_which_a_stage_is_within_target_is_where_the_fitted_lines_cross():
    entries = [
        # Transform (target 2x): 10 s + 1 ms/image against 1 s + 1 ms/image: 2x from 8,000 on.
        *line("transform", 10.0, 0.001),
        *line("transform_plain", 1.0, 0.001),
        # The Trainer (1.3x): as fast as plain at every size.
        *line("trainer", 5.0, 0.004),
        *line("trainer_plain", 5.0, 0.004),
        # The Evaluator (3x): 4 ms per image against 1 ms: over 3x however large the data.
        *line("evaluator", 1.0, 0.004),
        *line("evaluator_plain", 1.0, 0.001),
    ]
    assert bench.within_target_from(entries, "transform") == pytest.approx(8000)
    assert bench.within_target_from(entries, "trainer") == 0.0
    assert bench.within_target_from(entries, "evaluator") is None
    entries += [{**e, "name": "run", "peak_rss_mb": 1000} for e in line("run", 60.0, 0.01)]
    entries[1]["ratio"] = 2.5  # Transform at 9,000 images
    assert bench.targets_at_largest(entries) == (
        "At the largest size, 9,000 images: transform 2.5x (target 2x, **not met**); "
        "trainer 1x (target 1.3x, met); evaluator 1x (target 3x, met)."
    )

    report = bench.markdown(bench.results_file(entries, "cmd", 1))
    assert (
        "| transform | 10.0 s + 1.00 ms/image | 1.0 s + 1.00 ms/image | about 8,000 images |"
        in report
    )
    assert "| trainer | 5.0 s + 4.00 ms/image | 5.0 s + 4.00 ms/image | every size |" in report
    assert "| evaluator | 1.0 s + 4.00 ms/image | 1.0 s + 1.00 ms/image | never" in report


@pytest.mark.unit
def test_an_earlier_results_file_is_compared_stage_by_stage(tmp_path):
    before = bench.results_file(bench.summarize([repeat(100, 0.4, 0.1)]), "cmd", 1, "slow")
    after = bench.results_file(bench.summarize([repeat(100, 0.2, 0.1)]), "cmd", 1, "fast")
    (tmp_path / "results-before.json").write_text(json.dumps(before))
    (tmp_path / "results.json").write_text(json.dumps(after))

    results = str(tmp_path / "results.json")
    assert bench.main(["--report-only", "--results", results, "--docs", str(tmp_path)]) == 0

    report = (tmp_path / "benchmarks.md").read_text()
    assert "## Before and after" in report
    assert "`cmd`): slow" in report
    # The pipeline's own seconds, their speed-up, then each day's ratio to its plain side.
    assert "| trainer @ 100 | 40 | 20 | 2.0x | 4x | 2x |" in report
    assert "| whole run @ 100 | 160 | 80 | 2.0x | | |" in report


@pytest.mark.unit
def test_stolen_cpu_is_the_share_of_the_machines_ticks_between_two_readings():
    assert bench.steal_percent((10, 1000), (30, 1400)) == pytest.approx(5.0)
    assert bench.steal_percent((10, 1000), (10, 1000)) is None  # no time passed
    assert bench.steal_percent(None, (10, 1000)) is None  # no /proc

    before = bench.cpu_ticks()
    sum(i * i for i in range(2_000_000))  # let the machine's clock tick
    after = bench.cpu_ticks()
    assert before is not None and after is not None  # Linux has /proc/stat
    assert after[1] > before[1] and after[0] >= before[0]


@pytest.mark.unit
def test_a_failing_plain_side_names_its_log_and_why(tmp_path):
    log = tmp_path / "plain.log"
    with pytest.raises(RuntimeError, match=r"plain TensorFlow side failed .*plain\.log"):
        bench.run_plain(str(tmp_path), str(tmp_path / "plain.json"), str(log))
    assert "No examples in" in log.read_text()  # an examples folder with no splits


@pytest.mark.unit
def test_sizes_too_small_to_split_are_refused():
    assert bench.parse_sizes("2000,500") == [500, 2000]
    with pytest.raises(ValueError, match="at least 16 images"):
        bench.parse_sizes("8")


@pytest.mark.e2e
def test_a_tiny_bench_measures_every_stage_and_keeps_them_when_a_later_size_fails(tmp_path):
    results, work = tmp_path / "results.json", tmp_path / "work"
    # 60 images, 15 a class: the fewest demo images that give every class an eval image. The
    # second size's images: none, so its run fails.
    (work / "data-64").mkdir(parents=True)
    flags = ["--sizes", "60,64", "--repeats", "1", "--results", str(results), "--work", str(work)]
    with pytest.raises(RuntimeError, match=r"pipeline run failed .*run-64-0\.log"):
        bench.main([*flags, "--docs", str(tmp_path / "docs")])

    saved = json.loads(results.read_text())
    assert "Partial: sizes up to 60 of 60,64" in saved["note"]
    assert {e["size"] for e in saved["results"]} == {60}
    entries = {e["name"]: e for e in saved["results"]}
    for stage in bench.STAGES:
        ours, plain = entries[stage], entries[f"{stage}_plain"]
        assert ours["seconds"] > 0 and plain["seconds"] > 0, stage
        # Seconds are saved to 0.01 s and a plain transform of 60 images takes a few hundredths,
        # so the ratio (from the unrounded seconds) is checked against what the rounding allows.
        half_step = 0.005
        lowest = (ours["seconds"] - half_step) / (plain["seconds"] + half_step)
        highest = (ours["seconds"] + half_step) / max(plain["seconds"] - half_step, 1e-9)
        assert lowest - half_step <= ours["ratio"] <= highest + half_step, stage
    assert entries["run"]["peak_rss_mb"] > 100
    assert entries["run"]["plain_peak_rss_mb"] > 100  # its own process, not the benchmark's
    assert len(entries["run"]["steal_percent"]) == 1
    assert entries["run"]["seconds"] > entries["trainer"]["seconds"]
    for component in ["ImageExampleGen", "Transform", "Trainer", "Evaluator", "Pusher"]:
        assert f"component:{component}" in entries, component
    assert "| evaluator @ 60 |" in (tmp_path / "docs" / "benchmarks.md").read_text()
