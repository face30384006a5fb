"""``c2fbench report --format latex``: every table the report writes, in both layouts, compiled
by pdflatex (Debian's ``texlive-latex-recommended``, which ``.ci/run`` installs; the compile
tests skip without it) into a two-column article (and a one-column one for ``page``) with no
overfull box; the per-class table transposed as in the paper's Table III; published numbers
as the paper printed them; the paper's own row named "Jing et al."."""

import re
import shutil
import subprocess

import pytest
from click.testing import CliRunner

from c2fbench.cli.main import cli
from c2fbench.leaderboard import TABLES_FILE, paper_tables
from c2fbench.leaderboard.printed import Printed, load_json
from c2fbench.leaderboard.recent import RECENT_FILE
from report_helpers import write_run
from test_report import results  # noqa: F401  (the fixture)
from test_report_recent import SWEEP, write_train

PDFLATEX = shutil.which("pdflatex")
needs_pdflatex = pytest.mark.skipif(
    PDFLATEX is None, reason="pdflatex is not installed (apt-get install texlive-latex-recommended)")
# Every table the report can write, by file stem.
TABLES = {"leaderboard", "leaderboard_recent", "per_class", "table1", "table4_subset", "table4_subset_P", "cam_sweep",
          "latency", "parity"}
LONG = "ablation_without_grabcut_refinement_round_two"  # a long label without a space to break at
DOCUMENT = r"""\documentclass[%s]{article}
\usepackage{booktabs}
\usepackage{graphicx}
\begin{document}
%s
\end{document}
"""


def write_tables(results, tmp_path, layout):  # noqa: F811
    coarse = write_run(tmp_path / "coarse", {"enhance_initial": False, "refine_grabcut": True}, [30.0, 31.0])
    seeds = write_train(tmp_path, f"cams-{layout}", 60.0, cam_sweep=SWEEP, best_threshold=0.25)
    out = tmp_path / f"rep-{layout}"
    args = ["report", f"{LONG} & 50% {{x}}={results['good']}", f"Ours={results['bad']}", f"mit={results['mit']}",
            str(results["run"]), str(coarse), str(seeds), str(results["prof"]), str(results["par"]),
            "--out", str(out), "--format", "latex", "--latex-layout", layout, "--leaderboard", "both"]
    outcome = CliRunner().invoke(cli, args)
    assert outcome.exit_code == 0, outcome.output
    files = {p.stem: p for p in (out / "tables").glob("*.tex")}
    assert set(files) == TABLES
    return files


