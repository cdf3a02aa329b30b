import time

import pytest

import headstart
from headstart.advise import _recommend, advise
from headstart.cli import main

from conftest import sentiment_data


def measured_fit_seconds(strategy, texts, labels, **options):
    model = headstart.build(strategy, cache=False, **options)
    started = time.perf_counter()
    model.fit(texts, labels)
    return time.perf_counter() - started


# Estimates are for planning: within 3x of a measured fit (two timings of one run; on this 2-core machine a fit of
# a few hundredths of a second sometimes took twice as long under the full suite).
def test_frozen_is_advised_for_few_labels_and_its_estimate_is_within_3x(tiny_encoder):
    texts, labels = sentiment_data(n_per_class=40)
    # This file runs first in the suite: one fit before anything is timed takes the process's one-off costs (first
    # L-BFGS run, first forward pass), which would otherwise fall on advise's measurements alone.
    measured_fit_seconds("frozen", texts, labels, encoder=tiny_encoder)
    advice = advise(texts, labels, encoder=tiny_encoder)
    assert advice["recommendation"] == "frozen"
    assert "40" in advice["reason"] and "frozen" in advice["reason"]
    estimate = advice["estimated_fit_seconds"]["frozen"]
    measured = min(measured_fit_seconds("frozen", texts, labels, encoder=tiny_encoder) for _ in range(2))
    assert 1 / 3 <= estimate / measured <= 3, (estimate, measured)


def test_lp_ft_is_advised_with_enough_data_and_budget_and_its_estimate_is_within_3x(tiny_encoder):
    texts, labels = sentiment_data(n_per_class=70)
    advice = advise(texts, labels, encoder=tiny_encoder, epochs=3)
    assert advice["recommendation"] == "lp-ft"
    estimate = advice["estimated_fit_seconds"]["lp-ft"]
    # The least of three fits: one fit of 0.2 s can take twice as long when the allocator or a thread stalls.
    measured = min(measured_fit_seconds("lp-ft", texts, labels, encoder=tiny_encoder, epochs=3) for _ in range(3))
    assert 1 / 3 <= estimate / measured <= 3, (estimate, measured)


def test_a_tight_budget_falls_back_to_cheaper_strategies():
    estimates = {"zero-shot": 0.1, "tfidf": 2.0, "frozen": 10.0, "partial:2": 200.0, "lp-ft": 400.0, "full": 390.0}
    assert _recommend(estimates, 1000, n=300, typical=100, smallest=100, classes=3)[0] == "lp-ft"
    strategy, reason = _recommend(estimates, 100, n=300, typical=100, smallest=100, classes=3)
    assert strategy == "frozen" and "over the 100 s budget" in reason
    assert _recommend(estimates, 5, n=300, typical=100, smallest=100, classes=3)[0] == "tfidf"
    assert _recommend(estimates, 1000, n=30, typical=10, smallest=10, classes=3)[0] == "frozen"
    # One rare class does not decide for the others.
    assert _recommend(estimates, 1000, n=301, typical=100, smallest=1, classes=4)[0] == "lp-ft"


def test_advise_command_prints_estimates_and_a_reason(tmp_path, tiny_encoder, capsys):
    import pandas as pd

    texts, labels = sentiment_data(n_per_class=20)
    pd.DataFrame({"text": texts, "label": labels}).to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(SystemExit) as exit_info:
        main(["advise", str(tmp_path / "d.csv"), "--encoder", tiny_encoder])
    assert exit_info.value.code in (0, None)
    out = capsys.readouterr().out
    assert "recommended: frozen." in out and "lp-ft" in out and "full" in out


def test_with_two_classes_the_smaller_one_decides(tiny_encoder):
    texts, labels = sentiment_data(n_per_class=100)
    keep = [i for i, label in enumerate(labels) if label == "pos" or i % 25 == 0]  # 100 against 4
    advice = advise([texts[i] for i in keep], [labels[i] for i in keep], encoder=tiny_encoder)
    assert advice["median_class"] == 4 and advice["recommendation"] == "frozen"


def test_the_training_step_is_timed_on_a_random_batch_not_the_files_first_rows(tiny_encoder, monkeypatch):
    texts, labels = sentiment_data(n_per_class=40)
    texts = [text + " great" * (i % 9) for i, text in enumerate(texts)]
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # a file sorted by length
    timed = []
    monkeypatch.setattr("headstart.advise._measure_train_step", lambda model, batch, *rest: timed.append(batch) or 0.01)
    advise([texts[i] for i in order], [labels[i] for i in order], encoder=tiny_encoder)
    shortest = sorted(map(len, texts))[:16]
    assert len(timed[0]) == 16 and sorted(map(len, timed[0])) != shortest
