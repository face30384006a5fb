"""Evaluation: the named benchmarks (``benchmarks``), where predictions come from
(``sources``), the evaluator that scores them with the metric objects of
:mod:`c2fbench.metrics` (``evaluator``), and an eval's output folder (``results``).

Nothing is imported here, so that ``c2fbench --help`` reads the benchmark names
(:mod:`c2fbench.eval.benchmarks`) without loading numpy or the metric code.
"""
