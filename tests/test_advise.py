import os

import pytest
from conftest import make_tiny_encoder, sentiment_data

import headstart
from headstart.advise import SAMPLE, _recommend, _recommend_encoder, advise
from headstart.cli import main


# Timings are injected, never measured: wall-clock times on a shared machine flake. These tests check what advise
# times and how each estimate is built from its timings.
def inject_timings(
    monkeypatch, forward=(0.2, 0.1), head_cv=(0.8, 0.5), tfidf=0.3, fingerprint=0.25, train_step_per_text=0.004
):
    """Make advise's measurements take the given seconds (``forward`` and ``head_cv``: the first run's, then the
    second's; ``forward`` for the whole sample) without running them; returns the measurements' names as taken."""
    seconds = {
        "load": [1.5],
        "forward": list(forward),
        "head CV": list(head_cv),
        "tfidf": [tfidf],
        "fingerprint": [fingerprint],
    }
    timed = []

    def fake_timed(what, action):
        timed.append(what)
        return seconds[what].pop(0)

    monkeypatch.setattr("headstart.advise._timed", fake_timed)
    monkeypatch.setattr("headstart.advise._measure_train_step", lambda *args: train_step_per_text)
    return timed


def test_the_frozen_estimate_is_encoding_the_texts_plus_the_samples_head_cv_scaled_to_the_data(
    tiny_encoder, monkeypatch
):
    texts, labels = sentiment_data(n_per_class=100)  # 200 texts: the encoder and the head are timed on 128 of them
    # The first runs pay one-off costs (kernel set-up, L-BFGS warm-up) that a real fit spreads thin: the second counts.
    timed = inject_timings(monkeypatch, forward=(0.256, 0.128), head_cv=(0.9, 0.64), fingerprint=0.25)
    advice = advise(texts, labels, encoder=tiny_encoder)
    per_text, head_cv = 0.128 / SAMPLE, 0.64 * len(texts) / SAMPLE
    assert sorted(timed) == ["fingerprint", "forward", "forward", "head CV", "head CV", "load", "tfidf"]
    assert advice["texts_cached"] == 0
    assert advice["estimated_fit_seconds"]["frozen"] == pytest.approx(len(set(texts)) * per_text + head_cv + 0.25)
    assert advice["measured"]["encode_texts_per_second"] == pytest.approx(1 / per_text)
    assert advice["measured"]["head_cv_seconds"] == pytest.approx(head_cv)
    assert advice["estimated_fit_seconds"]["zero-shot"] == pytest.approx(
        2 * per_text
    )  # one pass over the 2 label names


def test_texts_already_in_the_cache_are_not_counted_in_the_frozen_estimate(tiny_encoder, monkeypatch):
    texts, labels = sentiment_data(n_per_class=40)
    headstart.FrozenEncoderClassifier(encoder=tiny_encoder).fit(
        texts[::2], labels[::2]
    )  # caches half the texts' vectors
    inject_timings(monkeypatch, forward=(0.08, 0.08), head_cv=(0.5, 0.5), fingerprint=0.25)
    advice = advise(texts, labels, encoder=tiny_encoder)
    per_text = 0.08 / len(texts)  # fewer texts than the sample: all of them are timed
    assert advice["texts_cached"] == len(set(texts[::2]))
    assert advice["estimated_fit_seconds"]["frozen"] == pytest.approx(
        len(set(texts) - set(texts[::2])) * per_text + 0.5 + 0.25
    )


def test_the_fine_tuning_estimates_grow_linearly_with_the_epochs(tiny_encoder, monkeypatch):
    texts, labels = sentiment_data(n_per_class=40)  # 80 texts: each epoch trains on 68 and validates 12 (15%)
    estimates = {}
    for epochs in (1, 3):
        inject_timings(monkeypatch, forward=(0.08, 0.08), train_step_per_text=0.005)
        estimates[epochs] = advise(texts, labels, encoder=tiny_encoder, epochs=epochs)["estimated_fit_seconds"]
    epoch = 68 * 0.005 + 12 * 0.08 / len(texts)
    for epochs, estimate in estimates.items():
        assert estimate["full"] == pytest.approx(epochs * epoch)
        assert estimate["lp-ft"] == pytest.approx(estimate["frozen"] + epochs * epoch)  # the probe, then fine-tuning
    assert estimates[3]["partial:2"] == pytest.approx(3 * estimates[1]["partial:2"])


def test_the_tfidf_estimate_scales_its_subsets_fit_to_the_datas_size(tiny_encoder, monkeypatch):
    texts, labels = sentiment_data(n_per_class=100)
    inject_timings(monkeypatch, tfidf=0.3)
    assert advise(texts, labels, encoder=tiny_encoder)["estimated_fit_seconds"]["tfidf"] == pytest.approx(
        0.3
    )  # all 200 fitted
    monkeypatch.setattr("headstart.advise.TFIDF_SAMPLE", 50)
    inject_timings(monkeypatch, tfidf=0.3)
    assert advise(texts, labels, encoder=tiny_encoder)["estimated_fit_seconds"]["tfidf"] == pytest.approx(
        0.3 * 200 / 50
    )


def test_frozen_is_advised_for_few_labels(tiny_encoder, monkeypatch):
    texts, labels = sentiment_data(n_per_class=40)
    inject_timings(monkeypatch)
    advice = advise(texts, labels, encoder=tiny_encoder)
    assert advice["recommendation"] == "frozen"
    assert "40" in advice["reason"] and "frozen" in advice["reason"]


def test_lp_ft_is_advised_with_enough_data_and_budget(tiny_encoder, monkeypatch):
    texts, labels = sentiment_data(n_per_class=70)
    inject_timings(monkeypatch)
    assert advise(texts, labels, encoder=tiny_encoder, epochs=3)["recommendation"] == "lp-ft"


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
    assert f"recommended: frozen on {os.path.basename(tiny_encoder)}." in out and "lp-ft" in out and "full" in out


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


def test_the_largest_encoder_whose_frozen_fit_fits_the_budget_is_recommended():
    def measured(parameters, frozen_seconds):
        return {"parameters": parameters, "estimated_fit_seconds": {"frozen": frozen_seconds}}

    both = {"small": measured(20e6, 30.0), "large": measured(110e6, 150.0)}
    chosen, reason = _recommend_encoder(both, 600, n=1000)
    assert chosen == "large" and "largest encoder measured" in reason and "small about 30 s" in reason
    chosen, reason = _recommend_encoder(both, 100, n=1000)
    assert chosen == "small" and "large would exceed the 100 s budget" in reason
    chosen, reason = _recommend_encoder(both, 10, n=1000)
    assert chosen == "small" and "No encoder fits the 10 s budget" in reason and "fastest" in reason


def test_advise_measures_every_encoder_given_and_names_the_larger(tmp_path):
    small = str(make_tiny_encoder(tmp_path / "small", hidden_size=16))
    large = str(make_tiny_encoder(tmp_path / "large", hidden_size=64))
    texts, labels = sentiment_data(n_per_class=20)
    advice = advise(texts, labels, budget_seconds=1e6, encoders=[small, large])
    assert set(advice["encoders"]) == {"small", "large"}
    assert advice["encoders"]["large"]["parameters"] > advice["encoders"]["small"]["parameters"]
    assert advice["encoder"] == "large" and "small about" in advice["encoder_reason"]
    assert advice["estimated_fit_seconds"] == advice["encoders"]["large"]["estimated_fit_seconds"]
