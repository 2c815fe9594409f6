import numpy as np
import pandas as pd

from models import parse


def test_percent_strings_read_as_percentage_points_and_text_is_unparseable():
    vals, bad = parse.percents(pd.Series(["12.5%", " 3 % ", "-0.5%", "7", None, "", "abc%"]))
    assert vals[:4].tolist() == [12.5, 3.0, -0.5, 7.0]
    assert np.isnan(vals[4:]).all()
    assert bad.tolist() == [False] * 6 + [True]


def test_a_column_is_percent_only_if_every_cell_reads_and_one_has_the_sign():
    assert parse.looks_like_percent(pd.Series(["1%", "2.5%", None]))
    assert not parse.looks_like_percent(pd.Series(["1", "2.5"]))       # no sign: plain numbers
    assert not parse.looks_like_percent(pd.Series(["1%", "n.a."]))     # one cell is text
    assert not parse.looks_like_percent(pd.Series([1.0, 2.0]))


def test_numbers_flag_text_cells_but_not_empty_ones():
    vals, bad = parse.numbers(pd.Series(["1", "2.5", "x", None, "  "]))
    assert vals[:2].tolist() == [1.0, 2.5]
    assert bad.tolist() == [False, False, True, False, False]


def test_date_format_reads_every_cell_or_is_none():
    assert parse.date_format(pd.Series(["2019-03-01", "2020-12-31", None])) == "%Y-%m-%d"
    assert parse.date_format(pd.Series(["Mar-2019", "Dec-2011"])) == "%b-%Y"
    assert parse.date_format(pd.Series(["31/12/2019", "01/02/2020"])) == "%d/%m/%Y"
    assert parse.date_format(pd.Series(["12/31/2019", "01/02/2020"])) == "%m/%d/%Y"
    assert parse.date_format(pd.Series(["2019-03-01", "soon"])) is None
    assert parse.date_format(pd.Series([20190301, 20200101])) is None    # numbers stay numbers
    assert parse.date_format(pd.Series(["2019", "2020"])) is None


def test_dates_become_day_numbers_and_unparseable_cells_are_counted():
    parsed, bad = parse.dates(pd.Series(["1970-01-02", "2000-01-01", "nope", None]), "%Y-%m-%d")
    days = parse.day_numbers(parsed)
    assert days[:2].tolist() == [1.0, 10957.0]
    assert np.isnan(days[2:]).all() and bad.tolist() == [False, False, True, False]
