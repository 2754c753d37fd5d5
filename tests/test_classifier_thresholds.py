"""Threshold choice: the widest coverage whose precision still meets the target."""

import numpy as np

from classifier import thresholds


def brute_force(correct, confidence, target):
    """Every distinct confidence as a candidate threshold; keep the widest that qualifies."""
    best = None
    for t in sorted(set(confidence)):
        kept = confidence >= t
        if correct[kept].mean() >= target and (best is None or kept.sum() > best[1]):
            best = (t, kept.sum())
    return best


def test_matches_brute_force_on_random_scores():
    rng = np.random.default_rng(7)
    for _ in range(50):
        n = int(rng.integers(5, 60))
        confidence = np.round(rng.random(n), 2)  # ties on purpose
        correct = rng.random(n) < confidence + 0.2
        chosen = thresholds.choose(correct, confidence, 0.8)
        expected = brute_force(correct, confidence, 0.8)
        if expected is None:
            assert chosen.value is None and chosen.coverage == 0.0
        else:
            assert chosen.value == expected[0]
            assert chosen.coverage == expected[1] / n
            assert chosen.precision >= 0.8


def test_unreachable_target_reviews_everything():
    chosen = thresholds.choose(np.array([False, True]), np.array([0.9, 0.4]), 0.9)
    assert chosen.value is None
    assert thresholds.needs_review(np.array([0.99, 0.1]), chosen.value).all()


def test_review_flag_is_below_threshold_only():
    flags = thresholds.needs_review(np.array([0.5, 0.7, 0.9]), 0.7)
    assert flags.tolist() == [True, False, False]
