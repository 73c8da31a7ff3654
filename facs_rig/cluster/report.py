"""The batch QC report: ``batch-report.json`` for machines and ``batch-report.html`` for people.

The HTML page is one self-contained file: a table with one row per take (failures first), a
thumbnail of each take's AU heat map (linked relative to the page, so the output folder can be
moved or served as it is), and a few lines of our own JavaScript that sort the table when a
column header is clicked. No third-party script is loaded.
"""

from __future__ import annotations

import html
import json
import os
import posixpath
from collections.abc import Sequence
from pathlib import Path

from facs_rig import __version__

__all__ = ["write_reports", "batch_totals", "ordered"]

REPORT_JSON = "batch-report.json"
REPORT_HTML = "batch-report.html"


def ordered(entries: list[dict]) -> list[dict]:
    """Failures first (in input order), then the rest in input order."""
    return ([e for e in entries if e.get("status") == "failed"]
            + [e for e in entries if e.get("status") != "failed"])


def batch_totals(entries: list[dict], not_done: int = 0) -> dict:
    """Counts and sums over the batch's takes (``not_done``: takes with no entry yet, after an
    interrupted run)."""
    good = [e["qc"] for e in entries if e.get("status") == "ok" and "qc" in e]
    residuals = [q["residual_mean"] for q in good if q.get("residual_mean") is not None]
    return {
        "takes": len(entries) + not_done,
        "ok": len(good),
        "failed": sum(e.get("status") == "failed" for e in entries),
        "not_done": not_done,
        "frames": sum(q["frames"] for q in good),
        "duration": round(sum(q["duration"] for q in good), 3),
        "gap_frames": sum(q["gap_frames"] for q in good),
        "clipped_values": sum(q["clipped_values"] for q in good),
        "takes_with_repairs": sum(bool(q["repairs"]) for q in good),
        "residual_mean": round(sum(residuals) / len(residuals), 5) if residuals else None,
    }


def write_reports(folder: Path | str, entries: list[dict], *, interrupted: bool = False,
                  not_done: Sequence[str] = (), notes: Sequence[str] = (),
                  lost: str | None = None) -> tuple[Path | str, Path | str]:
    """Write the JSON and HTML reports of ``entries`` (manifest entries) into ``folder`` (a
    local folder or an fsspec URL).

    ``not_done`` names the captures of the batch with no entry yet (an interrupted run), listed
    after the failures; ``notes`` are the notes on files the inputs named and the batch skipped
    (not a capture format), shown above the table: a reviewer found a skipped file named only
    on the terminal, and a page reading "5 takes: 5 ok" after a Ctrl-C that left 35 undone.
    ``lost`` says why the run stopped early when it was not a Ctrl-C (the scheduler was lost).
    """
    from facs_rig.cluster.remote import RemoteText, is_url, join
    from facs_rig.io.atomic import write_text_atomic

    rows = [{k: v for k, v in entry.items() if k != "settings"} for entry in ordered(entries)]
    waiting = [{"capture": capture, "status": "not done"} for capture in not_done]
    rows = [r for r in rows if r.get("status") == "failed"] + waiting + \
        [r for r in rows if r.get("status") != "failed"]
    document = {"facs_rig_version": __version__, "interrupted": interrupted, "lost": lost,
                "totals": batch_totals([r for r in rows if r["status"] != "not done"],
                                       len(waiting)),
                "skipped_files": list(notes), "takes": rows}
    texts = (json.dumps(document, indent=1, sort_keys=True) + "\n",
             _html(folder, rows, document["totals"], interrupted, list(notes), lost))
    if is_url(folder):
        paths = tuple(join(folder, name) for name in (REPORT_JSON, REPORT_HTML))
        for path, text in zip(paths, texts):
            RemoteText(path).write(text)
        return paths
    json_path, html_path = Path(folder) / REPORT_JSON, Path(folder) / REPORT_HTML
    write_text_atomic(json_path, texts[0])
    write_text_atomic(html_path, texts[1])
    return json_path, html_path


