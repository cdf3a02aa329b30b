import json

import numpy as np
import pytest

from headstart import lexical
from headstart.errors import ModelFormatError


def test_vectorizers_round_trip_through_json(tmp_path):
    texts = ["the flight was late", "great crew, thanks", "lost my bag again"]
    vectorizers = lexical.fit_vectorizers(texts, 64)
    assert set(vectorizers) == {"word", "char"} and len(vectorizers["char"].vocabulary_) == 32
    lexical.write(vectorizers, tmp_path)
    again = lexical.read(tmp_path)
    new = ["late again", "unseen words only"]
    np.testing.assert_array_equal(
        lexical.transform(again, new).toarray(), lexical.transform(vectorizers, new).toarray()
    )


def test_a_kind_with_no_terms_is_left_out():
    vectorizers = lexical.fit_vectorizers(["a", "b", "!"], 64)  # no word of two letters: no word terms
    assert list(vectorizers) == ["char"]
    assert lexical.transform(vectorizers, ["a b"]).shape[1] == len(vectorizers["char"].vocabulary_)
    assert lexical.transform({}, ["a", "b"]).shape == (2, 0)


def test_a_damaged_vocabulary_file_is_one_clear_error(tmp_path):
    (tmp_path / lexical.FILE).write_text(json.dumps({"word": {"vocabulary": {"a": 0}}}))
    with pytest.raises(ModelFormatError, match="retrain the model"):
        lexical.read(tmp_path)
