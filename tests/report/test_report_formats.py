"""``c2fbench report --format``: tables as CSV (read back with the csv module as the oracle)
and as booktabs LaTeX (checked without compiling), and the default unchanged."""

import csv
import io
import json
import re

from click.testing import CliRunner

from c2fbench.cli.main import cli
from c2fbench.data.mit import MIT_CLASSES
from c2fbench.data.voc import VOC_CLASSES
from c2fbench.leaderboard import paper_tables
from report_helpers import scored, scored_mit, write_run

STAMP = re.compile(rb"\d{4}-\d\d-\d\d \d\d:\d\d UTC")  # the report's time, to the minute


def run_report(*args):
    outcome = CliRunner().invoke(cli, ["report", *map(str, args)])
    assert outcome.exit_code == 0, outcome.output
    return outcome


def read_csv(path):
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")  # UTF-8 without a byte-order mark
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))
    return rows[0], rows[1:]


def two_decimals(cell, value):
    return cell == ("" if value is None else f"{value:.2f}")


def test_per_class_csv_holds_the_per_class_iou_of_metrics_json(voc_tree, tmp_path):
    res = scored(voc_tree, tmp_path, "a", 0.3, 5)
    metrics = json.loads((res / "metrics.json").read_text())
    out = tmp_path / "rep"
    run_report(f"my_run={res}", "--out", out, "--format", "csv")
    assert sorted(p.name for p in out.iterdir()) == ["tables"]  # no report.md, report.html, figures
    header, rows = read_csv(out / "tables" / "per_class.csv")
    assert header == ["class", "Jing et al. (val)", "my_run (voc-val)", "my_run - Jing et al."]
    assert [r[0] for r in rows] == [*VOC_CLASSES, "mIoU"]  # one row per class, then the mean
    paper = paper_tables()["table3_per_class"]["val"]
    for row, name in zip(rows, VOC_CLASSES):
        mine, theirs = metrics["per_class_iou"][name], paper["per_class_iou"].get(name)
        assert two_decimals(row[1], theirs) and two_decimals(row[2], mine)
        assert two_decimals(row[3], None if theirs is None or mine is None else mine - theirs)
    assert two_decimals(rows[-1][2], metrics["mIoU"]) and two_decimals(rows[-1][1], paper["mIoU"])
    # pasted into a spreadsheet unchanged: plain numbers, no quotes, no markup, no separators
    text = (out / "tables" / "per_class.csv").read_text(encoding="utf-8")
    assert '"' not in text and "*" not in text and "%" not in text and "[" not in text
    for line in text.splitlines()[1:]:
        cells = line.split(",")
        assert len(cells) == len(header)
        assert all(re.fullmatch(r"-?\d+\.\d\d", c) for c in cells[1:] if c)


def test_a_name_with_a_comma_is_the_only_quoted_cell(voc_tree, tmp_path):
    res = scored(voc_tree, tmp_path, "a", 0.3, 5)
    out = tmp_path / "rep"
    run_report(f"ours, v2={res}", "--out", out, "--format", "csv")
    text = (out / "tables" / "leaderboard.csv").read_text()
    assert text.count('"') == 2 and '"ours, v2"' in text
    header, rows = read_csv(out / "tables" / "leaderboard.csv")
    assert [r[1] for r in rows if r[-1] == "yours"] == ["ours, v2"]
    assert read_csv(out / "tables" / "per_class.csv")[0][2:] == ["ours, v2 (voc-val)", "ours, v2 - Jing et al."]


