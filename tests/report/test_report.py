"""``c2fbench report``: the HTML parsed back (tables, embedded figures), the Markdown's figure
files, the leaderboard placement against the paper's numbers, and bad input."""

import base64
import copy
import hashlib
import io
import json
import re
from html import unescape
from html.parser import HTMLParser

import pytest
from click.testing import CliRunner
from PIL import Image

from c2fbench.cli.main import cli
from c2fbench.leaderboard import paper_tables
from c2fbench.report.inputs import split_label
from report_helpers import fake_semantic, scored, scored_mit


class Page(HTMLParser):
    """Tables (caption, header, rows of cell text, which rows are highlighted) and images."""

    def __init__(self):
        super().__init__()
        self.tables, self.images, self.external = [], [], []
        self._cell = self._row = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.tables.append({"caption": "", "header": [], "rows": [], "user": []})
        elif tag == "tr":
            self._row, self._user = [], attrs.get("class") == "user"
        elif tag in ("td", "th"):
            self._cell = ""
        elif tag == "caption":
            self._cell = ""
        elif tag == "img":
            self.images.append(attrs)
        for name in ("src", "href"):
            if name in attrs and not attrs[name].startswith(("data:", "#")):
                self.external.append(attrs[name])

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag):
        table = self.tables[-1] if self.tables else None
        if tag in ("td", "th"):
            self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "caption":
            table["caption"], self._cell = self._cell.strip(), None
        elif tag == "tr":
            if table["header"] or self._row is None or not self._row:
                table["rows"].append(self._row)
                table["user"].append(self._user)
            else:
                table["header"] = self._row
            self._row = None

    def table(self, caption_start):
        return next(t for t in self.tables if t["caption"].startswith(caption_start))


def parse(path):
    page = Page()
    page.feed(path.read_text())
    return page


def sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def results(voc_tree, mit_tree, tmp_path):
    """Two voc-val evals, one mit-subset eval, a training run, a profile and a parity check."""
    good = scored(voc_tree, tmp_path, "good", 0.1, 1, bootstrap=50)
    bad = scored(voc_tree, tmp_path, "bad", 0.7, 2)
    mit = scored_mit(mit_tree, tmp_path, "mit", 3)
    good_metrics = json.loads((good / "metrics.json").read_text())
    assert good_metrics["data"] == {"root": str(voc_tree[1].resolve()), "synthetic": False}
    bad_metrics = json.loads((bad / "metrics.json").read_text())
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"rounds": 2, "arch": "deeplab_v2_mobilenet", "refine_grabcut": True,
                                                 "enhance_initial": True}))
    (run / "metrics.jsonl").write_text("".join(json.dumps({"round": r, "losses": [1.0], "train_masks": {"iou": iou},
                                                           "val": m}) + "\n"
                                               for r, iou, m in ((1, 50.0, bad_metrics), (2, 55.0, good_metrics))))
    model_sha = sha("model.pt")
    profile = {"results": [
        {"backend": "torch", "precision": "fp32", "shape": [1, 3, 64, 64], "threads": 2, "device": "cpu",
         "median_ms": 40.0, "p90_ms": 44.0, "throughput_ips": 25.0},
        {"backend": "onnxruntime", "precision": "fp32", "shape": [1, 3, 64, 64], "threads": 2, "device": "cpu",
         "median_ms": 16.0, "p90_ms": 17.0, "throughput_ips": 62.5}],
        "source": {"model": "/models/model.pt", "sha256": model_sha}}
    (tmp_path / "prof").mkdir()
    (tmp_path / "prof" / "profile.json").write_text(json.dumps(profile))
    reference = {**copy.deepcopy(good_metrics), "source": {"model": "/models/model.pt", "sha256": model_sha}}
    deployed = {**copy.deepcopy(good_metrics), "source": {"model": "/models/model.onnx", "sha256": sha("onnx")}}
    (tmp_path / "par").mkdir()
    (tmp_path / "par" / "parity.json").write_text(json.dumps({
        "benchmark": "voc-val", "metric": "mIoU", "reference": reference, "deployed": deployed, "delta": 0.0,
        "tolerance": 0.1, "within_tolerance": True, "logits": {"argmax_agreement": 99.5}}))
    return {"good": good, "bad": bad, "mit": mit, "run": run, "prof": tmp_path / "prof", "par": tmp_path / "par",
            "good_metrics": good_metrics, "bad_metrics": bad_metrics}


