"""Option types shared by the commands."""

import math

import click


class FiniteFloatRange(click.FloatRange):
    """``click.FloatRange`` that also refuses ``nan``: NaN compares false with both bounds,
    so FloatRange lets it through (``--threshold nan`` scored every mask as background)."""

    name = "float range"

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if isinstance(number, float) and math.isnan(number):
            self.fail(f"{value!r} is not a number; expected {self._describe_range()}", param, ctx)
        return number


class LibraryDefault(click.Option):
    """An option that defaults to None (the library then applies its own constant) and shows
    that constant in ``--help`` as a plain default: give it as ``show_default=str(CONSTANT)``.
    Click would print a string ``show_default`` in parentheses, as if it were a remark."""

    def get_help_extra(self, ctx):
        extra = super().get_help_extra(ctx)
        if isinstance(self.show_default, str):
            extra["default"] = self.show_default
        return extra
