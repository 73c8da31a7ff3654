"""The batch QC report's details: dominant AUs per AU (both sides as one), what "unused" counts,
and a page that fits a 1400 px window (no cluster needed: the QC is computed in-process)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from conftest import missing_interop, require_tool, shared_asset

from facs_rig.cluster.work import take_qc
from facs_rig.core.events import EventOptions
from facs_rig.io.captures import read_capture
from facs_rig.io.captures.pipeline import CleaningOptions, take_events


def _qc(name: str, source: str = "auto", tracker_name: str | None = None):
    """``take_qc`` of a shared capture as a batch computes it (``code``'s cleaning)."""
    capture = read_capture(shared_asset(name))
    take = take_events(capture, CleaningOptions(smoothing="zero-phase", neutral="auto"),
                       EventOptions(), source=source, tracker=tracker_name, code=True)
    return (take_qc(capture, take.solved, take.timeline, take.segments, take.tracker),
            capture, take.tracker, take.timeline)


def _union(spans) -> float:
    total, reach = 0.0, -math.inf
    for start, end in sorted(spans):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


@pytest.mark.parametrize("name", ["captures/livelinkface/S07-001.csv",
                                  "captures/livelinkface/alex_rom_3.csv",
                                  "captures/facecap/facecap_animation_weights.csv"])
def test_dominant_aus_count_both_sides_of_an_au_as_one(name):
    # The review saw AU05_L and AU05_R take two of S07-001's five slots.
    qc, _, _, timeline = _qc(name)
    sides: dict[int, set] = {}
    spans: dict[int, list] = {}
    for event in timeline.events:
        sides.setdefault(event.channel.au, set()).add(event.channel.side)
        spans.setdefault(event.channel.au, []).append(
            (event.start, event.start + event.onset + event.apex + event.offset))
    assert any({"L", "R"} <= found for found in sides.values())  # the take has sided AUs
    expected = sorted((-_union(spans[au]), au) for au in spans)[:5]
    names = [entry["au"] for entry in qc["dominant_aus"]]
    aus = [int(label[2:4]) for label in names]
    assert len(set(aus)) == len(aus) == 5
    assert aus == [au for _, au in expected]
    for label, au, entry in zip(names, aus, qc["dominant_aus"]):
        side = next(iter(sides[au])) if len(sides[au]) == 1 else None
        assert label == f"AU{au:02d}" + (f"_{side}" if side else "")
        assert entry["seconds"] == round(_union(spans[au]), 3) <= qc["duration"] + 1e-3


def test_unused_counts_only_blendshapes_that_were_solve_inputs():
    # Py-Feat's own AU columns are its AUs by default: its 51 MediaPipe blendshapes, landmarks,
    # pose and face box are no solve input, so none is "unused" (the report said "unused 51").
    qc, capture, _, _ = _qc("captures/pyfeat/001.csv")
    assert qc["source"] == "aus" and len(capture.blendshapes.names) == 51
    assert qc["unused_channels"] == []
    # Solved from its blendshapes through the mediapipe profile's fitted mapping: unused are
    # exactly the shapes the mapping gives no weight.
    from facs_rig.io.captures.arkit_names import canonical_arkit_name

    qc, capture, tracker, _ = _qc("captures/pyfeat/001.csv", source="blendshapes")
    assert qc["source"] == "blendshapes" and tracker.mapping is not None
    weighted = {s for s, row in zip(tracker.mapping.shapes, tracker.mapping.weights) if row.any()}
    names = capture.blendshapes.names
    assert qc["unused_channels"] == [n for n in names if canonical_arkit_name(n) not in weighted]
    assert len(qc["unused_channels"]) < len(names)
    # Live Link Face solved by the ARKit solver: every shape is an input.
    qc, _, _, _ = _qc("captures/livelinkface/S07-001.csv")
    assert qc["source"] == "blendshapes" and qc["unused_channels"] == []


def _long_entries(folder: Path) -> list[dict]:
    """Report entries as wide as real ones get: long names and paths, repairs, five AUs."""
    from PIL import Image

    picture = folder / "take.qc.png"
    Image.new("RGB", (544, 400), (40, 20, 80)).save(picture)  # a heat map's size
    long_path = "/studio/sessions/2026-12-06_stage_B/" + "very_long_folder_name/" * 4
    failed = {"key": "bad", "status": "failed", "capture": long_path + "a_take_" + "x" * 60 + ".csv",
              "error": long_path + "a_take_" + "x" * 60 + ".csv: line 3, column 2 (AU01_r): "
                       "'oops' is not a number"}
    qc = {"frames": 216000, "duration": 3599.983, "fps": 60.0, "gap_frames": 12345,
          "repairs": ["1234 blendshape weights outside 0-1 clipped",
                      "12 rows with a timecode that went backwards dropped",
                      "3 dropped frames resampled to the average rate"],
          "clipped_values": 1234, "residual_mean": 0.01234, "source": "blendshapes",
          "unused_channels": ["_neutral", "tongueOut"],
          "dominant_aus": [{"au": f"AU{au:02d}", "seconds": 3599.983, "share": 1.0}
                           for au in (5, 12, 25, 43, 64)],
          "emotions": {"happiness": 1234.5, "surprise": 1000.25, "sadness": 999.5,
                       "contempt": 12.5, "disgust": 3.25}}
    ok = {"key": "ok", "status": "ok", "capture": long_path + "take_" + "y" * 60 + ".csv",
          "outputs": [str(picture)], "qc": qc}
    return [failed, ok]


def test_the_report_page_fits_a_1400_pixel_window_without_scrolling_sideways(tmp_path):
    from facs_rig.cluster.report import write_reports
    from facs_rig.studio.headless import find_chromium, launch_chromium

    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_interop("playwright is not installed (pip install '.[test]')")
    executable = require_tool("chromium", find_chromium())
    _, html_path = write_reports(tmp_path, _long_entries(tmp_path))
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, executable)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(html_path.resolve().as_uri())
            widths = page.evaluate("() => [document.documentElement.scrollWidth, "
                                   "document.documentElement.clientWidth]")
            right = page.eval_on_selector_all(
                "th, td, img", "cells => Math.max(...cells.map(c => c.getBoundingClientRect().right))")
            # The long failure reads without its path (the take's name and tooltip give it).
            error = page.inner_text("tr.failed .error")
        finally:
            browser.close()
    assert widths[0] <= widths[1] <= 1400
    assert right <= widths[1]
    assert error == "line 3, column 2 (AU01_r): 'oops' is not a number"


