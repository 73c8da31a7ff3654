"""CSV files as spreadsheets and some trackers save them (facs_rig/io/csv_dialect.py): UTF-16 with
its byte-order mark (Excel's "Unicode Text", tab-separated), ``;`` as the delimiter with decimal
commas (Excel in a European locale), tabs, and a delimiter after the last field of every line.

Each was refused before ("is a binary file", "not a capture format facs-rig knows (columns:
time_s;browInnerUp;...)", "line 1, column 54: empty column name", "'0,5' is not a finite
number"). They are read, to the same values as the comma-separated UTF-8 original, by the fast
path and the row-by-row one; what is still wrong in them is an error naming the file, the line
and what was found.
"""

from __future__ import annotations

import codecs

import numpy as np
import pytest
from conftest import shared_asset
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facs_rig.cli import main
from facs_rig.errors import CaptureFormatError, TimelineFormatError
from facs_rig.io.captures import read_capture
from facs_rig.io.captures._table import header_from_sample, read_head
from facs_rig.io.curves_csv import curves_from_csv_text, read_curves_csv

REAL_TAKES = ("openface/facsvatar_head_test_clean.csv", "livelinkface/S07-001.csv",
              "facecap/facecap_animation_weights.csv", "pyfeat/001.csv")


def _saved_as(text: str, *, delimiter: str = ",", decimal_comma: bool = False,
              trailing: bool = False, encoding: str = "utf-8", crlf: bool = False) -> bytes:
    """The bytes of comma-separated ``text`` (no quotes) as a spreadsheet would save it."""
    lines = text.rstrip("\n").split("\n")
    out = []
    for number, line in enumerate(lines):
        if decimal_comma and number:  # numbers only: the header has no decimals
            line = line.replace(".", "\0")
        line = line.replace(",", delimiter).replace("\0", ",")
        out.append(line + (delimiter if trailing else ""))
    joined = ("\r\n" if crlf else "\n").join(out) + ("\r\n" if crlf else "\n")
    if encoding == "utf-8":
        return joined.encode("utf-8")
    if encoding == "utf-8-sig":
        return codecs.BOM_UTF8 + joined.encode("utf-8")
    bom = codecs.BOM_UTF16_LE if encoding == "utf-16-le" else codecs.BOM_UTF16_BE
    return bom + joined.encode(encoding)


def _same_capture(got, expected) -> None:
    assert got.format == expected.format
    assert got.repairs == expected.repairs
    np.testing.assert_array_equal(got.times, expected.times)
    np.testing.assert_array_equal(got.gaps, expected.gaps)
    for part in ("aus", "blendshapes", "rotations"):
        a, b = getattr(got, part), getattr(expected, part)
        assert (a is None) == (b is None)
        if a is not None:
            values = "values" if part == "aus" else "weights"
            np.testing.assert_array_equal(getattr(a, values), getattr(b, values))  # NaN == NaN


SAVED_AS = {
    "Excel Unicode Text (UTF-16 LE, BOM, tabs, CRLF)":
        dict(delimiter="\t", encoding="utf-16-le", crlf=True),
    "UTF-16 BE with BOM, commas": dict(encoding="utf-16-be"),
    "European Excel (';', decimal commas)": dict(delimiter=";", decimal_comma=True),
    "';' with decimal points, UTF-8 BOM": dict(delimiter=";", encoding="utf-8-sig"),
    "tabs, decimal commas, UTF-16 LE": dict(delimiter="\t", decimal_comma=True,
                                            encoding="utf-16-le"),
    "a comma after the last field": dict(trailing=True),
    "a ';' after the last field, CRLF": dict(delimiter=";", decimal_comma=True, trailing=True,
                                             crlf=True),
}


@pytest.mark.parametrize("take", REAL_TAKES)
@pytest.mark.parametrize("how", list(SAVED_AS))
def test_real_takes_saved_by_a_spreadsheet_read_as_the_original(tmp_path, take, how):
    original = shared_asset(f"captures/{take}")
    text = original.read_bytes().decode("utf-8").replace("\r\n", "\n")
    saved = tmp_path / original.name
    saved.write_bytes(_saved_as(text, **SAVED_AS[how]))
    _same_capture(read_capture(saved), read_capture(original))


