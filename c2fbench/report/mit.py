"""MIT Object Discovery: the user's J per class ranked among Table IV's rows, P beside it."""

from __future__ import annotations

from c2fbench.data.mit import MIT_CLASSES
from c2fbench.leaderboard import paper_tables
from c2fbench.report import figures
from c2fbench.report.cells import SYNTHETIC_NOTE, fmt, is_synthetic, row_name, with_ci
from c2fbench.report.document import Data, Figure, Section, Table
from c2fbench.report.inputs import ReportInput


def mit_section(inputs: list[ReportInput]) -> list[Section]:
    mine = [i for i in inputs if i.kind == "foreground" and i.data["benchmark"] in ("mit-subset", "mit-full")]
    if not mine:
        return []
    table4 = paper_tables()["table4_mit"]
    classes = list(MIT_CLASSES)
    blocks = ["Foreground IoU J per class and its average, inserted into the paper's Table IV (ranked by average). "
              "'*' marks methods trained with pixel-level annotations; 'Jing et al.' are the paper's own rows. "
              "Brackets hold bootstrap 95% intervals where the eval ran with --bootstrap."]
    if any(is_synthetic(i.data) for i in mine):
        blocks.append(SYNTHETIC_NOTE)
    for part, benchmark in (("subset", "mit-subset"), ("full", "mit-full")):
        users = [i for i in mine if i.data["benchmark"] == benchmark]
        if not users:
            continue
        entries = [{"name": r["method"] + ("*" if r["pixel_supervision"] else "") + (" (Jing et al.)" if r["ours"] else ""),
                    "values": [r[part][c] for c in classes], "average": r[part]["Average"], "user": False, "ci": None}
                   for r in table4["rows"] if r[part]["Average"] is not None]
        entries += [{"name": row_name(i), "values": [i.data["per_class"][c]["J"] for c in classes],
                     "average": i.data["mean_J"], "user": True, "ci": i.data.get("mean_J_ci95")} for i in users]
        entries.sort(key=lambda e: -e["average"])
        rows = [[str(k), e["name"], *map(fmt, e["values"]), with_ci(e["average"], e["ci"])]
                for k, e in enumerate(entries, 1)]
        user_rows = {k for k, e in enumerate(entries) if e["user"]}
        caption = f"MIT Object Discovery, {part} ({benchmark}), J (%)"
        data = Data(f"table4_{part}", ["rank", "method", *classes, "average J", "average J 95% low",
                                       "average J 95% high"],
                    [[k, e["name"], *e["values"], e["average"], *(e["ci"] or (None, None))]
                     for k, e in enumerate(entries, 1)],
                    source=["yours" if e["user"] else "paper" for e in entries], caption=f"{caption} (Table IV)")
        blocks.append(Table(["rank", "method", *classes, "average J"], rows, user_rows, caption=caption, data=data))
        dfpn = next(r for r in table4["rows"] if r["method"] == "DFPN")
        blocks.append(Figure(f"mit-{part}", figures.per_class_png(
            classes, {"DFPN (paper)": [dfpn[part][c] for c in classes],
                      **{row_name(i): [i.data["per_class"][c]["J"] for c in classes] for i in users}},
            ylabel="J (%)", title=f"Object Discovery {part}: J per class"),
            f"J per class on the {part} folders: the paper's DFPN (grey) beside yours."))
        p_rows = [[row_name(i), *(fmt(i.data["per_class"][c]["P"]) for c in classes), fmt(i.data["mean_P"])]
                  for i in users]
        caption = f"Pixel accuracy P (%), {part} (Table IV does not print P)"
        data = Data(f"table4_{part}_P", ["your result", *classes, "mean P"],
                    [[row_name(i), *(i.data["per_class"][c]["P"] for c in classes), i.data["mean_P"]] for i in users],
                    source=["yours"] * len(users), caption=caption)
        blocks.append(Table(["your result", *classes, "mean P"], p_rows, set(range(len(p_rows))), caption=caption,
                            data=data))
    return [Section("MIT Object Discovery (Table IV)", blocks)]