def make_report(results, tmp_path):
    args = ["report", f"good={results['good']}", f"bad={results['bad']}", f"ours mit={results['mit']}",
            str(results["run"]), str(results["prof"]), str(results["par"]), "--out", str(tmp_path / "rep")]
    outcome = CliRunner().invoke(cli, args)
    assert outcome.exit_code == 0, outcome.output
    return tmp_path / "rep"


def test_the_leaderboard_ranks_the_users_rows_among_table_ii(results, tmp_path):
    page = parse(make_report(results, tmp_path) / "report.html")
    board = page.table("PASCAL VOC 2012 mIoU")
    paper = paper_tables()["table2_voc2012"]["rows"]
    assert len(board["rows"]) == len(paper) + 2
    for name, key in (("good", "good_metrics"), ("bad", "bad_metrics")):
        miou = results[key]["mIoU"]
        index = next(i for i, row in enumerate(board["rows"]) if row[1] == name)
        assert board["user"][index] and board["rows"][index][2] == "Image-level Labels"
        assert int(board["rows"][index][0]) == 1 + sum(r["val_mIoU"] > miou for r in paper) + (name == "bad")
        assert board["rows"][index][4].startswith(f"{miou:.1f}")
    low, high = results["good_metrics"]["mIoU_ci95"]
    assert f"[{low:.1f}, {high:.1f}]" in next(r[4] for r in board["rows"] if r[1] == "good")
    assert sum(board["user"]) == 2
    values = [float(row[4].split()[0]) for row in board["rows"]]
    assert values == sorted(values, reverse=True)
    assert {r[1] for r in board["rows"]} >= {"Ours", "WSSS*", "SDI"}


def test_per_class_table_differences_are_against_table_iii(results, tmp_path):
    page = parse(make_report(results, tmp_path) / "report.html")
    table = page.table("Per-class IoU")
    paper = paper_tables()["table3_per_class"]["val"]
    assert table["header"][:2] == ["class", "paper (val)"] and "good − paper" in table["header"]
    rows = {row[0]: row for row in table["rows"]}
    assert len(rows) == 22 and rows["background"][1] == "—"
    column = table["header"].index("good − paper")
    ours = results["good_metrics"]["per_class_iou"]
    for name, published in paper["per_class_iou"].items():
        assert float(rows[name][column]) == pytest.approx(ours[name] - published, abs=0.051)
    assert float(rows["mIoU"][column]) == pytest.approx(results["good_metrics"]["mIoU"] - 61.9, abs=0.051)


def test_paired_differences_of_results_on_one_benchmark(results, tmp_path):
    page = parse(make_report(results, tmp_path) / "report.html")
    paired = page.table("Paired differences")
    assert len(paired["rows"]) == 1  # good and bad share voc-val; the MIT result has no partner
    row = paired["rows"][0]
    difference = results["good_metrics"]["mIoU"] - results["bad_metrics"]["mIoU"]
    assert row[:4] == ["good", "bad", "voc-val", "mIoU"] and float(row[6]) == pytest.approx(difference, abs=0.006)
    low, high = (float(v) for v in row[7].strip("[]").split(","))
    assert 0 < low <= difference <= high and row[8] == "yes"