def test_code_prints_the_same_summary_for_an_excel_unicode_text_copy(tmp_path, capsys):
    original = shared_asset("captures/openface/facsvatar_head_test_clean.csv")
    saved = tmp_path / "take.csv"
    saved.write_bytes(_saved_as(original.read_text().replace("\r\n", "\n"),
                                **SAVED_AS["Excel Unicode Text (UTF-16 LE, BOM, tabs, CRLF)"]))
    assert main(["code", str(original)]) == 0
    expected = capsys.readouterr().out
    assert main(["code", str(saved)]) == 0
    assert capsys.readouterr().out == expected and "52B+64C" in expected


#: A small OpenFace table: (time step, confidence, success, AU06_r, AU12_r) per row.
_ROWS = st.lists(st.tuples(st.integers(1, 100), st.floats(0, 1), st.integers(0, 1),
                           st.floats(0, 5), st.floats(0, 5)), min_size=2, max_size=30)
_DIALECTS = st.fixed_dictionaries({
    "delimiter": st.sampled_from([",", ";", "\t"]),
    "decimal_comma": st.booleans(),
    "trailing": st.booleans(),
    "encoding": st.sampled_from(["utf-8", "utf-8-sig", "utf-16-le", "utf-16-be"]),
    "crlf": st.booleans(),
})


def _openface_text(rows) -> str:
    lines = ["frame,timestamp,confidence,success,AU06_r,AU12_r"]
    time = 0
    for frame, (step, confidence, success, au6, au12) in enumerate(rows, start=1):
        time += step
        lines.append(f"{frame},{time / 1000!r},{confidence!r},{success},{au6!r},{au12!r}")
    return "\n".join(lines) + "\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=_ROWS, dialect=_DIALECTS, quote=st.booleans())
def test_any_spreadsheet_dialect_reads_as_the_comma_original(tmp_path, rows, dialect, quote):
    if dialect["delimiter"] == ",":
        dialect["decimal_comma"] = False  # no such file: the comma separates fields
    text = _openface_text(rows)
    original, saved = tmp_path / "original.csv", tmp_path / "saved.csv"
    original.write_text(text)
    data = _saved_as(text, **dialect)
    if quote:
        # One quoted cell (as Excel quotes a cell holding its delimiter): read row by row.
        encoding = "utf-16" if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) else "utf-8-sig"
        lines = data.decode(encoding).split("\n")
        lines[1] = '"' + lines[1].replace(dialect["delimiter"], '"' + dialect["delimiter"], 1)
        decoded = "\n".join(lines)
        data = (decoded.encode("utf-16") if encoding == "utf-16" else decoded.encode("utf-8"))
    saved.write_bytes(data)
    _same_capture(read_capture(saved), read_capture(original))
    assert read_head(saved)[1].delimiter == dialect["delimiter"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=_ROWS, dialect=_DIALECTS, data=st.data())
def test_a_value_in_the_unnamed_last_column_or_a_ragged_row_names_its_line(tmp_path, rows,
                                                                           dialect, data):
    dialect["trailing"] = True
    if dialect["delimiter"] == ",":
        dialect["decimal_comma"] = False
    delimiter = dialect["delimiter"]
    text = _saved_as(_openface_text(rows), **dialect)
    encoding = "utf-16" if text[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) else "utf-8-sig"
    newline = "\r\n" if dialect["crlf"] else "\n"
    lines = text.decode(encoding).split(newline)
    row = data.draw(st.integers(1, len(rows) - 1), label="row")  # not the last: cut short
    ragged = data.draw(st.booleans(), label="ragged")
    lines[row] = lines[row][:-1] if ragged else lines[row] + "7"
    saved = tmp_path / "saved.csv"
    decoded = newline.join(lines)
    saved.write_bytes(decoded.encode("utf-16") if encoding == "utf-16" else decoded.encode())
    with pytest.raises(CaptureFormatError) as caught:
        read_capture(saved)
    if ragged:
        assert str(caught.value) == (
            f"{saved}: line {row + 1}: 6 cells, but the header has 7 (6 columns and the empty "
            f"one after its last {delimiter!r})")
    else:
        assert str(caught.value) == (
            f"{saved}: line {row + 1}, column 7: '7' in the unnamed last column (the header ends "
            f"with a {delimiter!r}: an empty column, which must stay empty)")


