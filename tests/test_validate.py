"""The argument checks (validate.py): one clear error for every bad value."""

from fractions import Fraction

import pytest

from smallworld_eqp.validate import check_int, check_real


@pytest.mark.parametrize(
    "value, shown",
    [
        (10**400, r"about 1e\+400 \(int\)"),
        (-3 * 10**400, r"about -3e\+400 \(int\)"),
        (Fraction(10**400, 3), r"about 3\.33e\+399 \(Fraction\)"),
        (10**5000, r"about 1e\+5000 \(int\)"),  # its repr alone is refused by Python
    ],
    ids=["int", "negative", "fraction", "5000-digits"],
)
def test_numbers_beyond_the_floats_are_refused_by_name(value, shown):
    with pytest.raises(ValueError, match=rf"^eps must be finite and > 0, got {shown}$"):
        check_real("eps", value, "(0, inf)")


def test_a_huge_integer_is_named_by_its_magnitude():
    with pytest.raises(ValueError, match=r"^n_free must be an integer <= 5, got about 1e\+5000 \(int\)$"):
        check_int("n_free", 10**5000, high=5)
    with pytest.raises(ValueError, match=r"got 100000000000000000000$"):  # short enough to print
        check_int("n_free", 10**20, high=5)


def test_text_beyond_the_floats_reads_as_infinity_and_is_refused():
    from smallworld_eqp.settings import parse_float

    with pytest.raises(ValueError, match="^tol must be finite and > 0, got inf$"):
        check_real("tol", parse_float("1e400"), "(0, inf)")


def test_argparse_types_say_what_they_expect_or_the_parser_message():
    import argparse

    from smallworld_eqp.cli import float_list, int_list
    from smallworld_eqp.settings import argparse_type, parse_ints

    assert int_list("0, 10") == (0, 10) and float_list("0.5") == (0.5,)
    for convert, text in ((int_list, "1,,2"), (int_list, "1,-2"), (float_list, "x")):
        with pytest.raises(
            argparse.ArgumentTypeError, match=f"^expected a comma-separated list of .*, got '{text}'$"
        ):
            convert(text)
    with pytest.raises(argparse.ArgumentTypeError, match="^expected integers separated by '/', got '1//2'$"):
        argparse_type(lambda text: parse_ints(text, "/"))("1//2")
