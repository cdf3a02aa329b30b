import pandas as pd

from headstart.data import read_table


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