#: The page's columns and their share of its width: the table is laid out at the window's width
#: (a 1400 px window shows it whole, tests/test_batch_report.py looks), long text wraps inside
#: its column, and a heat map thumbnail shrinks to its column.
_COLUMNS = (("status", 4.5), ("take", 13), ("frames", 5), ("seconds", 5.5), ("fps", 3.5),
            ("gaps", 4), ("repairs", 11), ("clipped", 5), ("residual", 5.5), ("unused", 5),
            ("dominant AUs", 13), ("emotions", 11), ("heat map", 14))

# Our own table sorter: a click on a header sorts by that column (numbers as numbers, using
# each cell's data-v), a second click reverses.
_SCRIPT = """
document.querySelectorAll('th').forEach(function (th, col) {
  th.addEventListener('click', function () {
    var body = th.closest('table').tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var up = th.dataset.dir !== 'up';
    th.dataset.dir = up ? 'up' : 'down';
    function key(row) {
      var cell = row.cells[col], v = cell.dataset.v !== undefined ? cell.dataset.v : cell.textContent;
      var n = Number(v);
      return String(v).trim() === '' || isNaN(n) ? String(v) : n;
    }
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      if (typeof x !== typeof y) { x = String(x); y = String(y); }
      return (x < y ? -1 : x > y ? 1 : 0) * (up ? 1 : -1);
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
"""

_STYLE = """
body { font: 14px system-ui, sans-serif; margin: 1.5em; }
table { border-collapse: collapse; width: 100%; table-layout: fixed; font-size: 13px; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 5px; text-align: left; vertical-align: top;
         overflow-wrap: anywhere; }
th { cursor: pointer; background: #f4f4f4; position: sticky; top: 0; }
tr.failed td { background: #fde8e8; }
tr.waiting td { background: #fff6dc; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { display: block; width: 100%; max-width: 240px; image-rendering: pixelated; }
.error { color: #a00; }
"""


def _cell(value, *, sort=None, number=False) -> str:
    attribute = f' data-v="{html.escape(str(sort))}"' if sort is not None else ""
    css = ' class="num"' if number else ""
    return f"<td{attribute}{css}>{value}</td>"


