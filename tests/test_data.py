import warnings

import pandas as pd
import pytest

from headstart.data import check_labeled, read_table
from headstart.errors import HeadstartWarning


def test_a_carriage_return_inside_a_text_does_not_split_its_row(tmp_path):
    # pandas' own to_csv writes a lone \r unquoted; read as a line end it would cut the row in two.
    path = tmp_path / "pandas.csv"
    pd.DataFrame({"text": ["@airline\rHello, my bag is lost", "fine"], "label": ["neg", "pos"]}).to_csv(path, index=False)
    assert read_table(path).to_dict("records") == [{"text": "@airline\rHello, my bag is lost", "label": "neg"},
                                                   {"text": "fine", "label": "pos"}]


def test_windows_and_old_mac_line_ends_are_read(tmp_path):
    windows, mac = tmp_path / "windows.csv", tmp_path / "mac.csv"
    windows.write_bytes(b'text,label\r\n"two\r\nlines",a\r\nplain,b\r\n')
    mac.write_bytes(b"text,label\rone,a\rtwo,b\r")
    assert read_table(windows).to_dict("records") == [{"text": "two\nlines", "label": "a"}, {"text": "plain", "label": "b"}]
    assert read_table(mac).to_dict("records") == [{"text": "one", "label": "a"}, {"text": "two", "label": "b"}]


def test_a_text_labelled_two_ways_is_warned_about():
    texts = ["same words", "other", "same words", "more", "same words"]
    with pytest.warns(HeadstartWarning, match=r"1 texts occur with more than one label \(e.g. 'same words': a, b\)"):
        data = check_labeled(texts, ["a", "b", "b", "a", "a"])
    assert data.texts == texts  # kept: which label is right is the user's call


def test_labels_that_differ_only_in_case_or_spaces_are_warned_about():
    texts = ["good", "fine", "bad", "awful", "great", "poor"]
    with pytest.warns(HeadstartWarning, match=r"labels differ only in case or spaces \('POS', 'pos', 'pos '\)"):
        check_labeled(texts, ["pos", "POS", "neg", "neg", "pos ", "neg"])


def test_distinct_labels_raise_no_look_alike_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_labeled(["good", "fine", "bad", "awful"] * 5, ["pos", "pos", "neg", "neg"] * 5)
