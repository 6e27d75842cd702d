"""make bench: the report's arithmetic on made-up repeats, the plain side's ingestion and split
on a few tiny images, and one real tiny run end to end."""

import json
import os

import pytest
import tensorflow as tf

from bench import common, plain, plain_run
from bench import speed as bench
from components import features
from components.example_gen import EXAMPLE_GEN_NODE_ID
from components.trainer.training_config import TrainingConfig
from pipeline import demo_data
from tests.helpers import encode_image


def repeat(size: int, scale: float, plain_scale: float) -> bench.Repeat:
    """A repeat whose times grow linearly with size: `scale` s per image in the pipeline
    (ingestion 0.01 s, the whole run 4 x scale), `plain_scale` on the plain side."""
    result = bench.Repeat(size=size, train_images=size * 4 // 5, eval_images=size // 5)
    result.components = {
        EXAMPLE_GEN_NODE_ID: 0.01 * size,
        "ImportSchemaGen": 0.0,  # too quick to time
        **{c: scale * size for c in bench.STAGES.values() if c not in (None, EXAMPLE_GEN_NODE_ID)},
    }
    result.plain = {stage: plain_scale * size for stage in bench.STAGES}
    result.run_seconds = 4 * scale * size
    result.peak_rss_mb = 1000 + size / 10
    result.plain_peak_rss_mb = 500 + size / 10
    result.plain_run_peak_rss_mb = 700 + size / 10
    result.steal_percent = 0.25 * scale
    result.cores_busy = {"run": 1.5, "plain": 1.25 + scale, "plain_run": 1.75}
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
    assert trainer["ratio_spread"] == pytest.approx((4 - 2) / 3, abs=0.001)
    assert trainer["seconds"] == 40.0  # the median of 20, 90 and 40
    assert trainer["spread"] == pytest.approx((90 - 20) / 40, abs=0.001)
    assert trainer["images_per_s"] == round(80 * 2 / 40.0, 1)  # train images x epochs
    assert trainer["repeats"] == [20.0, 90.0, 40.0]
    # The whole run: the process's wall time against the plain script's, a ratio per repeat.
    whole = next(e for e in entries if e["name"] == "whole_run" and e["size"] == 100)
    assert (whole["seconds"], whole["ratio"], whole["images_per_s"]) == (160.0, 12.0, 0.6)
    assert whole["plain"] == "whole_run_plain"
    # Ingestion: ImageExampleGen's seconds against plain decode-and-write, over every image.
    examplegen = next(e for e in entries if e["name"] == "examplegen" and e["size"] == 1000)
    assert (examplegen["seconds"], examplegen["ratio"]) == (10.0, 0.1)
    assert examplegen["images_per_s"] == 100.0  # 800 train + 200 eval images in 10 s
    assert examplegen["spread"] is None and examplegen["ratio_spread"] is None  # one repeat
    examplegen_plain = next(
        e for e in entries if e["name"] == "examplegen_plain" and e["size"] == 1000
    )
    assert (examplegen_plain["seconds"], examplegen_plain["ratio"]) == (100.0, 1.0)
    run = next(e for e in entries if e["name"] == "run" and e["size"] == 1000)
    assert (run["peak_rss_mb"], run["plain_run_peak_rss_mb"]) == (1100, 800)
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
    assert "**3x** | 1.1x |" in report
    assert "| whole_run @ 100 | data set | 80 | 1.2 | 10 | 10 | **8x** | 1.25x |" in report
    assert "| examplegen @ 1000 | all images | 10 | 100 | 100 | 10 | **0.1x** | 1.5x |" in report
    assert "| ImportSchemaGen | 0 | 0 | - | 0.0 s + 0.00 ms/image |" in report
    # 20 s at 100 images, 300 s at 1000: 311 ms more per image, from -11.1 s.
    assert "| trainer | -11.1 s + 311.11 ms/image | 0.0 s + 100.00 ms/image |" in report
    assert "| CPU stolen by other machines, % (per repeat) | 0.1 | 0.1 | | |" in report
    assert "| peak memory of the run, MB | 1010 | 1100 | | |" in report
    assert "| peak memory of the plain whole-run script, MB | 710 | 800 | | |" in report
    assert "| peak memory of the plain stages' process, MB | 510 | 600 | | |" in report
    assert "Ratios are meant to repeat within 10%; no spread was measured here." in report
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
        # Transform (target 1.5x): 10 s + 1 ms/image against 1 s + 1 ms/image: 1.5x from
        # 17,000 on (10 + n / 1000 = 1.5 (1 + n / 1000)).
        *line("transform", 10.0, 0.001),
        *line("transform_plain", 1.0, 0.001),
        # The Trainer (1.1x): as fast as plain at every size.
        *line("trainer", 5.0, 0.004),
        *line("trainer_plain", 5.0, 0.004),
        # The Evaluator (2x): 4 ms per image against 1 ms: over 2x however large the data.
        *line("evaluator", 1.0, 0.004),
        *line("evaluator_plain", 1.0, 0.001),
    ]
    assert bench.within_target_from(entries, "transform") == pytest.approx(17000)
    assert bench.within_target_from(entries, "trainer") == 0.0
    assert bench.within_target_from(entries, "evaluator") is None
    entries += [{**e, "name": "run", "peak_rss_mb": 1000} for e in line("run", 60.0, 0.01)]
    entries[1]["ratio"] = 2.5  # Transform at 9,000 images
    # No whole_run or examplegen entries: a results file from before they were measured.
    assert bench.targets_at_largest(entries) == (
        "At the largest size, 9,000 images: whole_run - (target 1.25x, not measured); "
        "examplegen - (target 1.5x, not measured); transform 2.5x (target 1.5x, **not met**); "
        "trainer 1x (target 1.1x, met); evaluator 1x (target 2x, met)."
    )

    report = bench.markdown(bench.results_file(entries, "cmd", 1))
    assert (
        "| transform | 10.0 s + 1.00 ms/image | 1.0 s + 1.00 ms/image | about 17,000 images |"
        in report
    )
    assert "| examplegen | - | - | - |" in report
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
    assert "| whole_run @ 100 | 160 | 80 | 2.0x | 16x | 8x |" in report
    assert "| whole run @ 100 |" not in report  # the row above says it, with its ratios

    # Against a file from before the whole run had a plain side: its time, without a ratio.
    before["results"] = [e for e in before["results"] if not e["name"].startswith("whole_run")]
    report = bench.markdown(after) + bench.before_and_after(before, after)
    assert "| whole run @ 100 | 160 | 80 | 2.0x | | |" in report
    assert "| whole_run @ 100 |" not in report.split("## Before and after")[1]