def test_emotions_read_longest_first_whatever_order_the_manifest_kept(tmp_path):
    """The manifest stores the QC with sorted keys, so a rerun's report listed emotions
    alphabetically: "anger 4.8 s" first on a take that is mostly disgust."""
    import json

    from facs_rig.cluster.report import write_reports

    entries = _long_entries(tmp_path)
    entries[1]["qc"]["emotions"] = json.loads(json.dumps(
        {"disgust": 39.5, "surprise": 16.2, "happiness": 10.6, "anger": 4.8, "fear": 3.8},
        sort_keys=True))
    _, html_path = write_reports(tmp_path, entries)
    nbsp = "\u00a0"
    assert (f"disgust{nbsp}39.5{nbsp}s, surprise{nbsp}16.2{nbsp}s, happiness{nbsp}10.6{nbsp}s, "
            f"anger{nbsp}4.8{nbsp}s, fear{nbsp}3.8{nbsp}s") in html_path.read_text("utf-8")


def test_an_interrupted_batch_lists_its_takes_not_done_and_the_files_it_skipped(tmp_path):
    """A reviewer's page read "5 takes: 5 ok, 0 failed" after a Ctrl-C that left 35 takes
    undone, and a skipped file was named only on the terminal."""
    import json

    from facs_rig.cluster.report import write_reports

    skipped = "in/: 1 CSV file(s) skipped, not a capture format facs-rig knows: notes.csv"
    json_path, html_path = write_reports(tmp_path, _long_entries(tmp_path), interrupted=True,
                                         not_done=["in/c.csv", "in/d.csv"], notes=[skipped])
    document = json.loads(json_path.read_text("utf-8"))
    assert {k: document["totals"][k] for k in ("takes", "ok", "failed", "not_done")} == \
        {"takes": 4, "ok": 1, "failed": 1, "not_done": 2}
    assert [(t["status"], Path(t["capture"]).name[:7]) for t in document["takes"]] == \
        [("failed", "a_take_"), ("not done", "c.csv"), ("not done", "d.csv"), ("ok", "take_yy")]
    assert document["skipped_files"] == [skipped]
    page = html_path.read_text("utf-8")
    assert "<p>4 takes: 1 ok, 1 failed, 2 not done;" in page
    assert "<strong>Interrupted:</strong> 2 of 4 takes not done; rerun" in page
    assert f"<strong>Skipped:</strong> {skipped}</p>" in page
    assert page.count('<tr class="waiting">') == 2