def test_mit_run_and_deploy_sections(results, tmp_path):
    page = parse(make_report(results, tmp_path) / "report.html")
    mit = json.loads((results["mit"] / "metrics.json").read_text())
    table4 = page.table("MIT Object Discovery, subset")
    published = [r for r in paper_tables()["table4_mit"]["rows"] if r["subset"]["Average"] is not None]
    assert len(table4["rows"]) == len(published) + 1
    mine = table4["rows"][table4["user"].index(True)]
    assert mine[1] == "ours mit" and mine[2] == f"{mit['per_class']['Airplane']['J']:.1f}"
    assert mine[5] == f"{mit['mean_J']:.1f}"
    assert int(mine[0]) == 1 + sum(r["subset"]["Average"] > mit["mean_J"] for r in published)

    rounds = page.table("Validation score")
    assert rounds["header"] == ["run", "training masks", "round", "val score", "mask IoU"]  # one line each
    assert [row[:3] for row in rounds["rows"]] == [["run", "refined with GrabCut", "1"],
                                                   ["run", "refined with GrabCut", "2"]]
    assert rounds["rows"][1][3] == f"mIoU {results['good_metrics']['mIoU']:.2f}" and rounds["rows"][0][4] == "50.0"

    latency = page.table("Latency")
    assert [row[1] for row in latency["rows"]] == ["torch", "onnxruntime"]
    assert latency["rows"][1][9] == "2.50x"  # 40 ms / 16 ms, same shape
    assert latency["rows"][0][10].startswith(f"{results['good_metrics']['mIoU']:.2f}")  # matched by sha256
    parity = page.table("Accuracy of the deployed model")
    assert parity["rows"][0][6] == "+0.00" and parity["rows"][0][8] == "pass" and parity["rows"][0][9] == "99.50"
    assert parity["rows"][0][2:4] == ["models/model.pt", "models/model.onnx"]  # folder and file, not just a name


def test_figures_are_embedded_and_the_markdown_links_existing_files(results, tmp_path):
    out = make_report(results, tmp_path)
    page = parse(out / "report.html")
    assert page.external == []  # self-contained: nothing to fetch
    alts = {image["alt"] for image in page.images}
    for fragment in ("VOC 2012 val mIoU", "Per-class IoU", "confusion matrix of good", "confusion matrix of bad",
                     "after each training round", "Median latency against voc-val mIoU", "J per class"):
        assert any(fragment in alt for alt in alts), fragment
    files = sorted(p.name for p in (out / "figures").iterdir())
    assert len(page.images) == len(files)
    for image in page.images:
        prefix = "data:image/png;base64,"
        assert image["src"].startswith(prefix)
        png = Image.open(io.BytesIO(base64.b64decode(image["src"][len(prefix):])))
        png.load()
        assert png.width >= 300 and png.height >= 200
    markdown = (out / "report.md").read_text()
    linked = sorted(line.split("](figures/")[1].rstrip(")") for line in markdown.splitlines() if "](figures/" in line)
    assert linked == files


def test_bad_inputs_exit_2_and_write_nothing(results, tmp_path):
    runner = CliRunner()
    out = tmp_path / "rep"
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "metrics.json").write_text("{not json")
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / "metrics.json").write_text(json.dumps({"per_class_iou": {}, "benchmark": "voc-val"}))
    (tmp_path / "badrun").mkdir()
    (tmp_path / "badrun" / "metrics.jsonl").write_text('{"round": 1}\n{"loss": 2}\n')
    profile = json.loads((results["prof"] / "profile.json").read_text())
    profile["results"][1]["shape"] = "1x3x64x64"
    (tmp_path / "badprof.json").write_text(json.dumps(profile))
    mit = json.loads((results["mit"] / "metrics.json").read_text())
    del mit["per_class"]["Horse"]
    (tmp_path / "badmit.json").write_text(json.dumps(mit))
    cases = [([str(tmp_path / "missing")], "missing: no such file or folder"),
             ([str(tmp_path / "empty")], "no results here"),
             ([str(tmp_path / "broken")], "not valid JSON"),
             ([str(tmp_path / "partial")], "classes is missing"),
             ([str(tmp_path / "badrun")], "metrics.jsonl:2"),
             ([str(tmp_path / "badprof.json")], "results[1].shape"),
             ([str(tmp_path / "badmit.json")], "lacks Horse"),
             ([f"x={results['good']}", f"x={results['bad']}"], "already used")]
    for args, message in cases:
        outcome = runner.invoke(cli, ["report", str(results["good"]), *args, "--out", str(out)])
        assert outcome.exit_code == 2, (args, outcome.output)
        assert message in outcome.output and len(outcome.output.strip().splitlines()) == 1
        assert not out.exists()


def test_labels_split_at_the_first_equals_sign_unless_the_path_exists(tmp_path):
    assert split_label("ours=runs/eval") == ("ours", tmp_path.__class__("runs/eval"))
    weird = tmp_path / "a=b"
    weird.mkdir()
    assert split_label(str(weird)) == (None, weird)
    assert split_label("=x")[0] is None and split_label("name=")[0] is None


