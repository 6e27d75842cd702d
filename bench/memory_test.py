"""make bench-memory: the report on made-up runs, and one real tiny run past its budget."""

import json

import pytest

from bench import memory


def run(size: int, cached: bool, peak: int) -> dict:
    return {
        "size": size,
        "train_images": size * 4 // 5,
        "decoded_gb": 0.05 * size / 1000,
        "cached": cached,
        "peak_rss_mb": peak,
        "seconds": size / 100,
    }


@pytest.mark.unit
def test_the_report_says_what_was_kept_and_how_the_peak_grew_past_the_budget():
    saved = {
        "date": "2026-12-07",
        "note": "",
        "machine": "2 cores",
        "command": "make bench-memory",
        "cache_budget_gb": 0.1,
        "results": [run(2000, True, 1550), run(8000, False, 1650), run(32000, False, 1700)],
    }

    text = memory.markdown(saved)

    assert "| 2000 | 1600 | 0.1 | yes | 1550 | 20 |" in text
    assert "| 32000 | 25600 | 1.6 | no, decoded every epoch | 1700 | 320 |" in text
    assert "from 8000 to 32000 images (4 times the data), the peak grew by 50 MB (+3%)" in text


@pytest.mark.unit
@pytest.mark.parametrize("budget", ["-1", "nan"])
def test_a_budget_the_trainer_refuses_is_refused_before_any_data_is_made(budget, tmp_path, capsys):
    with pytest.raises(SystemExit):
        memory.main(["--cache-budget-gb", budget, "--work", str(tmp_path / "work")])

    assert f"cache_budget_gb={budget}" in capsys.readouterr().err
    assert not (tmp_path / "work").exists()


@pytest.mark.e2e
def test_a_run_past_its_budget_decodes_every_epoch_and_is_reported(tmp_path):
    results, docs = tmp_path / "memory.json", tmp_path / "docs"
    # A budget of 0 keeps no decoded image, where the default would keep all 60.
    flags = ["--sizes", "60", "--cache-budget-gb", "0", "--work", str(tmp_path / "work")]

    assert memory.main([*flags, "--results", str(results), "--docs", str(docs)]) == 0

    (measured,) = json.loads(results.read_text())["results"]
    assert measured["cached"] is False
    assert measured["size"] == 60 and 0 < measured["train_images"] < 60
    assert measured["peak_rss_mb"] > 0
    assert "no, decoded every epoch" in (docs / "benchmarks-memory.md").read_text()
