from bot.measure import percentile


def test_percentile_interpolates_between_ranks_like_numpy():
    import numpy as np

    assert percentile([], 50) is None
    assert percentile([5], 95) == 5
    assert percentile([1, 2, 3, 4], 50) == 2.5
    values = [3.0, 1.0, 10.0, 7.5, 2.0, 2.0, 9.0]
    for q in (0, 5, 50, 90, 95, 99, 100):
        assert abs(percentile(values, q) - float(np.percentile(values, q))) < 1e-9