def _row(folder: Path, entry: dict) -> str:
    escape = html.escape
    name = escape(Path(entry.get("capture", entry.get("key", "?"))).name)
    title = escape(entry.get("capture", ""))
    if entry.get("status") == "not done":
        return ('<tr class="waiting">' + _cell("not done", sort="0 not done")
                + _cell(f'<span title="{title}">{name}</span><div>interrupted before it '
                        f'finished: the rerun does it</div>', sort=name)
                + "".join(_cell("", sort=-1) for _ in _COLUMNS[2:]) + "</tr>")
    if entry.get("status") == "failed":
        # The error without the capture's path, which the take's name and its tooltip give.
        error = entry.get("error", "")
        capture = entry.get("capture", "")
        shown = error[len(capture) + 2:] if capture and error.startswith(f"{capture}: ") else error
        # Every column has a cell (sorting moves cells by index); numbers sort failures first.
        return ('<tr class="failed">' + _cell("failed", sort="0 failed")
                + _cell(f'<span title="{title}">{name}</span><div class="error" '
                        f'title="{escape(error)}">{escape(shown)}</div>', sort=name)
                + "".join(_cell("", sort=-1) for _ in _COLUMNS[2:]) + "</tr>")
    qc = entry.get("qc", {})
    residual = qc.get("residual_mean")
    # Seconds to a tenth here (the JSON keeps milliseconds), and no-break spaces inside an item,
    # so that a narrow column wraps between items only.
    dominant = ", ".join(f"{d['au']}\u00a0{d['seconds']:.1f}\u00a0s"
                         for d in qc.get("dominant_aus", []))
    # Longest first: the manifest stores the QC with its keys sorted, so a rerun's entries came
    # back alphabetical ("anger 4.8 s" first on a take that is mostly disgust).
    emotions = ", ".join(f"{k}\u00a0{v:.1f}\u00a0s" for k, v in sorted(
        qc.get("emotions", {}).items(), key=lambda item: (-item[1], item[0])))
    picture = next((p for p in entry.get("outputs", []) if p.endswith(".qc.png")), None)
    thumbnail = ""
    if picture:
        if "://" in picture:  # a URL folder: the pictures are named below it
            relative = posixpath.relpath(picture.partition("://")[2],
                                         str(folder).partition("://")[2])
        else:
            relative = Path(os.path.relpath(picture, folder)).as_posix()
        thumbnail = f'<a href="{escape(relative)}"><img src="{escape(relative)}" alt="AU heat map"></a>'
    repairs = "; ".join(qc.get("repairs", []))
    unused = ", ".join(qc.get("unused_channels", []))
    # The batch's options this take was done without (--tracker on an OpenFace take), with why.
    # ... and the --tracker profile of another tracker than the take's format implies.
    not_applied = "".join(f"<div>{escape(note)}</div>" for note in
                          [*qc.get("not_applied", []), *filter(None, [qc.get("tracker_mismatch")])])
    return ("<tr>" + _cell("ok", sort="1 ok")
            + _cell(f'<span title="{title}">{name}</span>{not_applied}', sort=name)
            + _cell(qc.get("frames", ""), number=True)
            + _cell(f"{qc.get('duration', 0):.2f}", sort=qc.get("duration", 0), number=True)
            + _cell(f"{qc['fps']:g}" if qc.get("fps") else "irregular", sort=qc.get("fps") or 0,
                    number=True)
            + _cell(qc.get("gap_frames", 0), number=True)
            + _cell(escape(repairs) or "", sort=len(qc.get("repairs", [])))
            + _cell(qc.get("clipped_values", 0), number=True)
            + _cell(f"{residual:.4f}" if residual is not None else "", sort=residual
                    if residual is not None else -1, number=True)
            + (_cell('<span title="the AUs came from the tracker\'s own AU columns: no '
                     'blendshape was a solve input">-</span>', sort=-1, number=True)
               if qc.get("source") == "aus" else
               _cell(f'<span title="{escape(unused)}">{len(qc.get("unused_channels", []))}</span>',
                     sort=len(qc.get("unused_channels", [])), number=True))
            + _cell(escape(dominant))
            + _cell(escape(emotions))
            + _cell(thumbnail, sort=name) + "</tr>")


def _html(folder: Path, rows: list[dict], totals: dict, interrupted: bool,
          notes: list[str], lost: str | None = None) -> str:
    columns = "".join(f'<col style="width: {share}%">' for _, share in _COLUMNS)
    header = "".join(f"<th>{html.escape(name)}</th>" for name, _ in _COLUMNS)
    body = "\n".join(_row(folder, e) for e in rows)
    note = (f"<p><strong>Interrupted:</strong> {totals['not_done']} of {totals['takes']} takes "
            f"not done; rerun the same command to finish.</p>" if interrupted else "")
    if lost:
        note += (f"<p><strong>Stopped:</strong> {html.escape(lost)}; {totals['not_done']} of "
                 f"{totals['takes']} takes not done; rerun the same command to finish.</p>")
    note += "".join(f"<p><strong>Skipped:</strong> {html.escape(text)}</p>" for text in notes)
    not_done = f", {totals['not_done']} not done" if totals["not_done"] else ""
    summary = (f"{totals['takes']} takes: {totals['ok']} ok, {totals['failed']} failed{not_done}; "
               f"{totals['frames']} frames, {totals['duration']:.1f} s; "
               f"{totals['gap_frames']} gap frames; {totals['clipped_values']} clipped values")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>facs-rig batch report</title><style>{_STYLE}</style></head><body>\n"
            f"<h1>facs-rig batch report</h1>\n<p>{html.escape(summary)} (facs-rig "
            f"{html.escape(__version__)}). Click a column to sort. The residual, AU and emotion "
            f"columns are computed as <code>facs-rig code</code> does (zero-phase smoothing, automatic "
            f"neutral, unless the batch set them), like each take's .facs.txt, so they can differ "
            f"from the retarget line printed for the take.</p>{note}\n"
            f"<table><colgroup>{columns}</colgroup><thead><tr>{header}</tr></thead><tbody>\n"
            f"{body}\n</tbody></table>\n"
            f"<script>{_SCRIPT}</script>\n</body></html>\n")
