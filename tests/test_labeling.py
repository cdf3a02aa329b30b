"""headstart suggest: which texts to label next."""

import io

import numpy as np
import pandas as pd
import pytest
from conftest import sentiment_data

import headstart
from headstart import FrozenEncoderClassifier, labeling, suggest
from headstart.cli import main
from headstart.compare import run_comparison
from headstart.errors import HeadstartError
from headstart.labeling import _uncertain
from headstart.report import write_report

GROUPS = {
    "bags": "my bag was lost at the airport and nobody helps",
    "food": "the food on board was cold and tasteless",
    "crew": "the crew were friendly and kind to my kids",
}


def grouped_pool(per_group: int = 12) -> tuple[list[str], list[str]]:
    """Near-copies of three texts: a group is one kind of text."""
    texts, groups = [], []
    for group, text in GROUPS.items():
        for i in range(per_group):
            texts.append(f"{text} {i}")
            groups.append(group)
    return texts, groups


def test_the_cold_start_picks_one_representative_text_of_each_kind(tiny_encoder):
    texts, groups = grouped_pool()
    table = suggest(texts, k=3, encoder=tiny_encoder)
    assert list(table.columns) == ["text", "label", "guess", "confidence", "reason"]
    picked = {groups[texts.index(t)] for t in table["text"]}
    assert picked == set(GROUPS)  # diverse: one of each kind, not three near-copies
    assert (table["label"] == "").all() and table["guess"].isna().all()
    assert all(r.startswith("typical of 12 similar texts (33% of the pool)") for r in table["reason"])


def test_with_labels_it_suggests_uncertain_texts_never_labeled_ones_or_their_copies(tiny_encoder):
    texts, labels = sentiment_data(n_per_class=30)
    labeled, known = texts[:10] + texts[30:40], labels[:10] + labels[30:40]
    pool = texts + [f"  {texts[0]} "] + [texts[45]]  # a labeled text with spaces around it; a copy of a pool text
    table = suggest(pool, k=8, labeled_texts=labeled, labels=known, encoder=tiny_encoder)
    assert len(table) == 8 and table["text"].is_unique
    assert not {t.strip() for t in table["text"]} & set(labeled)
    model = FrozenEncoderClassifier(encoder=tiny_encoder).fit(labeled, known)
    proba = model.predict_proba(table["text"].tolist())
    margins = np.sort(proba, axis=1)[:, -1] - np.sort(proba, axis=1)[:, -2]
    assert list(margins) == sorted(margins)  # the least sure first
    assert list(table["guess"]) == list(model.predict(table["text"].tolist()))
    assert all(r.startswith("uncertain between ") for r in table["reason"])
    # An empty labeled text is dropped with its label, as train drops it.
    assert len(suggest(pool, k=3, labeled_texts=["", *labeled], labels=["neg", *known], encoder=tiny_encoder)) == 3
    # Asked for more than are left: every unlabeled text once.
    assert len(suggest(pool, k=1000, labeled_texts=labeled, labels=known, encoder=tiny_encoder)) == 40


class Fixed:
    """A stand-in model whose probabilities are given."""

    classes_ = np.array(["neg", "pos"])

    def __init__(self, proba):
        self.proba = proba

    def predict_proba(self, texts):
        return self.proba


def test_one_batch_is_not_k_near_copies_of_the_most_uncertain_text():
    rng = np.random.default_rng(0)
    # Ten near-copies, the least sure of all, and ten different texts a little surer.
    copies = np.tile(rng.normal(size=8), (10, 1)) + rng.normal(scale=1e-3, size=(10, 8))
    others = rng.normal(size=(10, 8))
    vectors = np.vstack([copies, others])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    top = np.r_[np.linspace(0.50, 0.51, 10), np.linspace(0.52, 0.55, 10)]
    texts = [f"text {i}" for i in range(20)]
    table = _uncertain(Fixed(np.c_[1 - top, top]), texts, vectors, [], None, 4, 0)
    assert sum(t in texts[:10] for t in table["text"]) == 1  # one of the copies, then three others
    assert table["text"][0] in texts[:10]  # the least sure group first


def test_suggest_on_a_warm_cache_runs_no_encoder_pass(tiny_encoder):
    texts, labels = sentiment_data(n_per_class=30)
    suggest(
        texts[10:], k=5, labeled_texts=texts[:10] + texts[-2:], labels=labels[:10] + labels[-2:], encoder=tiny_encoder
    )
    encoder = headstart.load_encoder(tiny_encoder)
    passes = encoder.forward_passes
    suggest(
        texts[10:], k=5, labeled_texts=texts[:12] + texts[-2:], labels=labels[:12] + labels[-2:], encoder=tiny_encoder
    )
    assert encoder.forward_passes == passes