def test_what_is_still_refused_says_what_was_found(tmp_path):
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("a;b;c\n1;2;3\n")
    with pytest.raises(CaptureFormatError) as caught:
        read_capture(unknown)
    assert str(caught.value) == (
        f"{unknown}: line 1: not a capture format facs-rig knows (fields separated by ';', not "
        f"','; columns: a, b, c); expected openface, pyfeat, livelinkface, mediapipe, facecap "
        f"(use --from to choose one)")
    with pytest.raises(CaptureFormatError) as caught:
        read_capture(unknown, format="openface")
    assert str(caught.value).endswith(" (fields separated by ';', not ',')")
    # A tab-separated OpenFace file is read; --from another format says what it found.
    tabs = tmp_path / "tabs.csv"
    tabs.write_text("frame\ttimestamp\tAU06_r\n1\t0\t1\n2\t0,5\t2\n")
    assert read_capture(tabs).aus.values.shape == (2, 1)
    with pytest.raises(CaptureFormatError) as caught:
        read_capture(tabs, format="mediapipe")
    assert str(caught.value) == (f"{tabs}: line 1: only 0 ARKit blendshape columns; a mediapipe "
                                 f"table has 51 or 52 (fields separated by tabs, not ',')")
    # An empty name that is not a delimiter after the last: still refused.
    empty = tmp_path / "empty.csv"
    empty.write_text("frame,timestamp,,AU06_r,\n1,0,0,1,\n")
    with pytest.raises(CaptureFormatError, match=r"empty\.csv: line 1, column 3: empty column name"):
        read_capture(empty)
    two = tmp_path / "two.csv"
    two.write_text("frame,timestamp,AU06_r,,\n1,0,1,,\n")
    with pytest.raises(CaptureFormatError, match=r"two\.csv: line 1, column 4: empty column name"):
        read_capture(two)
    # A number with a thousands separator is no number: named with its text as written.
    thousands = tmp_path / "thousands.csv"
    thousands.write_text("frame;timestamp;AU06_r\n1;0;1\n2;1.234,5;1\n")
    with pytest.raises(CaptureFormatError) as caught:
        read_capture(thousands)
    assert str(caught.value) == (f"{thousands}: line 3, column 2 (timestamp): '1.234,5' is not "
                                 f"a number")


def test_utf16_without_its_mark_or_broken_is_named_as_such(tmp_path):
    text = "frame,timestamp,AU06_r\n1,0,1\n2,0.5,1\n"
    no_bom = tmp_path / "no_bom.csv"
    no_bom.write_bytes(text.encode("utf-16-le"))
    with pytest.raises(CaptureFormatError) as caught:
        read_capture(no_bom)
    assert str(caught.value) == (
        f"{no_bom}: holds NUL bytes: it looks like UTF-16 text without the byte-order mark "
        f"that would say so (facs-rig does not guess an encoding): save it as UTF-8, or as "
        f"UTF-16 with its BOM (as Excel's 'Unicode Text' does)")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\x00\x01\x02\xff" * 100)
    with pytest.raises(CaptureFormatError, match=r"binary\.csv: is a binary file, not a CSV"):
        read_capture(binary)
    # A lone surrogate on line 3: the line is named, whichever reader meets it.
    broken = tmp_path / "broken.csv"
    good = codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    cut = good.index("2,0.5".encode("utf-16-le"))
    broken.write_bytes(good[:cut] + b"\x00\xd8" + good[cut:])
    with pytest.raises(CaptureFormatError) as caught:
        read_capture(broken)
    assert str(caught.value) == f"{broken}: line 3: not UTF-16 text"


@given(st.integers(2, 60))
def test_a_header_sample_cut_inside_a_utf16_character_is_read(cut):
    """Batch reads the first bytes of a take at a URL: a cut between a character's two bytes
    is no error, and the names are those of the whole line."""
    data = codecs.BOM_UTF16_LE + "timestamp\tAU06_r\tAU12_r\r\n0\t1\t2\r\n".encode("utf-16-le")
    sample = data[:len(codecs.BOM_UTF16_LE) + 2 * 25 + cut]
    assert header_from_sample("take.csv", sample) == ("timestamp", "AU06_r", "AU12_r")


