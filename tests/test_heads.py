import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from headstart.heads import C_GRID, sample_weights, train_head


def blobs(n=60, d=8, k=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    X = rng.normal(size=(n, d)) + 1.5 * np.eye(k, d)[y]
    return X.astype(np.float32), y


def test_linear_head_matches_scikit_learn_logistic_regression():
    X, y = blobs()
    head, info = train_head(X, y, 3, "linear", C=0.5)
    reference = LogisticRegression(C=0.5, max_iter=5000, tol=1e-10).fit(X, y)
    with torch.no_grad():
        ours = torch.softmax(head(torch.as_tensor(X)), dim=1).numpy()
    np.testing.assert_allclose(ours, reference.predict_proba(X), atol=2e-3)
    assert info["C"] == 0.5 and info["C_chosen_by"] == "given"


def test_wide_features_are_fitted_exactly_in_the_span_of_the_rows():
    # More features than examples, as in few-shot work: the head is fitted in the rows' span, then mapped back.
    X, y = blobs(n=30, d=100, k=3, seed=1)
    X[:, 50:] = 0.0  # directions no example uses must get zero weight
    head, _ = train_head(X, y, 3, "linear", C=2.0, class_weight="balanced")
    reference = LogisticRegression(C=2.0, class_weight="balanced", max_iter=5000, tol=1e-10).fit(X, y)
    with torch.no_grad():
        ours = torch.softmax(head(torch.as_tensor(X)), dim=1).numpy()
        weight = head.linear.weight.numpy()
    np.testing.assert_allclose(ours, reference.predict_proba(X), atol=2e-3)
    np.testing.assert_allclose(weight, reference.coef_ - reference.coef_.mean(axis=0), atol=2e-3)
    assert np.abs(weight[:, 50:]).max() < 1e-6


def test_C_is_chosen_by_cross_validation_and_reported():
    X, y = blobs()
    _, info = train_head(X, y, 3, "linear")
    assert info["C"] in C_GRID
    assert info["validation"]["source"] == "5-fold CV" and info["validation"]["examples"] == len(y)
    assert 0.5 < info["validation"]["accuracy"] <= 1.0


def test_the_one_standard_error_rule_picks_a_smaller_C_on_noisy_data():
    for seed in range(3):
        X, y = blobs(n=45, d=40, seed=seed)
        _, best = train_head(X, y, 3, "linear", seed=seed)
        _, simpler = train_head(X, y, 3, "linear", seed=seed, within_one_se=True)
        assert simpler["C"] < best["C"] and simpler["C_chosen_by"] == "5-fold CV, one-SE rule"


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_the_same_seed_gives_the_same_head(kind):
    X, y = blobs()
    first, _ = train_head(X, y, 3, kind, seed=3)
    second, _ = train_head(X, y, 3, kind, seed=3)
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        torch.testing.assert_close(a, b)


def test_mlp_stops_early_on_its_validation_split_and_keeps_the_best_epoch():
    X, y = blobs(n=90)
    head, info = train_head(X, y, 3, "mlp", validation_fraction=0.2)
    assert info["best_epoch"] <= info["epochs_run"] < 300
    assert info["validation"]["examples"] == 18
    assert not head.training


def test_balanced_class_weight_is_inverse_frequency():
    y = np.array([0, 0, 0, 1])
    weights = sample_weights(y, 2, "balanced")
    torch.testing.assert_close(weights, torch.tensor([2 / 3, 2 / 3, 2 / 3, 2.0]))
    assert (weights * torch.as_tensor(y == 1)).sum() == (weights * torch.as_tensor(y == 0)).sum()
