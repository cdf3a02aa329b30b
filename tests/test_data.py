import csv
import json
import warnings

import numpy as np
import pandas as pd
import pytest

from headstart.data import check_labeled, load_labeled, read_inputs, read_table
from headstart.errors import DataError, HeadstartWarning


def test_a_carriage_return_inside_a_text_does_not_split_its_row(tmp_path):
    # pandas' own to_csv writes a lone \r unquoted; read as a line end it would cut the row in two.
    path = tmp_path / "pandas.csv"
    pd.DataFrame({"text": ["@airline\rHello, my bag is lost", "fine"], "label": ["neg", "pos"]}).to_csv(
        path, index=False
    )
    assert read_table(path).to_dict("records") == [
        {"text": "@airline\rHello, my bag is lost", "label": "neg"},
        {"text": "fine", "label": "pos"},
    ]


def test_windows_and_old_mac_line_ends_are_read(tmp_path):
    windows, mac = tmp_path / "windows.csv", tmp_path / "mac.csv"
    windows.write_bytes(b'text,label\r\n"two\r\nlines",a\r\nplain,b\r\n')
    mac.write_bytes(b"text,label\rone,a\rtwo,b\r")
    assert read_table(windows).to_dict("records") == [
        {"text": "two\nlines", "label": "a"},
        {"text": "plain", "label": "b"},
    ]
    assert read_table(mac).to_dict("records") == [{"text": "one", "label": "a"}, {"text": "two", "label": "b"}]


def test_a_text_labelled_two_ways_is_warned_about():
    texts = ["same words", "other", "same words", "more", "same words"]
    with pytest.warns(HeadstartWarning, match=r"1 text occurs with more than one label \(e.g. 'same words': a, b\)"):
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


def test_a_tsv_quote_that_never_closes_is_text_not_quoting(tmp_path):
    path = tmp_path / "q.tsv"
    path.write_text(
        'text\tlabel\n"quoted start and no end\tpos\nsecond row\tneg\n"Hello" she said\tneg\n"fully ""quoted"""\tpos\n'
    )
    df = read_table(path)
    assert df["text"].tolist() == ['"quoted start and no end', "second row", '"Hello" she said', 'fully "quoted"']
    assert df["label"].tolist() == ["pos", "neg", "neg", "pos"]


def test_a_tsv_written_by_pandas_reads_back(tmp_path):
    texts = ['say "hi"', "tab\there", "two\nlines", "plain"]
    path = tmp_path / "p.tsv"
    pd.DataFrame({"text": texts, "label": ["a", "b", "a", "b"]}).to_csv(path, sep="\t", index=False)
    assert read_table(path)["text"].tolist() == texts
    pd.DataFrame({"text": texts[::3], "label": ["a", "b"]}).to_csv(
        path, sep="\t", index=False
    )  # quotes, no tab or newline
    assert read_table(path)["text"].tolist() == texts[::3]
    pd.DataFrame({"text": texts[::3], "label": [1, 2]}).to_csv(path, sep="\t", index=False, quoting=csv.QUOTE_ALL)
    assert read_table(path).to_dict("list") == {"text": texts[::3], "label": ["1", "2"]}  # fields are text, unquoted


def test_rows_with_more_fields_than_the_header_are_refused(tmp_path):
    path = tmp_path / "extra.csv"
    path.write_text("text,label\nhello, there,a\nbye, now,b\n")
    with pytest.raises(DataError, match="more fields than its header; quote the texts that contain ','"):
        read_table(path)


