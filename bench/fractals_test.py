"""The fractal source: categories are contractive systems, images repeat by seed and differ by
category."""

import numpy as np
import pytest

from bench import fractals

pytestmark = pytest.mark.unit


def test_every_map_contracts_and_the_sigma_factor_is_in_range():
    for seed in range(20):
        maps, probabilities = fractals.sample_system(np.random.default_rng(seed))
        n = len(maps)
        singular = np.linalg.svd(maps[:, :, :2], compute_uv=False)
        assert 2 <= n <= 4
        assert singular.max() < 1
        sigma_factor = (singular[:, 0] + 2 * singular[:, 1]).sum()
        assert (5 + n) / 2 - 1e-9 <= sigma_factor <= (6 + n) / 2 + 1e-9
        assert probabilities.sum() == pytest.approx(1)


def test_a_category_covers_its_frame_and_the_chaos_game_stays_on_its_attractor():
    rng = np.random.default_rng(3)
    maps, probabilities = fractals.sample_category(rng)

    assert fractals.fill_rate(maps, probabilities, rng) >= fractals.MIN_FILL
    points, placed_by = fractals.chaos_game(maps, probabilities, rng)
    assert len(points) == len(placed_by) and np.isfinite(points).all()
    assert set(placed_by.tolist()) == set(range(len(maps)))


def test_images_repeat_by_seed_and_a_category_is_told_from_another_by_its_shape():
    first = fractals.sample_category(np.random.default_rng([7, 1000]))
    second = fractals.sample_category(np.random.default_rng([7, 1001]))

    image = fractals.render(*first, np.random.default_rng([7, 0, 0]), size=48)
    again = fractals.render(*first, np.random.default_rng([7, 0, 0]), size=48)
    other = fractals.render(*second, np.random.default_rng([7, 0, 0]), size=48)

    assert image.shape == (48, 48, 3) and image.dtype == np.uint8
    assert np.array_equal(image, again)
    assert not np.array_equal(image, other)
    assert image.std() > 10  # a drawn fractal, not a blank frame
