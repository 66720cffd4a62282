"""The budget report as text: one formatter for the NOC page, its CSV and the weekly e-mail.

Page and CSV show the same rounded values (``cells``): only the thousands separator differs
(the CSV has none). In Indonesian the CSV uses ';' between cells and a decimal comma (what a
spreadsheet set to Indonesian reads), with Indonesian headers; cells a spreadsheet would run
as formulas are neutralised.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from central.noc import budget
from central.noc.i18n import num, t

#: The columns of the page and the CSV (each explained under the table: budget.help.<col>).
#: The answer first (waste, use, what it costs), then the figures behind it.
COLUMNS = ["name", "waste_mbps", "use_pct", "capacity_mbps", "p95_mbps", "unused_cost_month",
           "cost_month", "flags", "peak_mbps", "volume_gb", "idle_hours", "coverage_pct", "kind"]


def cells(row: dict[str, Any], lang: str, group: bool = True) -> dict[str, str]:
    """A report row as the text of each column, in a language (the page's and the CSV's)."""
    out: dict[str, str] = {}
    for col in COLUMNS:
        value = row.get(col)
        if col in budget.DECIMALS:
            out[col] = "" if value is None and not group else num(
                value, lang, budget.DECIMALS[col], group)
        elif col == "kind":
            out[col] = t(lang, f"role.{value}") if value in ("park", "office") else str(value or "")
        elif col == "flags":
            out[col] = ", ".join(t(lang, f"budget.flag.{f}") for f in value or [])
        else:
            out[col] = str(value or "")
    return out


def csv_text(report: dict[str, Any], lang: str) -> str:
    """A ``budget.period_report`` as the CSV the NOC serves, in a language."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";" if lang == "id" else ",")
    w.writerow([t(lang, f"budget.col.{c}") for c in COLUMNS])
    for r in report["rows"]:
        text = cells(r, lang, group=False)
        w.writerow([budget.csv_cell(text[c]) if c in ("name", "kind", "flags") else text[c]
                    for c in COLUMNS])
    return buf.getvalue()