def _rendered_markdown(markdown):
    """report.md rendered by markdown-it (CommonMark with GFM tables and strikethrough), parsed."""
    from markdown_it import MarkdownIt

    html = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown)
    page = Page()
    page.feed(html)
    return html, page


HOSTILE = "<script>alert(1)</script> a|b *c* _d_ `e` [f](g) ~~h~~ &amp; $x^2$ # \\"


def test_text_is_escaped_in_both_renderings():
    from c2fbench.report.document import Document, Section, Table, to_html, to_markdown

    doc = Document(HOSTILE, "s", [Section(HOSTILE, [f"run `x` {HOSTILE}", "- 1. not a list",
                                                    Table(["h|1", "n"], [[HOSTILE, "1.0"]], {0}, caption=HOSTILE)])])
    page, markdown = to_html(doc), to_markdown(doc)
    assert "<script" not in page and "&lt;script&gt;" in page and "<code>x</code>" in page
    assert '<tr class="user">' in page and '<td class="num">1.0</td>' in page
    html, rendered = _rendered_markdown(markdown)
    assert "<script" not in html and "<em>c</em>" not in html and "<em>d</em>" not in html
    assert "<a " not in html and "<s>" not in html
    assert "<code>x</code>" in html and "<ul>" not in html and "<ol>" not in html  # our code span is kept
    table = rendered.tables[0]
    assert table["header"] == ["h|1", "n"] and table["rows"] == [[HOSTILE, "1.0"]]
    assert "<strong>" in html  # the user's row is still highlighted
    headings = re.findall(r"<h[12]>(.*?)</h[12]>", html)
    assert [unescape(h) for h in headings] == [HOSTILE, HOSTILE]


def test_user_labels_show_literally_in_report_md(tmp_path):
    """A label with HTML and Markdown in it is text in report.md, in tables and in prose."""
    label = "<script>alert(1)</script>|*x*"
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "metrics.json").write_text(json.dumps(fake_semantic(55.0)))
    out = tmp_path / "rep"
    outcome = CliRunner().invoke(cli, ["report", f"{label}=%s" % (tmp_path / "res"), "--out", str(out),
                                       "--supervision", "<b>boxes</b>"])
    assert outcome.exit_code == 0, outcome.output
    html, rendered = _rendered_markdown((out / "report.md").read_text())
    assert "<script" not in html and "<b>" not in html and "<em>x</em>" not in html
    board = next(t for t in rendered.tables if "val mIoU" in t["header"])
    mine = [row for row in board["rows"] if row[1] == label]
    assert len(mine) == 1 and mine[0][2] == "<b>boxes</b>"
    assert "listed with supervision '<b>boxes</b>'" in unescape(re.sub(r"<[^>]+>", "", html))


def _headings(markdown):
    return [line[3:] for line in markdown.splitlines() if line.startswith("## ")]


def test_the_summary_comes_first_and_the_inputs_last(results, tmp_path):
    out = make_report(results, tmp_path)
    headings = _headings((out / "report.md").read_text())
    assert headings[0] == "Summary" and headings[-1] == "Inputs"
    boards = [k for k, h in enumerate(headings) if "leaderboard" in h.lower()]
    assert boards == [1, 2] and "Recent" in headings[1] and "(Table II)" in headings[2]  # the default: both
    page = parse(out / "report.html")
    mine = page.table("Your results")
    good, bad = results["good_metrics"], results["bad_metrics"]
    assert mine["rows"][0][:4] == ["good", "voc-val", "mIoU", f"{good['mIoU']:.2f}"]
    assert mine["rows"][0][4] == "[{:.2f}, {:.2f}]".format(*good["mIoU_ci95"])  # the interval beside it
    assert mine["rows"][1][3:5] == [f"{bad['mIoU']:.2f}", "no --bootstrap"] and all(mine["user"])
    best = page.table("Best round")
    assert best["rows"] == [["run", "refined with GrabCut", "2 of 2", f"mIoU {max(good['mIoU'], bad['mIoU']):.2f}",
                             "voc-val"]]
    speed = page.table("Speed")
    assert [row[1] for row in speed["rows"]] == ["torch fp32", "onnxruntime fp32"] and speed["rows"][1][4] == "2.50x"
