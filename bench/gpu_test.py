"""make bench-gpu: the pace and verdict arithmetic, the page with and without results, the refusal
without a GPU, and one real tiny run on a CPU end to end."""

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from bench import common, gpu
from pipeline import exit_codes

ROOT = Path(__file__).resolve().parents[1]


def saved_results(gpus: list[str] | None = None) -> dict:
    """A results file as a GPU run would write it, with round made-up figures."""

    def side(policy: str, seconds: list[float], busy: float | None = None) -> dict:
        found = {"policy": policy, "epoch_seconds": seconds, "fit_images": 6400}
        gpu._pace(found, 6400)
        if busy is not None:
            found["gpu_utilization"] = {"median_percent": busy, "samples": 12}
        return found

    measured = {
        "size": 8000,
        "train_images": 6400 * 5 // 4,
        "fit_images": 6400,
        "input": {"images_per_s": 9000.0, "first_pass_images_per_s": 1500.0},
        "precisions": {
            "float32": {
                "pipeline": side("float32", [20.0, 3.2, 3.0, 3.4], busy=80.0),
                "plain": side("float32", [15.0, 2.5, 2.5, 2.5]),
            },
            "mixed_float16": {
                "pipeline": side("mixed_float16", [22.0, 2.0, 2.0, 2.0], busy=55.0),
                "plain": side("mixed_float16", [16.0, 1.6, 1.6, 1.6]),
            },
        },
        "verdict": gpu.verdict(9000.0, 3200.0),
        "utilization": "nvidia-smi every 500 ms",
        "seconds": 300,
    }
    gpus = ["NVIDIA H100 80GB HBM3"] if gpus is None else gpus
    return gpu.results_file(measured, dict(gpu.GPU_TRAINING), gpus, "make bench-gpu")


@pytest.mark.unit
def test_the_pace_is_the_images_fitted_over_the_median_epoch_after_the_first():
    # The first epoch (decoding, tracing) is left out; the median of the rest resists one slow.
    assert gpu.steady_pace(6400, [30.0, 2.0, 9.0, 3.2]) == pytest.approx(2000.0)
    assert gpu.steady_pace(100, [5.0, 0.5]) == pytest.approx(200.0)
    with pytest.raises(ValueError, match="2 epochs or more"):
        gpu.steady_pace(100, [5.0])
    # Every fifth image of the train split validates instead (training.split_validation).
    assert gpu.fit_images(100) == 80
    assert gpu.fit_images(101) == 80  # images 0, 5, ..., 100 held out: 21
    assert gpu.fit_images(6400) == 5120


@pytest.mark.unit
def test_the_input_pipeline_keeps_the_gpu_busy_only_with_the_margin():
    busy = gpu.verdict(2400.0, 2000.0)
    assert busy["busy"] and busy["ratio"] == 1.2
    assert busy["text"].startswith("The input pipeline keeps the GPU busy: 2,400 images/s, 1.2x")

    waiting = gpu.verdict(2200.0, 2000.0)
    assert not waiting["busy"] and waiting["ratio"] == 1.1
    assert "does NOT keep the GPU busy" in waiting["text"]
    assert "the GPU is likely waiting for data" in waiting["text"]


@pytest.mark.unit
def test_mixed_precision_runs_only_where_asked_and_a_gpu_is_present():
    assert gpu.precision_policy(mixed=True, has_gpu=True) == "mixed_float16"
    assert gpu.precision_policy(mixed=True, has_gpu=False) == "float32"  # the Trainer's rule
    assert gpu.precision_policy(mixed=False, has_gpu=True) == "float32"

    flags = gpu.runner_flags(gpu.GPU_TRAINING, mixed=True)
    assert flags[flags.index("--mixed-precision") + 1] == "true"
    assert flags[flags.index("--weights") + 1] == "none"
    assert flags[flags.index("--early-stopping") + 1] == "false"
    # The Trainer's default image size, whatever it is.
    assert flags[flags.index("--image-size") + 1] == str(gpu.TrainingConfig.image_size)


@pytest.mark.unit
def test_utilization_is_the_median_of_the_samples_inside_the_steady_epochs():
    lines = [
        "2026/12/01 10:00:00.000, 5",  # the first epoch: decoding, the GPU idle
        "2026/12/01 10:00:10.000, 90",
        "2026/12/01 10:00:10.500, 70",
        "2026/12/01 10:00:11.000, [N/A]",  # not measured: left out
        "2026/12/01 10:00:12.000, 80",
        "2026/12/01 10:00:20.000, 0",  # export, after the epochs
        "2026/12/01 10:00:2",  # cut short when nvidia-smi was stopped
    ]
    samples = gpu.parse_utilization(lines)
    assert [p for _, p in samples] == [5, 90, 70, 80, 0]
    start = samples[1][0]
    windows = [(start - 0.1, start + 0.6), (start + 1.5, start + 2.5)]
    assert gpu.median_utilization(samples, windows) == 80
    assert gpu.median_utilization(samples, []) is None


@pytest.mark.unit
def test_the_page_without_results_says_gpu_figures_are_still_to_come():
    page = gpu.markdown(None)

    assert "GPU figures are still to come: no GPU has been available; run `make bench-gpu`" in page
    assert f"{gpu.DEFAULT_SIZE:,} demo images" in page
    image_size, batch = gpu.GPU_TRAINING["image_size"], gpu.GPU_TRAINING["batch_size"]
    assert f"at {image_size} px, batch {batch}" in page
    assert "images/s" not in page  # no figures, made up or from a CPU


