"""Word and character n-gram TF-IDF features, fitted on the training texts and saved as JSON (never pickled).

Used alone by the ``tfidf`` strategy, and beside the encoder's vectors by ``FrozenEncoderClassifier(lexical=True)``:
exact words and character n-grams (question words, product names, spam tokens) are what mean pooling blurs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from .errors import ModelFormatError

VECTORIZERS = {
    "word": {"analyzer": "word", "ngram_range": (1, 2), "sublinear_tf": True, "min_df": 1, "lowercase": True},
    "char": {"analyzer": "char_wb", "ngram_range": (2, 5), "sublinear_tf": True, "min_df": 1, "lowercase": True},
}
FILE = "tfidf.json"
# Beside an encoder: the head's width stays a few thousand (a few hundred texts have fewer terms than this anyway).
BESIDE_ENCODER = 4096


def fit_vectorizers(texts: list[str], max_features: int) -> dict[str, TfidfVectorizer]:
    """One vectorizer per kind, each keeping its ``max_features // 2`` most frequent terms; a kind that finds no
    terms (texts of one-letter words have no word terms) is left out."""
    fitted = {}
    for name, options in VECTORIZERS.items():
        try:
            fitted[name] = TfidfVectorizer(**options, max_features=max_features // 2).fit(texts)
        except ValueError:  # scikit-learn's "empty vocabulary"
            continue
    return fitted


def transform(vectorizers: dict[str, TfidfVectorizer], texts: list[str]) -> sp.csr_matrix:
    """Rows of word then character TF-IDF, each part L2-normalised."""
    if not vectorizers:
        return sp.csr_matrix((len(texts), 0))
    return sp.hstack([v.transform(texts) for v in vectorizers.values()]).tocsr()


def write(vectorizers: dict[str, TfidfVectorizer], folder: Path) -> None:
    saved = {
        name: {"vocabulary": {k: int(i) for k, i in v.vocabulary_.items()}, "idf": v.idf_.tolist()}
        for name, v in vectorizers.items()
    }
    (folder / FILE).write_text(json.dumps(saved))


def read(folder: str | Path) -> dict[str, TfidfVectorizer]:
    try:
        saved = json.loads((Path(folder) / FILE).read_text())
        vectorizers = {}
        for name, options in ((name, VECTORIZERS[name]) for name in saved):
            vectorizer = TfidfVectorizer(**options, vocabulary=saved[name]["vocabulary"])
            vectorizer.idf_ = np.asarray(saved[name]["idf"])
            vectorizers[name] = vectorizer
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelFormatError(f"{folder}/{FILE} cannot be read ({exc}); retrain the model") from None
    return vectorizers