def test_leaderboard_csv_marks_the_users_rows_among_table_ii(voc_tree, tmp_path):
    good = scored(voc_tree, tmp_path, "good", 0.1, 1, bootstrap=50)
    bad = scored(voc_tree, tmp_path, "bad", 0.7, 2)
    out = tmp_path / "rep"
    run_report(f"good={good}", f"bad={bad}", "--out", out, "--format", "csv,md")
    assert (out / "report.md").is_file() and not (out / "report.html").exists()
    header, rows = read_csv(out / "tables" / "leaderboard.csv")
    assert header == ["rank", "method", "supervision", "venue", "val mIoU", "val mIoU 95% low",
                      "val mIoU 95% high", "test mIoU", "source"]
    assert [r[0] for r in rows] == [str(k) for k in range(1, len(rows) + 1)]
    paper = paper_tables()["table2_voc2012"]["rows"]
    assert sum(r[-1] == "paper" for r in rows) == len(paper)
    mine = {r[1]: r for r in rows if r[-1] == "yours"}
    assert set(mine) == {"good", "bad"}
    for name, folder in (("good", good), ("bad", bad)):
        metrics = json.loads((folder / "metrics.json").read_text())
        ci = metrics.get("mIoU_ci95") or (None, None)
        assert two_decimals(mine[name][4], metrics["mIoU"]) and mine[name][7] == ""
        assert two_decimals(mine[name][5], ci[0]) and two_decimals(mine[name][6], ci[1])
    assert mine["good"][5] and not mine["bad"][5]  # only "good" had --bootstrap
    assert sorted((r[1].rstrip("*"), r[4], r[7]) for r in rows if r[-1] == "paper") == sorted(
        ("Jing et al." if e["method"] == "Ours" else e["method"], f"{e['val_mIoU']:.2f}",
         "" if e["test_mIoU"] is None else f"{e['test_mIoU']:.2f}") for e in paper)  # the paper's own row by name
    values = [float(r[4]) for r in rows]
    assert values == sorted(values, reverse=True)


def test_table1_and_table4_files(voc_tree, mit_tree, tmp_path):
    coarse = write_run(tmp_path / "coarse", {"enhance_initial": False, "refine_grabcut": True}, [30.0, 31.0])
    refined = write_run(tmp_path / "refined", {"enhance_initial": True, "refine_grabcut": True}, [40.0, 45.0])
    mit = scored_mit(mit_tree, tmp_path, "mit", 3)
    out = tmp_path / "rep"
    run_report(coarse, refined, f"dfpn_mine={mit}", "--out", out, "--format", "csv,latex")
    names = sorted(p.name for p in (out / "tables").iterdir())
    assert names == sorted(f"{stem}.{suffix}" for stem in ("table1", "table4_subset", "table4_subset_P")
                           for suffix in ("csv", "tex"))
    header, rows = read_csv(out / "tables" / "table1.csv")
    assert header == ["training masks", "paper val mIoU", "your val mIoU", "from run"]
    assert rows == [["Coarse Masks", "32.50", "30.00", "coarse"], ["Bounding Boxes", "35.20", "", ""],
                    ["Enhanced Masks", "47.70", "40.00", "refined"], ["Refined Masks", "50.40", "45.00", "refined"]]
    metrics = json.loads((mit / "metrics.json").read_text())
    header, rows = read_csv(out / "tables" / "table4_subset.csv")
    assert header[2:5] == list(MIT_CLASSES) and header[-1] == "source"
    [mine] = [r for r in rows if r[-1] == "yours"]
    assert mine[1] == "dfpn_mine"
    assert all(two_decimals(mine[2 + k], metrics["per_class"][c]["J"]) for k, c in enumerate(MIT_CLASSES))
    assert two_decimals(mine[5], metrics["mean_J"])
    header, rows = read_csv(out / "tables" / "table4_subset_P.csv")
    assert rows == [["dfpn_mine", *(f"{metrics['per_class'][c]['P']:.2f}" for c in MIT_CLASSES),
                     f"{metrics['mean_P']:.2f}", "yours"]]


def without_escaped(text):
    return re.sub(r"\\[{}&%$#_]", "", text)


def check_tabular(text):
    """Balanced braces, booktabs rules, and each row as many cells as the column spec."""
    bare = without_escaped(text)
    depth = 0
    for char in bare:
        depth += {"{": 1, "}": -1}.get(char, 0)
        assert depth >= 0
    assert depth == 0
    spec = re.search(r"\\begin\{tabular\}\{([lrc]+)\}", text).group(1)
    assert all(rule in text for rule in ("\\toprule", "\\midrule", "\\bottomrule", "\\end{tabular}"))
    body = text.split("\\toprule\n")[1].split("\\bottomrule")[0]
    rows = [line for line in body.splitlines() if line != "\\midrule"]
    assert rows and all(line.endswith(" \\\\") for line in rows)
    for line in rows:
        assert without_escaped(line).count("&") + 1 == len(spec), line
    return spec, rows