@pytest.mark.unit
def test_the_committed_page_is_what_the_code_writes():
    saved = common.read_results(str(ROOT / gpu.DEFAULT_RESULTS))
    assert (ROOT / "docs" / gpu.DOC_NAME).read_text() == gpu.markdown(saved)


@pytest.mark.unit
def test_the_page_with_results_shows_each_precisions_paces_and_the_verdict(tmp_path):
    saved = saved_results()
    results = tmp_path / "gpu_results.json"
    gpu.write_results(saved, str(results))

    assert gpu.main(["--report-only", "--results", str(results), "--docs", str(tmp_path)]) == 0
    page = (tmp_path / gpu.DOC_NAME).read_text()
    assert "still to come" not in page
    assert "GPU: NVIDIA H100 80GB HBM3" in page
    # 6,400 images over 3.2 s (the median after the first epoch), against 2.5 s plain.
    assert "| float32 | 2,000.0 | 2,560.0 | **1.28x** | 80% (12 samples) |" in page
    assert "| mixed_float16 | 3,200.0 | 4,000.0 | **1.25x** | 55% (12 samples) |" in page
    assert "| mixed over float32 | 1.60x | 1.56x | | |" in page
    assert "- Trainer, float32: 20, 3.2, 3, 3.4" in page
    assert "The input pipeline keeps the GPU busy: 9,000 images/s, 2.8x" in page
    assert "CPU figures" not in page

    cpu_page = gpu.markdown(saved_results(gpus=[]))
    assert "No GPU was visible (`--allow-cpu`): these are CPU figures" in cpu_page


@pytest.mark.unit
def test_without_a_gpu_it_refuses_before_doing_anything(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(gpu, "visible_gpus", lambda: [])
    work = tmp_path / "work"

    assert gpu.main(["--work", str(work), "--results", str(tmp_path / "r.json")]) == 2
    assert exit_codes.BAD_INPUT == 2
    error = capsys.readouterr().err
    assert error.startswith("error: no GPU visible to TensorFlow: run make bench-gpu on a machine")
    assert "--allow-cpu" in error and error.count("\n") == 1
    assert not work.exists() and not (tmp_path / "r.json").exists()


def fake_nvidia_smi(folder: Path) -> None:
    """An `nvidia-smi` that reports 42% every 50 ms in the real one's format until Ctrl-C:
    epochs on a CPU last a fraction of a second, and the sampling must still land inside them."""
    script = folder / "nvidia-smi"
    script.write_text(
        f"#!{sys.executable}\n"
        "import datetime, time\n"
        "while True:\n"
        "    now = datetime.datetime.now().strftime('%Y/%m/%d %H:%M:%S.%f')[:-3]\n"
        "    print(f'{now}, 42', flush=True)\n"
        "    time.sleep(0.05)\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


@pytest.mark.unit
def test_too_few_images_are_refused_before_doing_anything(tmp_path, capsys):
    work, results = tmp_path / "work", tmp_path / "r.json"
    too_few = common.SMALLEST_SIZE - 1
    flags = ["--allow-cpu", "--size", str(too_few), "--work", str(work), "--results", str(results)]

    assert gpu.main(flags) == exit_codes.BAD_INPUT

    error = capsys.readouterr().err
    assert error == f"error: --size must be at least 16 images, got {too_few}\n"
    assert not work.exists() and not results.exists()


@pytest.mark.e2e
def test_a_tiny_run_on_a_cpu_measures_both_precisions_and_the_input_pipeline(tmp_path, monkeypatch):
    fake_nvidia_smi(tmp_path)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    results, docs, work = tmp_path / "r.json", tmp_path / "docs", tmp_path / "work"
    # 60 images, 15 a class: the fewest demo images that give every class an eval image.
    tiny = ["--size", "60", "--image-size", "32", "--epochs", "2", "--batch-size", "8"]
    flags = ["--results", str(results), "--docs", str(docs), "--work", str(work)]

    assert gpu.main(["--allow-cpu", *tiny, *flags]) == 0

    saved = json.loads(results.read_text())
    assert set(saved["precisions"]) == {"float32", "mixed_float16"}
    for precision, run in saved["precisions"].items():
        for side in ("pipeline", "plain"):
            assert run[side]["images_per_s"] > 0, (precision, side)
            assert len(run[side]["epoch_seconds"]) == 2, (precision, side)
        assert run["pipeline"]["gpu_utilization"]["median_percent"] == 42, precision
    assert saved["precisions"]["mixed_float16"]["plain"]["fit_images"] == saved["fit_images"]
    cached = saved["precisions"]["mixed_float16"]["pipeline"]["cached"]
    assert {"ImageExampleGen", "Transform"} <= set(cached)
    assert "Trainer" not in cached
    assert saved["input"]["images_per_s"] > 0 and saved["input"]["first_pass_images_per_s"] > 0
    assert saved["fit_images"] == gpu.fit_images(saved["train_images"])
    assert saved["settings"]["image_size"] == 32
    assert isinstance(saved["verdict"]["busy"], bool)
    page = (docs / gpu.DOC_NAME).read_text()
    assert page == gpu.markdown(saved)
    assert "| float32" in page and "| mixed_float16" in page
