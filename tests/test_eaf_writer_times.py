"""The ELAN writer on any finite times: a file that reads back, or one line saying why not.

ELAN time slots are whole milliseconds, ``xsd:unsignedInt`` in the EAF 2.8 schema (0 to
4294967295 ms, 49.7 days). An apex of 1e308 s raised OverflowError from ``int(round(inf))``, and
a beat at 1e20 frames was refused as lasting "under a millisecond" (float rounding ate its length).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facs_rig.cli import main
from facs_rig.core.channels import Channel
from facs_rig.core.timeline import AUEvent, Timeline
from facs_rig.errors import TimelineError, TimelineFormatError
from facs_rig.io.eaf import MAX_WRITTEN_MS, read_eaf, write_eaf

LIMIT = f"outside the 0 to {MAX_WRITTEN_MS} ms (49.7 days) an ELAN time slot holds"

seconds = st.one_of(st.floats(0, 1e4), st.floats(0, 1e8), st.floats(0, 1e308),
                    st.sampled_from([0.0, 4294967.295, 4294967.296, 1e308]))


@settings(max_examples=300, deadline=None)
@given(start=seconds, onset=seconds, apex=seconds, offset=seconds)
def test_any_finite_times_write_and_read_back_or_are_refused_in_one_line(
        vocabulary, start, onset, apex, offset):
    try:
        event = AUEvent(Channel(12), 0.55, start, onset, apex, offset)
        timeline = Timeline(events=(event,))
    except TimelineError:
        return  # the timeline itself refuses it (an end past the largest float)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "t.eaf"
        try:
            write_eaf(timeline, path, vocabulary)
        except TimelineFormatError as exc:
            message = str(exc)
            assert "\n" not in message and message.startswith(f"{path}: cannot write the AU12 event")
            assert LIMIT in message or "lasts under a millisecond" in message
            if "lasts under a millisecond" in message:
                assert event.end - event.start < 1e-3 and event.end * 1000 <= MAX_WRITTEN_MS
            else:
                assert event.end * 1000 > MAX_WRITTEN_MS
            assert not path.exists()  # nothing half-written
            return
        assert event.end * 1000 <= MAX_WRITTEN_MS
        (back,) = read_eaf(path, vocabulary).events
        # ELAN keeps whole milliseconds: a start is off by half a millisecond at most (0.0625 s
        # is written 62 ms, Python's round half to even), plus the float error of that half.
        assert back.start == pytest.approx(event.start, abs=5e-4 + 1e-12)
        assert back.end == pytest.approx(event.end, abs=1e-3)


@pytest.mark.parametrize(("beat", "what"), [
    ("1.0 6+12 onset 1 apex 1e308 offset 1", "its end is at 1e+308 s"),
    ("99999999999999999999f 6", "its start is at 4.16667e+18 s"),
    ("1.0 6 onset 1 apex 4294966 offset 1", "its end is at 4.29497e+06 s"),
])
def test_convert_to_elan_names_the_file_and_the_limit(tmp_path, capsys, beat, what):
    notes = tmp_path / "bigapex.notes"
    notes.write_text(f"fps 24\n{beat}\n")
    output = tmp_path / "x.eaf"
    assert main(["timeline", "convert", str(notes), "-o", str(output)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"facs-rig: error: {output}: cannot write the AU06")
    assert what in err and LIMIT in err and "Traceback" not in err
    assert not output.exists()


def test_the_last_writable_millisecond_is_written(vocabulary, tmp_path):
    event = AUEvent(Channel(12), 0.55, 4294967.0, 0.1, 0.1, 0.095)  # ends at 4294967.295 s
    write_eaf(Timeline(events=(event,)), tmp_path / "t.eaf", vocabulary)
    assert f'TIME_VALUE="{MAX_WRITTEN_MS}"' in (tmp_path / "t.eaf").read_text()
