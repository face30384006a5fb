"""``c2fbench compare A B``: per-class differences and a paired bootstrap interval."""

from pathlib import Path

import click


@click.command()
@click.argument("result_a", type=click.Path(path_type=Path))
@click.argument("result_b", type=click.Path(path_type=Path))
@click.option("--bootstrap", type=click.IntRange(10, 1_000_000), default=1000, show_default=True,
              help="Paired resamples over images (a million at most: 8 MB of values).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Write compare.json here (a new folder or an earlier compare's, apart from both results).")
def compare(result_a, result_b, bootstrap, seed, out):
    """Compare two `eval --out` folders of the same benchmark (A - B), paired over images.

    A is RESULT_A, B is RESULT_B; both are named in the output.
    """
    import json

    from c2fbench.atomic import atomic_write_text, remove_stale_temporaries
    from c2fbench.console import success
    from c2fbench.files import check_output_apart
    from c2fbench.report.compare import compare_results
    from c2fbench.report.terminal import print_comparison

    if out is not None:
        inputs = {"RESULT_A": result_a, "RESULT_B": result_b}
        for name, result in list(inputs.items()):  # a metrics.json given: the folder around it is the result
            if result.is_file():
                inputs[f"the folder of {name}"] = result.parent
        check_output_apart(out, inputs)
    if out is not None and out.is_dir() and any(p.name != "compare.json" and not p.name.startswith(".compare.json.")
                                                for p in out.iterdir()):
        from c2fbench.errors import InputError

        raise InputError(f"{out}: holds files other than compare.json (an eval's or report's folder?); give --out a "
                         f"new folder or an earlier compare's")
    result = compare_results(result_a, result_b, n=bootstrap, seed=seed)
    print_comparison(result)
    if out is not None:
        remove_stale_temporaries(out, ["compare.json"])  # a partial compare.json of a run killed here
        atomic_write_text(out / "compare.json", json.dumps(result, indent=2) + "\n")
        success(f"wrote {out / 'compare.json'}")
