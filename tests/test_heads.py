import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, cross_val_score

from headstart.data import first_occurrence, stratified_split
from headstart.heads import C_GRID, NO_CV, cv_folds, first_of_rows, sample_weights, train_head, walk_grid


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


def test_a_given_C_reports_the_cross_validation_scikit_learn_gets():
    # Nearly unregularised on separable, low-rank features, at the largest C allowed: loosely fitted folds score lower.
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(60, 5)) @ rng.normal(size=(5, 300)) + 0.01 * rng.normal(size=(60, 300))).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    _, info = train_head(X, y, 2, "linear", C=1e4)
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    reference = cross_val_score(LogisticRegression(C=1e4, max_iter=100_000, tol=1e-10), X, y, cv=folds).mean()
    # Within one example, not exactly: at C = 1e4 the fit stops at its gradient tolerance short of scikit-learn's
    # optimum, where two held-out rows lie within 0.3 of the boundary (0.983 or 1.0 by the CPU's float32 BLAS kernel,
    # e.g. OPENBLAS_CORETYPE=Haswell). Loosely fitted folds are two examples off (0.95).
    assert info["validation"]["accuracy"] == pytest.approx(reference, abs=1 / len(y) + 1e-9)


def test_C_is_chosen_by_cross_validation_and_reported():
    X, y = blobs()
    _, info = train_head(X, y, 3, "linear")
    assert info["C"] in C_GRID
    assert info["validation"]["source"] == "5-fold CV" and info["validation"]["examples"] == len(y)
    assert 0.5 < info["validation"]["accuracy"] <= 1.0


def test_rare_classes_keep_the_cross_validation_of_the_others():
    # A long tail, as in real labels: one class with a single example, one with two, two common ones.
    X, y = blobs(n=40, d=16, k=2)
    X = np.vstack(
        [X, 3.0 + np.arange(3, dtype=np.float32)[:, None] * np.ones(16, dtype=np.float32)]
    )  # three distinct texts
    y = np.concatenate([y, [2, 3, 3]])
    splits = cv_folds(y, 4, seed=0)
    assert len(splits) == 5
    for train, val in splits:
        assert 40 in train and 40 not in val  # the single example is always trained on
        assert sorted(np.concatenate([train, val]).tolist()) == list(range(43))
    validated = np.concatenate([val for _, val in splits])
    assert sorted(validated.tolist()) == [i for i in range(43) if i != 40]
    fold_of = {i: fold for fold, (_, val) in enumerate(splits) for i in val}
    assert fold_of[41] != fold_of[42]  # each of the pair is validated by a fold that trained on the other
    _, info = train_head(X, y, 4, "linear")
    assert info["C_chosen_by"] == "5-fold CV" and info["validation"]["examples"] == 42


def test_cv_folds_spread_each_class_as_scikit_learns_stratified_group_k_fold_does_within_one_text():
    rng = np.random.default_rng(0)
    y_of_text = np.repeat([0, 1, 2, 3], [23, 11, 7, 3])
    text_of_row = rng.permutation(np.repeat(np.arange(len(y_of_text)), 2))  # every text twice, in a random order
    y, first = y_of_text[text_of_row], first_occurrence(text_of_row)
    ours = cv_folds(y, 4, 0, first)
    theirs = list(StratifiedGroupKFold(5, shuffle=True, random_state=0).split(y, y, first))

    def rows_per_class(splits):  # (fold, class) validated rows, each class's folds in increasing order
        return np.sort([np.bincount(y[val], minlength=4) for _, val in splits], axis=0)

    assert (
        len(ours) == len(theirs) and np.abs(rows_per_class(ours) - rows_per_class(theirs)).max() <= 2
    )  # a text's 2 copies
    for train, val in ours:
        assert not set(first[train]) & set(first[val])


def test_without_any_class_of_two_there_is_no_cross_validation():
    X, y = blobs(n=3, d=4, k=3)
    assert cv_folds(y, 3, seed=0) == []
    _, info = train_head(X, y, 3, "linear")
    assert info["C_chosen_by"] == NO_CV and "validation" not in info


def test_the_walk_over_C_finds_the_valley_from_where_it_starts():
    calls = []

    def evaluate(i, start):
        calls.append((i, start))
        return np.full(3, (i - 7) ** 2 + 1.0)  # the valley at C_GRID[7]

    assert walk_grid(C_GRID, evaluate) == 7
    assert calls == [(4, None), (5, 4), (6, 5), (7, 6), (8, 7)]  # from C = 1 up, one step past the valley
    calls.clear()
    assert walk_grid(C_GRID, evaluate, start=1000.0) == 7
    assert calls == [(10, None), (9, 10), (8, 9), (7, 8), (6, 7)]  # from the top down


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


def test_copies_of_a_text_share_a_fold_and_cannot_inflate_the_cv():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 64)), rng.integers(0, 2, 40)  # random labels: nothing to learn
    copies, y_copies = np.tile(X, (4, 1)), np.tile(y, 4)
    first = first_of_rows(copies)
    for train, val in cv_folds(y_copies, 2, 0, first):
        assert not set(first[train]) & set(first[val])
    _, info = train_head(copies, y_copies, 2)
    assert info["validation"]["accuracy"] < 0.75  # copies in both sides of a fold read 1.0
    train, held = stratified_split(y_copies, 0.25, 0, first)
    assert len(held) and not set(first[train]) & set(first[held])
    assert [f.tolist() for fold in cv_folds(y, 2, 0, np.arange(40)) for f in fold] == [
        f.tolist() for fold in cv_folds(y, 2, 0) for f in fold
    ]