@pytest.mark.unit
def test_spread_is_the_range_of_the_repeats_over_their_median():
    assert bench.spread([10.0, 12.0, 11.0]) == pytest.approx(0.18, abs=0.005)  # 2 / 11
    assert bench.spread([3.0, 3.0]) == 0.0
    assert bench.spread([10.0]) is None  # one repeat: no spread to speak of
    assert bench.spread([0.0, 0.0, 0.01]) is None  # too quick to time


@pytest.mark.unit
def test_a_ratio_that_spreads_over_ten_percent_is_flagged():
    steady = [repeat(100, 0.2, 0.1), repeat(100, 0.21, 0.1), repeat(100, 0.2, 0.1)]  # 2, 2.1, 2
    entries = bench.summarize(steady)
    assert bench.ratio_spreads(entries) == (
        "Ratios are meant to repeat within 10%, and every one did."
    )
    assert "| trainer @ 100 | train split x epochs | 20 (spread 5.0%) |" in bench.markdown(
        bench.results_file(entries, "cmd", 3)
    )

    noisy = bench.summarize([*steady[:2], repeat(100, 0.2, 0.08)])  # ratios 2, 2.1, 2.5
    flagged = bench.ratio_spreads(noisy)
    assert flagged.startswith("Ratios are meant to repeat within 10%; **over 10%**")
    assert "trainer @ 100 (23.8%)" in flagged  # (2.5 - 2) / 2.1
    report = bench.markdown(bench.results_file(noisy, "cmd", 3))
    assert "| **2.1x** (spread 23.8%) | 1.1x |" in report
    assert flagged in report