def test_lines_split_at_line_ends_only(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes("wait\u2028what?\x0cno\r\nsecond line\r\n".encode())
    assert read_inputs(path)[0] == ["wait\u2028what?\x0cno", "second line"]
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text(json.dumps({"text": "a\u2028b", "label": "x"}, ensure_ascii=False) + "\n")
    assert read_table(jsonl)["text"].tolist() == ["a\u2028b"]


def test_jsonl_lines_must_be_objects_and_labels_single(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n[1, 2]\n')
    with pytest.raises(DataError, match="line 2 is a list"):
        read_table(path)
    path.write_text('{"text": "a", "label": "x"}\n\n{"text": "b", "label": "y"\n')
    with pytest.raises(DataError, match="line 3 of .* is not valid JSON"):
        read_table(path)
    with pytest.raises(
        DataError, match="row 2 of the data has a list as its label; .*multi-label data is not supported"
    ):
        check_labeled(["a", "b", "c"], ["x", ["x", "y"], "y"])


def test_pandas_missing_values_count_as_missing():
    texts = pd.array(["good", None, "bad", "fine"], dtype="string")
    with pytest.warns(HeadstartWarning, match="dropped 1 row with an empty text"):
        data = check_labeled(list(texts), ["a", "a", "b", "b"])
    assert data.texts == ["good", "bad", "fine"]
    with pytest.raises(DataError, match="1 row of the data has an empty or NaN label"):
        check_labeled(["a", "b", "c"], list(pd.array([1, pd.NA, 0], dtype="Int64")))


def test_an_unknown_encoding_is_refused(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("text,label\na,x\n")
    with pytest.raises(DataError, match="unknown text encoding 'nonsense'"):
        read_table(path, encoding="nonsense")


def test_csv_fields_are_read_as_the_text_they_are(tmp_path):
    path = tmp_path / "codes.csv"
    path.write_text("text,label\n007,01\n1.50,1\n0123,02\nplain,1.0\n")
    data = load_labeled(path)
    assert data.texts == ["007", "1.50", "0123", "plain"] and data.labels == ["01", "1", "02", "1.0"]


def test_empty_texts_to_predict_keep_their_rows_with_a_warning(tmp_path):
    path = tmp_path / "new.txt"
    path.write_text("good\n\n   \nbad\n")
    with pytest.warns(HeadstartWarning, match=r"2 of 4 texts are empty \(rows 2, 3\)"):
        assert read_inputs(path)[0] == ["good", "", "   ", "bad"]


def test_spreadsheet_exports_are_read_or_named(tmp_path):
    path = tmp_path / "unicode.tsv"
    path.write_bytes("text\tlabel\ncaf\u00e9 ok\tpos\n".encode("utf-16"))  # Excel's "Unicode Text"
    assert read_table(path).to_dict("list") == {"text": ["caf\u00e9 ok"], "label": ["pos"]}
    path = tmp_path / "excel.csv"
    path.write_bytes(b"sep=;\r\ntext;label\r\ngood, really;pos\r\n")
    assert read_table(path).to_dict("list") == {"text": ["good, really"], "label": ["pos"]}
    path = tmp_path / "semicolons.csv"
    path.write_bytes(b'text;"label, final"\r\ngood, really;pos\r\n')  # a comma inside a quoted column name
    assert read_table(path).to_dict("list") == {"text": ["good, really"], "label, final": ["pos"]}
    path = tmp_path / "book.csv"
    path.write_bytes(b"PK\x03\x04rest of a workbook")
    with pytest.raises(DataError, match="is a zip file .*save it as CSV UTF-8"):
        read_table(path)
    path = tmp_path / "windows.csv"
    path.write_bytes("text,label\n\u201cquoted\u201d,pos\n".encode("cp1252"))
    with pytest.raises(DataError, match="--encoding cp1252"):
        read_table(path)


def test_rows_swallowed_by_an_unclosed_quote_are_warned_about(tmp_path):
    path = tmp_path / "open.csv"
    rows = [f"text {i},{'pos' if i % 2 else 'neg'}" for i in range(12)]
    rows[3] = '"Best purchase ever,pos'
    rows[8] = 'he said "meh" about it,neg'
    path.write_text("text,label\n" + "\n".join(rows) + "\n")
    with pytest.warns(HeadstartWarning, match="row 4 of .* holds 6 lines that look like rows of the file"):
        read_table(path)
    path.write_text('text,label\n"a review\nover two lines, with a comma",pos\nshort,neg\n')
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(read_table(path)) == 2


def test_a_held_out_split_takes_about_its_fraction_of_each_class():
    from headstart.data import stratified_split

    y = np.repeat([0, 1, 2], [2, 3, 20])
    train, held = stratified_split(y, 0.15, 0)
    # Classes of 2 and 3 keep every example (one held out would be a half or a third of them); 15% of 20 is 3.
    assert np.bincount(y[held], minlength=3).tolist() == [0, 0, 3]
    assert sorted(np.concatenate([train, held]).tolist()) == list(range(len(y)))
    assert len(stratified_split(y, 0.0, 0)[1]) == 0


def test_the_held_out_split_holds_out_what_stratified_shuffle_split_does_within_one_example_a_class():
    from sklearn.model_selection import StratifiedShuffleSplit

    from headstart.data import stratified_split

    y = np.repeat([0, 1, 2, 3, 4], [40, 17, 9, 5, 2])
    for fraction in (0.1, 0.15, 0.25):
        for seed in range(3):
            train, held = stratified_split(y, fraction, seed)
            _, theirs = next(StratifiedShuffleSplit(1, test_size=fraction, random_state=seed).split(y, y))
            assert np.abs(np.bincount(y[held], minlength=5) - np.bincount(y[theirs], minlength=5)).max() <= 1
            assert np.bincount(y[train], minlength=5)[4] == 2  # a class of 2 is never half held out


def test_the_csv_separator_is_the_one_csv_sniffer_finds_in_plain_files_and_a_quoted_quote_does_not_mislead_it(tmp_path):
    from headstart.data import _delimiter

    for separator in (",", ";", "\t"):
        plain = f"text{separator}label\ngood really{separator}pos\nbad{separator}neg\n"
        assert _delimiter(plain, "csv")[1] == csv.Sniffer().sniff(plain, delimiters=",;\t").delimiter == separator
    path = tmp_path / "quoted.csv"
    path.write_text('text;label\n"he said ""hi"", then, left";pos\nok;neg\n')  # csv.Sniffer reads a comma here
    assert read_table(path).to_dict("list") == {"text": ['he said "hi", then, left', "ok"], "label": ["pos", "neg"]}


def test_multi_line_texts_quoted_by_pandas_are_not_taken_for_swallowed_rows(tmp_path):
    texts = [
        "Great flight, friendly crew.\nFood was cold, though.\nSeat was fine, legroom ok.\nWould fly again, maybe.",
        "short, and sweet",
        'he said "meh", then\nleft, annoyed\nand, again\n"bye", now',
    ]
    texts.append(texts[0])  # a copy is found again, after the first
    path = tmp_path / "reviews.csv"
    pd.DataFrame({"text": texts, "label": ["pos", "neg", "neg", "pos"]}).to_csv(path, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_table(path)["text"].tolist() == texts
