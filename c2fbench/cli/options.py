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