@pytest.mark.unit
def test_the_fixed_cost_of_a_run_is_read_against_its_target():
    def entries(fixed: float) -> list[dict]:
        return [{**e, "name": "run"} for e in line("run", fixed, 0.01)]

    assert bench.fixed_cost(entries(60.0)) == (
        "The whole run's fixed cost, its line through the sizes at 0 images: 60.0 s "
        "(target 25 s, **not met**)."
    )
    assert bench.fixed_cost(entries(20.0)).endswith("20.0 s (target 25 s, met).")
    one_size = entries(20.0)[:1]
    assert bench.fixed_cost(one_size) == (
        "The whole run's fixed cost (target 25 s) needs two sizes or more to measure."
    )
    report = bench.markdown(bench.results_file(bench.summarize([repeat(100, 0.2, 0.1)]), "c", 1))
    assert "The whole run's fixed cost (target 25 s) needs two sizes" in report


def without_new_rows(saved: dict) -> dict:
    """A results file as written before the whole run, ingestion and spreads were measured."""
    old = [
        {k: v for k, v in e.items() if k not in ("spread", "ratio_spread", "plain_run_peak_rss_mb")}
        for e in saved["results"]
        if not e["name"].startswith(("whole_run", "examplegen"))
    ]
    return {**saved, "results": old}