def test_bad_requests_are_refused_in_one_line(tiny_encoder, toy_data):
    texts, labels = toy_data
    with pytest.raises(HeadstartError, match="k must be a whole number"):
        suggest(texts, k=0, encoder=tiny_encoder)
    with pytest.raises(HeadstartError, match="nothing to suggest"):
        suggest(texts[:3], k=2, labeled_texts=texts, labels=labels, encoder=tiny_encoder)
    tfidf = headstart.build("tfidf").fit(texts, labels)
    with pytest.raises(HeadstartError, match="reads frozen encoder features"):
        suggest(texts, k=2, labeled_texts=texts[:2] + texts[-2:], labels=labels[:2] + labels[-2:], model=tfidf)


def run(args: list[str]) -> int:
    """The command's exit status."""
    try:
        main(args)
    except SystemExit as exit:
        return exit.code
    return 0


def test_the_suggest_command_writes_a_file_for_the_annotator(tmp_path, tiny_encoder, capsys):
    texts, labels = sentiment_data(n_per_class=30)
    (tmp_path / "pool.txt").write_text("\n".join(texts))
    pd.DataFrame({"text": texts[:6] + texts[30:36], "label": labels[:6] + labels[30:36]}).to_csv(
        tmp_path / "labeled.csv", index=False
    )
    args = ["suggest", str(tmp_path / "pool.txt"), "--labeled", str(tmp_path / "labeled.csv"), "--k", "5"]
    assert run([*args, "--encoder", tiny_encoder, "--out", str(tmp_path / "next.csv")]) == 0
    table = pd.read_csv(tmp_path / "next.csv", keep_default_na=False)
    assert len(table) == 5 and list(table.columns) == ["text", "label", "guess", "confidence", "reason"]
    assert not set(table["text"]) & set(texts[:6] + texts[30:36])
    capsys.readouterr()
    assert run([*args, "--encoder", tiny_encoder, "--out", str(tmp_path / "next.csv")]) == 2
    assert "--force" in capsys.readouterr().err
    model = FrozenEncoderClassifier(encoder=tiny_encoder).fit(texts[:6] + texts[30:36], labels[:6] + labels[30:36])
    model.save(tmp_path / "m")
    assert run(["suggest", str(tmp_path / "pool.txt"), "--model", str(tmp_path / "m"), "--k", "3"]) == 0
    printed = capsys.readouterr()
    assert len(pd.read_csv(io.StringIO(printed.out))) == 3 and "may suggest them again" in printed.err


def test_the_simulated_loop_starts_diverse_and_reads_only_labels_it_picked():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16))
    vectors = np.vstack([c + rng.normal(scale=0.05, size=(30, 16)) for c in centres])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    labels = np.repeat(np.array(["a", "b", "c"]), 30)

    class Hidden(np.ndarray):
        """Labels that note which rows were read."""

        read: set

    hidden = labels.view(Hidden)
    hidden.read = set()
    original = Hidden.__getitem__

    def reading(self, index):
        if isinstance(index, list):
            self.read.update(index)
        return original(self, index)

    Hidden.__getitem__ = reading
    rows = labeling.suggested_rows(vectors, hidden, [3, 9, 15], seed=0)
    assert len(rows) == len(set(rows)) == 15
    assert {labels[i] for i in rows[:3]} == {"a", "b", "c"}  # one of each group before any label is read
    assert hidden.read <= set(rows)


def test_compare_sets_suggested_labels_beside_random_ones(tmp_path, tiny_encoder):
    texts, labels = sentiment_data(n_per_class=30)
    runs = run_comparison(
        texts,
        labels,
        tmp_path / "cmp",
        ["frozen"],
        [4, None],
        seeds=2,
        test_size=0.3,
        options={"encoder": tiny_encoder},
        suggested=True,
    )
    suggested = [r for r in runs if r["strategy"] == "frozen-suggested"]
    random = [r for r in runs if r["strategy"] == "frozen"]
    assert len(random) == 4 and len(suggested) == 2  # not at n = all, where both are every label
    assert {r["train_size"] for r in suggested} == {8} and all(0 <= r["accuracy"] <= 1 for r in suggested)
    write_report(tmp_path / "cmp", runs, title="suggested")
    assert "frozen-suggested" in (tmp_path / "cmp" / "report.md").read_text()
    with pytest.raises(HeadstartError, match="add frozen to --strategies"):
        run_comparison(texts, labels, tmp_path / "other", ["tfidf"], [4], options={}, suggested=True)