def test_latex_tables_are_booktabs_with_labels_escaped(voc_tree, tmp_path):
    res = scored(voc_tree, tmp_path, "a", 0.3, 5, bootstrap=20)
    label = "my_run 50% & {#1} ~$^\\"
    out = tmp_path / "rep"
    run_report(f"{label}={res}", "--out", out, "--format", "latex", "--leaderboard", "paper")
    files = sorted(p.name for p in (out / "tables").iterdir())
    assert files == ["leaderboard.tex", "per_class.tex"]
    escaped = ("my\\_run 50\\% \\& \\{\\#1\\} \\textasciitilde{}\\$\\textasciicircum{}\\textbackslash{}")
    board = (out / "tables" / "leaderboard.tex").read_text()
    spec, rows = check_tabular(board)
    assert spec == "lllrr"  # method, supervision, venue, val with its interval, test mIoU
    assert board.startswith("%") and "\\textbf" in board.splitlines()[1]
    [mine] = [r for r in rows if escaped in r]
    assert mine.startswith("\\textbf{") and f"\\textbf{{{escaped}}}\\dag" in mine
    assert sum("\\dag" in r for r in rows) == 1 and "my_run" not in board
    per_class = (out / "tables" / "per_class.tex").read_text()
    spec, rows = check_tabular(per_class)
    # transposed as Table III, in three blocks of 8 classes: heading, the paper's row, yours, the difference
    assert spec == "l" + "r" * 8 and len(rows) == 3 * 4
    assert rows[1].startswith("Jing et al. (val) & -- & 77.1 & ")  # the paper does not print background IoU
    assert rows[2].startswith(f"\\textbf{{{escaped} (voc-val)}}\\dag & ") and "\\_" in rows[2]
    assert re.search(r"\$-\$\d+\.\d\b", per_class)  # a negative difference takes a minus sign


def test_the_default_is_md_and_html_unchanged(voc_tree, tmp_path):
    res = scored(voc_tree, tmp_path, "a", 0.3, 5)
    default, explicit = tmp_path / "default", tmp_path / "explicit"
    outcome = run_report(f"ours={res}", "--out", default)
    assert "report.html" in outcome.output
    run_report(f"ours={res}", "--out", explicit, "--format", "md,html")

    def files(folder):
        return {p.relative_to(folder).as_posix(): STAMP.sub(b"", p.read_bytes())
                for p in folder.rglob("*") if p.is_file()}

    assert files(default) == files(explicit)
    assert "report.md" in files(default) and not any(f.startswith("tables") for f in files(default))
    # an earlier report with tables may be replaced, by any format
    run_report(f"ours={res}", "--out", default, "--format", "md,html,csv,latex")
    assert (default / "tables" / "leaderboard.tex").is_file() and (default / "report.html").is_file()
    run_report(f"ours={res}", "--out", default)
    assert not (default / "tables").exists()


def test_unknown_formats_exit_2_with_one_line(voc_tree, tmp_path):
    res = scored(voc_tree, tmp_path, "a", 0.3, 5)
    out = tmp_path / "rep"
    for formats in ("pdf", "md,xlsx", "", "md,,html"):
        outcome = CliRunner().invoke(cli, ["report", str(res), "--out", str(out), "--format", formats])
        assert outcome.exit_code == 2, (formats, outcome.output)
        assert len(outcome.output.strip().splitlines()) == 1 and "md,html,csv,latex" in outcome.output
        assert not out.exists()
    (out / "tables").mkdir(parents=True)
    (out / "tables" / "notes.txt").write_text("mine")
    outcome = CliRunner().invoke(cli, ["report", str(res), "--out", str(out), "--format", "csv"])
    assert outcome.exit_code == 2 and "tables/notes.txt" in outcome.output