@pytest.mark.unit
def test_report_only_on_an_older_results_file_shows_what_it_lacks_as_a_dash(tmp_path):
    repeats = [repeat(100, 0.2, 0.1), repeat(100, 0.3, 0.1), repeat(1000, 0.2, 0.1)]
    old = without_new_rows(bench.results_file(bench.summarize(repeats), "cmd", 2))
    results = tmp_path / "results.json"
    results.write_text(json.dumps(old))

    assert bench.main(["--report-only", "--results", str(results), "--docs", str(tmp_path)]) == 0

    report = (tmp_path / "benchmarks.md").read_text()
    assert "| whole_run @ 100 | data set | - | - | - | - | - | 1.25x |" in report
    assert "| examplegen @ 1000 | all images | - | - | - | - | - | 1.5x |" in report
    assert "| transform @ 100 | train split | 25 | 3.2 | 10 | 8 | **2.5x** | 1.5x |" in report
    assert "| examplegen | - | - | - |" in report
    assert "whole_run - (target 1.25x, not measured)" in report
    assert "no spread was measured here" in report
    assert "| peak memory of the plain whole-run script, MB | - | - | | |" in report
    assert "The whole run's fixed cost, its line through the sizes at 0 images:" in report
    assert (tmp_path / "benchmarks.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.unit
def test_the_plain_split_sends_a_fifth_of_the_files_to_eval_by_their_path_alone():
    paths = [f"class{c}/image{i}.png" for c in range(4) for i in range(500)]
    splits = [plain.split_of(path) for path in paths]

    assert set(splits) == {features.TRAIN_SPLIT, features.EVAL_SPLIT}
    assert splits.count(features.EVAL_SPLIT) / len(paths) == pytest.approx(0.2, abs=0.02)
    # A file keeps its split as others are added: the rule reads its path and nothing else.
    assert [plain.split_of(path) for path in reversed(paths)] == splits[::-1]
    # The plain whole run splits by the same rule, to paths under the data folder.
    files = [(path, int(path[5])) for path in paths[::40]]  # 50 files of the four classes
    by_split = plain_run.split("/data", files)
    assert {split: len(listed) for split, listed in by_split.items()} == {
        split: splits[::40].count(split) for split in (features.TRAIN_SPLIT, features.EVAL_SPLIT)
    }
    for split, listed in by_split.items():
        for path, label in listed:
            assert plain.split_of(os.path.relpath(path, "/data")) == split
            assert label == int(path.split("/")[2][5])


# A few tiny images in two classes, in both splits by plain.split_of (its hash of the path):
# (path, PIL mode, format, (width, height)).
TINY_IMAGES = [
    ("cats/a.png", "RGB", "PNG", (20, 16)),  # train
    ("cats/b.jpg", "L", "JPEG", (12, 10)),  # train
    ("cats/j.png", "RGBA", "PNG", (9, 7)),  # eval
    ("dogs/c.png", "RGB", "PNG", (8, 8)),  # eval
    ("dogs/d.bmp", "RGB", "BMP", (5, 6)),  # train
]


def tiny_images(root) -> None:
    for seed, (path, mode, fmt, size) in enumerate(TINY_IMAGES):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(encode_image(mode, size, fmt, seed))


def tiny_folder(root) -> None:
    """TINY_IMAGES, and what a folder also holds that is no image to ingest."""
    tiny_images(root)
    (root / "dogs" / "broken.png").write_bytes(b"not an image")  # skipped: does not decode
    (root / "cats" / ".hidden.png").write_bytes(encode_image())  # skipped: hidden
    (root / "cats" / "notes.txt").write_text("not an image")  # skipped: not an image's name
    (root / ".cache").mkdir()
    (root / ".cache" / "x.png").write_bytes(encode_image())  # a hidden folder is no class


@pytest.mark.unit
def test_plain_ingestion_writes_each_decodable_image_once_in_its_split(tmp_path):
    tiny_folder(tmp_path / "data")

    seconds, written = plain.examplegen(str(tmp_path / "data"), str(tmp_path / "out"))

    assert seconds > 0
    assert written == {features.TRAIN_SPLIT: 3, features.EVAL_SPLIT: 2}
    found = {}
    for split in written:
        path = str(tmp_path / "out" / f"{split}.tfrecord")
        for record in tf.data.TFRecordDataset(path):
            feature = tf.train.Example.FromString(record.numpy()).features.feature
            name = feature[features.FILENAME_KEY].bytes_list.value[0].decode()
            assert name not in found, name  # once
            shape = tuple(feature[key].int64_list.value[0] for key in features.IMAGE_SHAPE_KEYS)
            label = feature[features.LABEL_KEY].int64_list.value[0]
            found[name] = (split, label, shape, feature[features.IMAGE_KEY].bytes_list.value[0])
    expected = {
        path: (
            plain.split_of(path),
            0 if path.startswith("cats/") else 1,
            (height, width, {"L": 1, "RGB": 3, "RGBA": 4}[mode]),
            (tmp_path / "data" / path).read_bytes(),  # the bytes as found on disk
        )
        for path, mode, _, (width, height) in TINY_IMAGES
    }
    assert found == expected


@pytest.mark.unit
def test_the_plain_whole_run_reads_the_files_decoded_and_labelled(tmp_path):
    tiny_folder(tmp_path / "data")
    class_names, files = plain.list_images(str(tmp_path / "data"))
    assert class_names == ["cats", "dogs"]
    assert {path for path, _ in files} == {path for path, *_ in TINY_IMAGES} | {"dogs/broken.png"}

    decodable = [(str(tmp_path / "data" / p), label) for p, label in files if "broken" not in p]
    batches = list(plain_run.images(decodable, image_size=8))

    labels = [int(label) for _, labels in batches for label in labels]
    assert labels == [label for _, label in decodable]
    images = tf.concat([images for images, _ in batches], axis=0)
    assert images.shape == (len(decodable), 8, 8, 3)
    assert float(tf.reduce_min(images)) >= 0.0 and float(tf.reduce_max(images)) <= 1.0


@pytest.mark.unit
def test_the_plain_whole_run_trains_scores_and_saves_a_model(tmp_path):
    tiny_images(tmp_path / "data")
    config = TrainingConfig(**{**bench.BENCH_TRAINING, "image_size": 32, "epochs": 1})

    result = plain_run.run(str(tmp_path / "data"), str(tmp_path / "work"), config)

    assert (result["train_images"], result["eval_images"]) == (3, 2)  # TINY_IMAGES' splits
    assert set(result["metrics"]) == {"accuracy", "macro_f1", "macro_auc"}
    assert 0.0 <= result["metrics"]["accuracy"] <= 1.0
    assert result["peak_memory_mb"] > 100
    assert tf.saved_model.contains_saved_model(str(tmp_path / "work" / "model"))


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
        bench.run_plain(
            str(tmp_path / "data"),
            str(tmp_path),
            str(tmp_path / "scratch"),
            str(tmp_path / "plain.json"),
            str(log),
        )
    assert "No examples in" in log.read_text()  # an examples folder with no splits


@pytest.mark.unit
def test_sizes_too_small_to_split_are_refused(capsys):
    assert common.parse_sizes("2000,500") == [500, 2000]
    with pytest.raises(ValueError, match="at least 16 images"):
        common.parse_sizes("8")
    with pytest.raises(SystemExit):
        bench.main(["--sizes", "8,2000"])
    assert "argument --sizes: sizes must be at least 16 images" in capsys.readouterr().err


@pytest.mark.e2e
def test_a_tiny_bench_measures_every_stage_and_keeps_them_when_a_later_size_fails(tmp_path):
    results, work = tmp_path / "results.json", tmp_path / "work"
    # 60 images, 15 a class: the fewest demo images that give every class an eval image. The
    # second size's images: none, though marked complete (so kept as they are), so its run fails.
    (work / "data-64").mkdir(parents=True)
    (work / "data-64" / demo_data.COMPLETE_MARKER).touch()
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
        assert ours["spread"] is None and ours["ratio_spread"] is None, stage  # one repeat
    assert entries["run"]["peak_rss_mb"] > 100
    assert entries["run"]["plain_peak_rss_mb"] > 100  # its own process, not the benchmark's
    assert entries["run"]["plain_run_peak_rss_mb"] > 100  # the plain whole-run script's
    assert len(entries["run"]["steal_percent"]) == 1
    assert entries["run"]["seconds"] > entries["trainer"]["seconds"]
    # The whole run is the process's wall time on both sides; ingestion is ImageExampleGen's.
    assert entries["whole_run"]["seconds"] == entries["run"]["seconds"]
    assert entries["whole_run_plain"]["seconds"] > entries["trainer_plain"]["seconds"]
    assert entries["examplegen"]["seconds"] == entries["component:ImageExampleGen"]["seconds"]
    examplegen_rate = 60 / entries["examplegen"]["seconds"]  # every image, both splits
    assert entries["examplegen"]["images_per_s"] == pytest.approx(examplegen_rate, rel=0.05)
    for component in ["ImageExampleGen", "Transform", "Trainer", "Evaluator", "Pusher"]:
        assert f"component:{component}" in entries, component
    report = (tmp_path / "docs" / "benchmarks.md").read_text()
    for stage in bench.STAGES:
        assert f"| {stage} @ 60 |" in report, stage
    assert "The whole run's fixed cost (target 25 s) needs two sizes" in report
    # Each repeat's scratch (its run, the plain side's examples and SavedModel) is removed;
    # its logs stay.
    for scratch in ["run-60-0", "run-60-0.plain-examples", "run-60-0.plain-run"]:
        assert not (work / scratch).exists(), scratch
    for log in ["run-60-0.log", "run-60-0.plain.log", "run-60-0.plain-run.log"]:
        assert (work / log).is_file(), log


@pytest.mark.unit
def test_cores_busy_are_kept_per_repeat_and_shown_per_process(tmp_path):
    entries = bench.summarize([repeat(100, 0.25, 0.1), repeat(100, 0.5, 0.1)])

    run = next(e for e in entries if e["name"] == "run")
    assert run["cores_busy"] == {
        "run": [1.5, 1.5],
        "plain": [1.5, 1.75],
        "plain_run": [1.75, 1.75],
    }
    saved = bench.results_file(entries, "cmd", 2)
    bench.write_results(saved, str(tmp_path / "r.json"), str(tmp_path))
    report = (tmp_path / "benchmarks.md").read_text()
    assert "| cores busy, the plain stages (CPU s / wall s, per repeat) | 1.5 / 1.75 |" in report


@pytest.mark.unit
def test_a_fresh_process_is_timed_with_the_cpu_it_used(tmp_path):
    # About a second of one core's work in a child: its CPU time, not this process's, is counted.
    timed = bench.timed_module(
        "timeit", ["-n", "1", "-r", "1", "sum(range(30_000_000))"], str(tmp_path / "log"), "timeit"
    )

    assert timed.cpu_seconds >= 0.5 * timed.seconds > 0
    assert timed.cores_busy == pytest.approx(timed.cpu_seconds / timed.seconds)


@pytest.mark.unit
def test_the_reported_command_leaves_the_note_out():
    assert bench.command_line(["--sizes", "500", "--note", "quiet machine", "--repeats=2"]) == (
        "python -m bench.speed --sizes 500 --repeats=2"
    )
    assert bench.command_line(["--note=busy"]) == "python -m bench.speed"


@pytest.mark.unit
def test_every_file_of_a_data_set_is_read_before_the_runs(tmp_path):
    """Every file in every subfolder is read whole, past the first chunk."""
    (tmp_path / "circle").mkdir()
    (tmp_path / "circle" / "a.png").write_bytes(b"x" * 3_000_000)  # more than one chunk
    (tmp_path / "b.txt").write_bytes(b"yy")

    assert common.read_every_file(str(tmp_path)) == 3_000_002
