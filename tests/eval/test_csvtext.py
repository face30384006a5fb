"""The one CSV writer's cells (c2fbench.eval.csvtext): text that a spreadsheet would run as a
formula gets OWASP's single quote, numbers stay numbers; read back with Python's csv module."""

import csv
import io

import numpy as np
import pytest

from c2fbench.eval.csvtext import csv_text, text_cell


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1+1", "@SUM(A1)", "\t=1", "\r=1", "  =1", "-1.5"])
def test_formula_starts_get_a_single_quote(text):
    assert text_cell(text) == "'" + text


@pytest.mark.parametrize("text", ["ours", "a=b", "a-b", "", "1.5", "'quoted", "ñ=1"])
def test_other_text_is_unchanged(text):
    assert text_cell(text) == text


def test_numbers_are_numbers_and_text_is_text():
    rows = [["name", "value", "count"], ["-1.5", -1.5, np.int64(-3)], ["=x", None, True], ["a,b", 2.25, 7]]
    text = csv_text(rows)
    assert text.endswith("\r\n")  # the excel dialect's line ends by default
    assert list(csv.reader(io.StringIO(text, newline=""))) == [
        ["name", "value", "count"], ["'-1.5", "-1.5", "-3"], ["'=x", "", "True"], ["a,b", "2.25", "7"]]


def test_the_caller_formats_numbers():
    text = csv_text([[1, 2.0, float("nan")]], number=lambda v: f"{v:.2f}", lineterminator="\n")
    assert text == "1.00,2.00,nan\n"