# --- timeline CSV (facs_rig/io/curves_csv.py) -------------------------------------------------

_CURVES = st.lists(st.tuples(st.integers(1, 100), st.floats(0, 1, width=32), st.floats(0, 1, width=32)),
                   min_size=1, max_size=20)


def _curves_text(rows) -> str:
    lines, time = ["time,AU12,AU06_L"], 0
    for step, au12, au6 in rows:
        time += step
        lines.append(f"{time / 100!r},{au12!r},{au6!r}")
    return "\n".join(lines) + "\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=_CURVES, dialect=_DIALECTS)
def test_timeline_csv_in_any_spreadsheet_dialect_reads_as_the_comma_original(tmp_path, rows,
                                                                            dialect):
    if dialect["delimiter"] == ",":
        dialect["decimal_comma"] = False
    text = _curves_text(rows)
    saved = tmp_path / "curves.csv"
    saved.write_bytes(_saved_as(text, **dialect))
    got, expected = read_curves_csv(saved), curves_from_csv_text(text)
    assert got.channels == expected.channels and got.fps == expected.fps
    np.testing.assert_array_equal(got.times, expected.times)
    np.testing.assert_array_equal(got.values, expected.values)


def test_timeline_csv_still_names_what_is_wrong(tmp_path):
    with pytest.raises(TimelineFormatError) as caught:
        curves_from_csv_text("time;AU12;\n0;0,5;\n0,1;0,7;9\n", source="c.csv")
    assert str(caught.value) == ("c.csv, line 3, column 3: '9' in the unnamed last column (the "
                                 "header ends with a ';': an empty column, which must stay empty)")
    with pytest.raises(TimelineFormatError) as caught:
        curves_from_csv_text("time,AU12,\n0,0.5,\n0.1,0.7\n", source="c.csv")
    assert str(caught.value) == ("c.csv, line 3: 2 cells, the header has 3 (2 columns and the "
                                 "empty one after its last ',')")
    with pytest.raises(TimelineFormatError) as caught:
        curves_from_csv_text("time;AU12\n0;0,5\n0,1;1.234,5\n", source="c.csv")
    assert str(caught.value) == "c.csv, line 3, column 'AU12': '1.234,5' is not a finite number"
    with pytest.raises(TimelineFormatError, match=r"c\.csv, line 1, column 2: '' is neither"):
        curves_from_csv_text("time,,AU12,\n0,0,0.5,\n", source="c.csv")
    broken = tmp_path / "broken.csv"
    broken.write_bytes(codecs.BOM_UTF16_LE + "time\tAU12\r\n".encode("utf-16-le") + b"\x00\xd8")
    with pytest.raises(TimelineFormatError) as caught:
        read_curves_csv(broken)
    assert str(caught.value).startswith(f"{broken}, line 2, column 1: not UTF-16 text")


# --- batch manifests (facs_rig/cluster/takes.py) ----------------------------------------------

@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rates=st.lists(st.sampled_from(["30", "29.97", "59.94", "24"]), min_size=1, max_size=4),
       dialect=_DIALECTS)
def test_a_manifest_saved_by_a_spreadsheet_reads_as_the_comma_original(tmp_path, rates, dialect):
    """A manifest made in Excel (``capture;fps``, ``29,97``; or Unicode Text) was refused:
    "unknown column(s) capture;fps"."""
    from facs_rig.cluster.takes import read_manifest

    if dialect["delimiter"] == ",":
        dialect["decimal_comma"] = False
    text = "capture,fps,neutral\n" + "".join(
        f"take_{k},{rate},auto\n" for k, rate in enumerate(rates))  # (no '.': _saved_as commas it)
    (tmp_path / "comma.csv").write_text(text)
    (tmp_path / "saved.csv").write_bytes(_saved_as(text, **dialect))
    got = read_manifest(str(tmp_path / "saved.csv"))
    assert got == read_manifest(str(tmp_path / "comma.csv"))
    assert [overrides["fps"] for _, overrides in got] == [float(rate) for rate in rates]