def compile_tables(files, tmp_path, options):
    """The tables, each on its own page, through pdflatex; the log."""
    body = "\n".join(f"\\input{{{path.as_posix()}}}\n\\clearpage" for path in files.values())
    folder = tmp_path / f"tex-{options or 'onecolumn'}"
    folder.mkdir()
    (folder / "doc.tex").write_text(DOCUMENT % (options, body))
    done = subprocess.run([PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", "doc.tex"], cwd=folder,
                          capture_output=True, text=True, timeout=300)
    log = (folder / "doc.log").read_text(errors="replace")
    assert done.returncode == 0, log[-3000:]
    return log


@needs_pdflatex
@pytest.mark.parametrize("layout, documents", [("column", ["twocolumn"]), ("page", ["twocolumn", ""])])
def test_every_table_compiles_without_an_overfull_box(results, tmp_path, layout, documents):  # noqa: F811
    files = write_tables(results, tmp_path, layout)
    for options in documents:
        log = compile_tables(files, tmp_path, options)
        assert "Overfull \\hbox" not in log and "Overfull \\vbox" not in log, re.findall(r"Overfull.*", log)
        assert log.count("Output written") == 1 and f"({len(files)} pages" in log


def cells(line):
    return [c.strip() for c in re.split(r"(?<!\\)&", line.removesuffix(" \\\\"))]


def test_per_class_is_transposed_as_table_iii_at_published_precision(results, tmp_path):  # noqa: F811
    column = write_tables(results, tmp_path, "column")["per_class"].read_text()
    assert column.count("\\begin{table}[t]") == 1 and "\\columnwidth" in column and "table*" not in column
    lines = column.splitlines()
    heads = [cells(line) for line in lines if line.startswith("method & ")]
    # three blocks of 8 columns: background, the 20 classes with Table III's names, mIoU
    names = ["bkg", "aero", "bike", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "table", "dog",
             "horse", "mbike", "person", "plant", "sheep", "sofa", "train", "tv", "mIoU"]
    assert heads == [["method", *names[:8]], ["method", *names[8:16]], ["method", *names[16:], "", ""]]
    paper = [cells(line)[1:] for line in lines if line.startswith("Jing et al. (val) & ")]
    val = paper_tables()["table3_per_class"]["val"]
    printed = ["--", *(f"{v:.1f}" for v in val["per_class_iou"].values()), f"{val['mIoU']:.1f}"]
    assert paper[0] + paper[1] + paper[2][:6] == printed  # one decimal, as Table III prints them (45.0, 16.9)
    assert "45.0" in printed and "61.9" in printed
    mine = [cells(line) for line in lines if line.startswith("\\textbf{" + LONG.replace("_", "\\_"))]
    assert len(mine) == 6  # the result and its difference from the paper, in each block
    # the user's numbers with Table III's one decimal, a difference with a minus sign
    assert all(re.fullmatch(r"\\textbf\{((\$-\$)?\d+\.\d|--)\}", c) for row in mine for c in row[1:] if c)  # "": padding
    assert any("$-$" in c for row in mine for c in row)

    page = write_tables(results, tmp_path, "page")["per_class"].read_text()
    assert "\\begin{table*}[t]" in page and "\\textwidth" in page
    heads = [cells(line) for line in page.splitlines() if line.startswith("method & ")]
    assert [len(head) for head in heads] == [1 + 11, 1 + 11]


def test_published_numbers_keep_their_printed_digits_and_ours_is_jing_et_al(results, tmp_path):  # noqa: F811
    files = write_tables(results, tmp_path, "column")
    board = files["leaderboard"].read_text()
    rows = {cells(line)[0]: cells(line) for line in board.splitlines() if line.count("&") >= 3}
    assert rows["Jing et al."][-2:] == ["61.9", "62.8"] and "Ours" not in rows
    assert rows["BoxSup"][-2:] == ["62.0", "64.2"] and rows["Scribblesup"][-1] == "--"
    assert "\\textbf{Ours}\\dag" in board  # the user's row labelled Ours stays theirs
    assert "rank" not in rows and "method" in rows
    table1 = files["table1"].read_text()
    assert "Enhanced Masks & 47.7 & " in table1 and "47.70" not in table1
    mit = files["table4_subset"].read_text()
    assert "DeepMask & 71.81 & 67.01 & 58.80 & 65.87" in mit  # trailing zeros as printed
    assert "CoSegmentation & 7.9 & 0.04 & 6.43 & 4.79" in mit  # and their absence
    recent = files["leaderboard_recent"].read_text()
    assert "arXiv" not in recent and "2212.09506" not in recent and "CLIP-ES*" in recent
    # the user's bootstrap interval beside its value, at the table's one decimal
    assert re.search(r"\\textbf\{\d+\.\d \{\\scriptsize\[\d+\.\d, \d+\.\d\]\}\}", board)


def test_every_published_number_keeps_the_digits_of_its_file():
    """The oracle is the files' own text: each number is the Printed of what the file writes."""
    for path in (TABLES_FILE, RECENT_FILE):
        text = path.read_text()
        numbers = []

        def walk(node):
            if isinstance(node, dict):
                node = list(node.values())
            if isinstance(node, list):
                for child in node:
                    walk(child)
            elif isinstance(node, float):
                numbers.append(node)

        walk(load_json(path))
        assert numbers and all(isinstance(n, Printed) and float(n.text) == n for n in numbers)
        assert [n.text for n in numbers] == re.findall(r"(?<=: )-?\d+\.\d+(?=[,\n])", text)


def test_an_unknown_layout_is_refused(results, tmp_path):  # noqa: F811
    outcome = CliRunner().invoke(cli, ["report", str(results["good"]), "--out", str(tmp_path / "rep"),
                                       "--format", "latex", "--latex-layout", "wide"])
    assert outcome.exit_code == 2 and "column" in outcome.output and not (tmp_path / "rep").exists()
