"""Hostile input for every text parser: one clear FacsRigError, quickly, in bounded memory.

Three kinds of test, per class of defect found by fuzzing (issue 11, point 13):

* the fuzzers' reproducers in ``../shared/fuzz-repros/`` run through the CLI (skipped when that
  folder is not beside the repository);
* a generated input of each class, so the class stays covered without the shared folder. Inputs
  that were slow are sized so that the old quadratic or cubic parsing would take minutes, while
  linear parsing takes milliseconds: no timed asserts, the size is the bound;
* a bounded hypothesis fuzz test per parser, mutating real example files: only FacsRigError may
  escape.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from facs_rig.cli import main
from facs_rig.core.channels import parse_channel
from facs_rig.core.rig import rig_from_dict, validate_rig
from facs_rig.core.timecode import format_timecode, parse_timecode
from facs_rig.errors import (
    CodeParseError,
    RigError,
    RigValidationError,
    TimelineError,
    TimelineFormatError,
)
from facs_rig.io import bounded_json
from facs_rig.io.au_notes import parse_au_notes
from facs_rig.io.eaf import channel_of_tier, read_eaf
from facs_rig.io.rig_files import check_rig_file, load_rig, read_rig_json
from facs_rig.io.timeline_files import read_timeline
from facs_rig.io.timeline_json import parse_channel_list, read_channel_name, timeline_from_json

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
REPROS = REPO.parent / "shared" / "fuzz-repros"


def one_error_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run ``facs-rig argv``: exit 1 with one ``facs-rig: error:`` line; return the line."""
    assert main(argv) == 1
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err[-2000:]
    assert lines[0].startswith("facs-rig: error: "), lines[0]
    assert len(lines[0]) < 600, "long input is quoted cut, not whole"
    return lines[0]


# --- the fuzzers' reproducers ----------------------------------------------------------------

#: file -> (command, words the error line must contain; None: the file is valid and reads).
REPRODUCERS = {
    "repro_redos_notes_digits.notes": (["timeline", "show"], ["line 1", "40001 characters"]),
    "repro_redos_json_channel.json": (["timeline", "show"], ["events[0].channel"]),
    "repro_redos_eaf_tier.eaf": (["timeline", "show"], None),
    "repro_redos_csv_header.csv": (["timeline", "show"], ["line 1, column 2"]),
    "repro_redos_rig_key.json": (["rig", "show"], ["action_units.", "is not an AU channel"]),
    "repro_digits.json": (["timeline", "show"], ["line 1 column 42", "5000 characters"]),
    "repro_digits_rig.json": (["rig", "show"], ["line 1, column 10", "5000 characters"]),
    "repro_digits.notes": (["timeline", "show"], ["line 1", "unknown action unit", "5000 digits"]),
    "repro_digits.eaf": (["timeline", "show"], ["tier 'FACS'", "5000 digits"]),
    "repro_overflow_timecode.notes": (["timeline", "show"], ["line 2", "beyond the range"]),
    "repro_overflow_time.eaf": (["timeline", "show"], ["time slot 'ts3'", "400 digits"]),
    "repro_digits_time.eaf": (["timeline", "show"], ["TIME_VALUE of more than 4300 digits"]),
    "repro_recursion_metadata.eaf": (["timeline", "show"], ["facs_rig.metadata", "nested deeper"]),
    "repro_recursion_rig_metadata.json": (["rig", "show"], ["nested deeper than"]),
    "repro_keyerror_dangling_ref.eaf": (["timeline", "show"], ["annotation 'r1'", "'a999'"]),
    "repro_csv_time_1e308.csv": (["timeline", "show"], None),
}


def repro(name: str) -> Path:
    path = REPROS / name
    if not path.is_file():
        pytest.skip(f"{path} is not present (../shared/fuzz-repros is not beside the repository)")
    return path


@pytest.mark.parametrize("name", sorted(REPRODUCERS))
def test_reproducer_gives_one_error_line_or_reads(name, capsys):
    path = repro(name)
    command, words = REPRODUCERS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from numpy on the way
        if words is None:
            assert main([*command, str(path)]) == 0
            return
        line = one_error_line(capsys, [*command, str(path)])
    assert str(path) in line
    for word in words:
        assert word in line, (word, line)


def test_rig_key_reproducer_report_stays_short(capsys):
    path = repro("repro_redos_rig_key.json")
    assert main(["rig", "validate", str(path)]) == 1
    report = capsys.readouterr().out
    assert "is not an AU channel" in report and "(150005 characters)" in report
    assert len(report) < 1000  # the 150 KB key was printed whole, twice


def test_channel_list_reproducer_of_spaces(capsys, tmp_path):
    channels = "L" + " " * 30_000 + "x"
    line = one_error_line(capsys, ["timeline", "sample", "happiness", "--channels", channels,
                                   "-o", str(tmp_path / "x.csv")])
    assert "(30002 characters) is not an AU channel" in line
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize("command", [["parse"], ["mix", "--rig", "arkit"]])
def test_code_with_an_au_number_of_5000_digits(capsys, command):
    line = one_error_line(capsys, [command[0], "1" + "0" * 5000, *command[1:]])
    assert "unknown action unit 10000000000000000000... (5001 digits)" in line


# --- huge integers ---------------------------------------------------------------------------

def test_au_number_beyond_int_conversion_limit_is_a_code_error(vocabulary):
    with pytest.raises(CodeParseError, match=r"unknown action unit 9{20}\.\.\. \(4400 digits\)"):
        vocabulary.parse("1+" + "9" * 4400 + "C")
    # Leading zeros do not count: AU 12 with 5,000 zeros in front is AU12.
    assert str(vocabulary.parse("AU" + "0" * 5000 + "12D")) == "12D"


def test_json_numbers_are_bounded_in_digits():
    with pytest.raises(json.JSONDecodeError, match="a number of 4301 characters") as caught:
        bounded_json.loads('{\n  "fps": ' + "9" * 4301 + "}")
    assert (caught.value.lineno, caught.value.colno) == (2, 10)
    with pytest.raises(json.JSONDecodeError, match="a number of 2003 characters"):
        bounded_json.loads("[0." + "1" * 2001 + "]")
    # Integers beyond float range but within the bound still read, so readers name the field.
    assert bounded_json.loads("[" + "9" * 400 + "]") == [int("9" * 400)]


def test_timeline_and_rig_json_with_a_number_of_4301_digits(tmp_path, vocabulary):
    text = '{"schema": "facs_rig.timeline/1", "fps": ' + "3" * 4301 + "}"
    with pytest.raises(TimelineFormatError, match=r"^t\.json: line 1 column 42: .*4301 characters"):
        timeline_from_json(text, vocabulary, source="t.json")
    path = tmp_path / "rig.json"
    path.write_text('{"schema": "facs_rig.rig/1", "range": [0, ' + "1" * 4301 + "]}", encoding="utf-8")
    with pytest.raises(RigError, match="4301 characters"):
        read_rig_json(path)


def test_timecode_at_an_absurd_rate_is_a_value_error():
    with pytest.raises(ValueError, match="beyond the range of a time in seconds"):
        parse_timecode("01:00:00:00", 1e308)
    with pytest.raises(ValueError, match="beyond float range"):
        format_timecode(10.0, 1e308)
    assert parse_timecode("00:00:01:12", 24) == 1.5  # ordinary rates are exact as before


def test_notes_timecode_at_fps_1e308_names_the_line(vocabulary):
    with pytest.raises(TimelineFormatError, match=r"^n, line 3, column 1: timecode"):
        parse_au_notes("fps 1e308\n\n01:00:00:00 12\n", vocabulary, source="n")


# --- ELAN ------------------------------------------------------------------------------------

_EAF = """<?xml version="1.0" encoding="UTF-8"?>
<ANNOTATION_DOCUMENT AUTHOR="" DATE="2024-01-01T00:00:00+00:00" FORMAT="3.0" VERSION="3.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="http://www.mpi.nl/tools/elan/EAFv3.0.xsd">
<HEADER MEDIA_FILE="" TIME_UNITS="milliseconds">{properties}</HEADER>
<TIME_ORDER>
<TIME_SLOT TIME_SLOT_ID="ts1" TIME_VALUE="0"/>
<TIME_SLOT TIME_SLOT_ID="ts2" TIME_VALUE="{end}"/>
</TIME_ORDER>
<TIER LINGUISTIC_TYPE_REF="aligned" TIER_ID="AU12">
<ANNOTATION><ALIGNABLE_ANNOTATION ANNOTATION_ID="a1" TIME_SLOT_REF1="ts1" TIME_SLOT_REF2="ts2"><ANNOTATION_VALUE>C</ANNOTATION_VALUE></ALIGNABLE_ANNOTATION></ANNOTATION>
</TIER>
<TIER LINGUISTIC_TYPE_REF="reference" PARENT_REF="AU12" TIER_ID="notes">
<ANNOTATION><REF_ANNOTATION ANNOTATION_ID="r1" ANNOTATION_REF="{ref1}"><ANNOTATION_VALUE>x</ANNOTATION_VALUE></REF_ANNOTATION></ANNOTATION>
</TIER>
<TIER LINGUISTIC_TYPE_REF="reference" PARENT_REF="notes" TIER_ID="more notes">
<ANNOTATION><REF_ANNOTATION ANNOTATION_ID="r2" ANNOTATION_REF="{ref2}"><ANNOTATION_VALUE>y</ANNOTATION_VALUE></REF_ANNOTATION></ANNOTATION>
</TIER>
<LINGUISTIC_TYPE GRAPHIC_REFERENCES="false" LINGUISTIC_TYPE_ID="aligned" TIME_ALIGNABLE="true"/>
<LINGUISTIC_TYPE CONSTRAINTS="Symbolic_Association" GRAPHIC_REFERENCES="false" LINGUISTIC_TYPE_ID="reference" TIME_ALIGNABLE="false"/>
</ANNOTATION_DOCUMENT>
"""


def eaf_file(tmp_path: Path, *, end: str = "1000", ref1: str = "a1", ref2: str = "r1",
             properties: str = "") -> Path:
    path = tmp_path / "coded.eaf"
    path.write_text(_EAF.format(end=end, ref1=ref1, ref2=ref2, properties=properties),
                    encoding="utf-8")
    return path


def test_eaf_reference_chain_that_resolves_reads(tmp_path, vocabulary):
    timeline = read_eaf(eaf_file(tmp_path), vocabulary)
    assert [(e.channel.name, e.start, e.end) for e in timeline.events] == [("AU12", 0.0, 1.0)]


@pytest.mark.parametrize(("ref1", "ref2", "message"), [
    ("a999", "r1", r"tier 'notes', annotation 'r1': ANNOTATION_REF 'a999' names no annotation"),
    ("a1", "a999", r"tier 'more notes', annotation 'r2': ANNOTATION_REF 'a999' names no"),
    ("r2", "r1", r"tier 'notes', annotation 'r1': the references form a cycle"),
    ("r1", "r1", r"tier 'notes', annotation 'r1': the references form a cycle"),
])
def test_eaf_dangling_or_cyclic_reference_names_tier_annotation_and_ref(tmp_path, vocabulary,
                                                                        ref1, ref2, message):
    path = eaf_file(tmp_path, ref1=ref1, ref2=ref2)
    with pytest.raises(TimelineFormatError, match=f"^{path}: {message}"):
        read_eaf(path, vocabulary)  # before: KeyError, and an endless loop for the cycle


@pytest.mark.parametrize("end", ["9" * 400, "-" + "9" * 400, str(2**53 + 1)])
def test_eaf_time_value_beyond_exact_milliseconds(tmp_path, vocabulary, end):
    path = eaf_file(tmp_path, end=end)
    with pytest.raises(TimelineFormatError, match=f"^{path}: time slot 'ts2': TIME_VALUE .* ms is beyond"):
        read_eaf(path, vocabulary)


def test_eaf_time_value_beyond_int_conversion_limit(tmp_path, vocabulary):
    path = eaf_file(tmp_path, end="9" * 5000)
    with pytest.raises(TimelineFormatError, match="a TIME_VALUE of more than 4300 digits"):
        read_eaf(path, vocabulary)


def test_eaf_metadata_nested_5000_deep(tmp_path, vocabulary):
    deep = "[" * 5000 + "]" * 5000
    path = eaf_file(tmp_path, properties=f'<PROPERTY NAME="facs_rig.metadata">{deep}</PROPERTY>')
    with pytest.raises(TimelineFormatError, match="facs_rig.metadata: .*nested deeper than 100"):
        read_eaf(path, vocabulary)


# --- deep nesting ----------------------------------------------------------------------------

def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"a": [value]}
    return value


def test_json_nesting_is_bounded_without_recursion():
    with pytest.raises(json.JSONDecodeError, match="nested deeper than 100 levels") as caught:
        bounded_json.loads('{"metadata": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert caught.value.colno == 113
    # Brackets inside strings, escaped quotes included, are text, not nesting.
    assert bounded_json.loads(json.dumps({"note": '\\"' + "[" * 500})) == {"note": '\\"' + "[" * 500}


def test_rig_nested_800_deep_is_a_validation_issue(vocabulary):
    profile = load_rig("arkit").to_dict()
    profile["metadata"]["deep"] = _nested(400)  # 800 levels of objects and lists
    issues = validate_rig(profile, vocabulary=vocabulary)
    assert len(issues) == 1 and "nested deeper than 32 levels" in issues[0].message
    assert issues[0].path.startswith("metadata.deep.a[0].a[0]")
    with pytest.raises(RigValidationError, match="nested deeper than 32"):
        rig_from_dict(profile, vocabulary=vocabulary)  # before: RecursionError


def test_rig_file_nested_800_deep_names_the_file(tmp_path):
    profile = load_rig("arkit").to_dict()
    profile["metadata"]["deep"] = _nested(400)
    path = tmp_path / "deep.json"
    path.write_text(json.dumps(profile), encoding="utf-8")
    with pytest.raises(RigError, match=f"^{path}: line 1, column \\d+: .*nested deeper than 100"):
        load_rig(str(path))
    with pytest.raises(RigError, match="nested deeper"):
        check_rig_file(path)


# --- linear parsing of names, tokens and headers -----------------------------------------------
# Each input below took the old patterns seconds to minutes (quadratic or cubic backtracking
# over spaces or digits); linear parsing takes milliseconds. 60,000 characters keeps it so.

PAD = " " * 60_000


def test_padded_channel_names_are_refused_linearly():
    assert parse_channel("L" + PAD + "x") is None
    assert read_channel_name("L" + PAD + "x") is None
    assert str(read_channel_name(PAD + "12" + PAD)) == "AU12"  # spaces around are stripped
    assert read_channel_name("L" + " " * 40 + "12") is None  # longer than any channel name
    assert channel_of_tier("L" + PAD + "AU" + PAD + "x") is None
    # Ordinary spellings still read (surrounding spaces are stripped).
    assert [str(read_channel_name(text)) for text in (" AU12_L ", "au 012 r", "L12", "R 12")] == [
        "AU12_L", "AU12_R", "AU12_L", "AU12_R"]
    assert [str(channel_of_tier(text)) for text in ("AU12", " L12 ", "AU12 R #2", "AU 6")] == [
        "AU12", "AU12_L", "AU12_R", "AU06"]


def test_channel_list_of_spaces(vocabulary):
    with pytest.raises(TimelineError, match=r"\(60002 characters\) is not an AU channel"):
        parse_channel_list("L" + PAD + "x", vocabulary)


def test_timeline_json_channel_padded_with_spaces(vocabulary):
    text = json.dumps({"schema": "facs_rig.timeline/1",
                       "events": [{"channel": "L" + PAD + "x", "start": 0}]})
    with pytest.raises(TimelineFormatError, match=r"events\[0\]\.channel: .*60002 characters"):
        timeline_from_json(text, vocabulary, source="t")


def test_notes_time_of_long_digits(vocabulary):
    digits = "9" * 60_000
    with pytest.raises(TimelineFormatError, match=r"line 1, column 1: time '9+'\.\.\. \(60001 char"):
        parse_au_notes(digits + "x 12\n", vocabulary, source="n")
    with pytest.raises(TimelineFormatError, match="onset '9+'... .60001 characters. is not"):
        parse_au_notes("0 12 onset " + digits + "q\n", vocabulary, source="n")
    with pytest.raises(TimelineFormatError, match="is not finite"):
        parse_au_notes(digits + " 12\n", vocabulary, source="n")


def test_eaf_tier_name_of_spaces_is_ignored(tmp_path, vocabulary):
    text = _EAF.format(end="1000", ref1="a1", ref2="r1", properties="")
    text = text.replace('PARENT_REF="notes" TIER_ID="more notes"', f'TIER_ID="L{PAD}x"')
    path = tmp_path / "spaces.eaf"
    path.write_text(text, encoding="utf-8")
    timeline = read_eaf(path, vocabulary)
    assert [event.channel.name for event in timeline.events] == ["AU12"]
    assert list(timeline.metadata["ignored_tiers"]) == ["notes", "L" + PAD + "x"]


def test_eaf_value_of_spaces(tmp_path, vocabulary):
    text = _EAF.format(end="1000", ref1="a1", ref2="r1", properties="")
    text = text.replace("<ANNOTATION_VALUE>C<", f"<ANNOTATION_VALUE>L{PAD}x<")
    path = tmp_path / "spaces.eaf"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TimelineFormatError, match=r"tier 'AU12'.*value 'L +'\.\.\. \(60002 char.*is not an"):
        read_eaf(path, vocabulary)


def test_curves_csv_header_of_spaces(tmp_path, vocabulary):
    path = tmp_path / "spaces.csv"
    path.write_text("time,L" + PAD + "x\n0,0\n", encoding="utf-8")
    with pytest.raises(TimelineFormatError, match=r"line 1, column 2: 'L +'\.\.\. \(60002 char"):
        read_timeline(path, vocabulary)


def test_rig_au_key_of_spaces(vocabulary):
    profile = load_rig("arkit").to_dict()
    profile["action_units"][PAD + "x"] = profile["action_units"].pop("AU12")
    issues = validate_rig(profile, vocabulary=vocabulary)
    assert [issue.message[-40:] for issue in issues] == ["ers) is not an AU channel such as 'AU12'"]
    assert len(str(issues[0])) < 250


# --- curves CSV ------------------------------------------------------------------------------

def test_curves_csv_time_near_float_max_reads_without_warnings(tmp_path, vocabulary):
    path = tmp_path / "far.csv"
    path.write_text("time,AU12\n0,0\n1,0.5\n1e308,0.2\n", encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # before: RuntimeWarning, then an error without the file
        timeline = read_timeline(path, vocabulary)
    (event,) = timeline.events
    assert (event.start, event.apex_start, event.end) == (0.0, 1.0, 1e308)


# --- memory: sampling is written in blocks ----------------------------------------------------

def _busy_timeline(vocabulary, *, seconds: float, fps: float):
    from facs_rig.core.timeline import Timeline

    timeline = Timeline(fps=fps)
    for index, code in enumerate(["1+2+5B", "6+12D", "L12A+R14B", "4C+7B", "happiness", "25+26"]):
        timeline = timeline.add_code(code, vocabulary, at=index * seconds / 7, onset=seconds / 20,
                                     apex=seconds / 10, offset=seconds / 9)
    return timeline.with_events(timeline.events, duration=seconds)


@pytest.mark.parametrize("suffix", [".csv", ".json"])
@pytest.mark.parametrize("block", [1, 7, 1000, 1 << 20])
def test_sampled_output_in_blocks_is_byte_identical(tmp_path, vocabulary, suffix, block):
    from facs_rig.core.timeline import sample
    from facs_rig.io.curves_csv import write_curves, write_sampled

    timeline = _busy_timeline(vocabulary, seconds=3.0, fps=30)
    whole, blocks = tmp_path / f"whole{suffix}", tmp_path / f"blocks{suffix}"
    write_curves(sample(timeline), whole)
    n_frames, channels, fps = write_sampled(timeline, blocks, values_per_block=block)
    assert blocks.read_bytes() == whole.read_bytes()
    assert (n_frames, len(channels), fps) == (91, 11, 30.0)


def test_sampling_memory_is_bounded_by_the_block_not_the_length(tmp_path, vocabulary):
    import tracemalloc

    from facs_rig.io.curves_csv import write_sampled

    timeline = _busy_timeline(vocabulary, seconds=200.0, fps=100)  # 20,001 frames x 11 channels
    out = tmp_path / "long.csv"
    tracemalloc.start()
    try:
        n_frames, channels, _ = write_sampled(timeline, out, values_per_block=1 << 12)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (n_frames, len(channels)) == (20_001, 11)
    # Sampled whole, then written, the peak was 8.4 MB for this 1 MB file (the grid, its text
    # cells and lines); in blocks of 4,096 values it is about 0.3 MB whatever the length.
    assert out.stat().st_size > 1_000_000
    assert peak < 1_000_000, peak


def test_long_timeline_reproducer_samples_in_bounded_blocks(vocabulary):
    import itertools
    import tracemalloc

    from facs_rig.core.timeline import VALUES_PER_BLOCK, sample_blocks
    from facs_rig.io.timeline_json import timeline_from_json

    path = repro("repro_mem_sample_2kb.json")
    # The file holds 26 and 27, and 5 and 43, on together for the whole 19,890 s: FACS scores
    # neither pair at one moment, and the reader now refuses it before anything is sampled.
    with pytest.raises(TimelineFormatError, match=r"events\[16\] \(26 at 0-19890 s\) and "
                                                  r"events\[17\] \(27 at 0-19890 s\) overlap"):
        read_timeline(path, vocabulary)
    # The same 20 channels with two others in their place still make the memory reproducer.
    text = path.read_text(encoding="utf-8").replace('"AU27"', '"AU16"').replace('"AU43"', '"AU18"')
    timeline = timeline_from_json(text, vocabulary, source=str(path))
    tracemalloc.start()
    try:
        blocks = list(itertools.islice(sample_blocks(timeline), 3))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 19,890 s at 1,000 fps x 20 channels: 3.8 GB as text, taken 52,428 frames at a time.
    assert [block.values.shape for block in blocks] == [(VALUES_PER_BLOCK // 20, 20)] * 3
    assert blocks[1].times[0] == VALUES_PER_BLOCK // 20 / 1000
    assert float(blocks[2].values[-1, 0]) == 0.5
    assert peak < 200_000_000, peak


def test_target_names_with_5000_digits_normalise(vocabulary):
    from facs_rig.core.naming import normalize_target_name

    assert normalize_target_name("shape" + "0" * 5000 + "7_L") == "shape7_left"
    assert normalize_target_name("9" * 5000) == "9" * 5000  # before: ValueError from int()
    profile = load_rig("vrm").to_dict()
    profile["targets"].append("1" * 5000)
    assert validate_rig(profile, vocabulary=vocabulary) == []


def test_rig_issues_quote_huge_values_cut(vocabulary):
    profile = load_rig("vrm").to_dict()
    profile["schema"] = "facs_rig.rig/" + "9" * 5000  # before: ValueError from int()
    profile["range"] = [0, 10**5000]  # before: ValueError from repr() in the message
    issues = [str(issue) for issue in validate_rig(profile, vocabulary=vocabulary)]
    assert issues == [
        "schema: expected 'facs_rig.rig/1', got 'facs_rig.rig/" + "9" * 47 + "'... (5013 characters)",
        "range: expected [low, high] with low < high, got a number of over 4300 digits"]


def test_rig_and_timeline_messages_quote_long_values_alike(vocabulary):
    """One quoting for every error message (core/rig.py had a twin of timeline_json's, with
    another format): text is repr'd then cut at 60 characters with its full length said."""
    from facs_rig.errors import cut, quoted, shown

    long_name = "x" * 100
    assert quoted(long_name) == repr("x" * 60) + "... (100 characters)" == shown(long_name)
    assert shown(list(range(40))) == repr(list(range(40)))[:60] + "... (150 characters)"
    assert quoted("ok") == "'ok'" and cut("ok") == "ok" and shown(10 ** 5000).startswith("a number")
    profile = load_rig("vrm").to_dict()
    profile["targets"] = list(profile["targets"]) + [long_name]
    profile["combine"] = {long_name + "y": "max"}
    issues = [str(issue) for issue in validate_rig(profile, vocabulary=vocabulary)]
    assert f"combine.{cut(long_name + 'y')}: {quoted(long_name + 'y')} is not a target of this rig" \
        in issues


def test_timeline_json_messages_quote_values_cut(vocabulary):
    base = {"schema": "facs_rig.timeline/1"}
    cases = [({**base, "fps": True}, "$.fps: expected a number, got true"),  # JSON's spelling
             ({**base, "fps": ["x"] * 5000}, "$.fps: expected a number, got ['x', 'x'"),
             ({**base, "k" * 5000: 1}, "$: unknown key 'kkkk"),
             ({**base, "beats": [{"at": 0, "code": 7 * [None] * 900}]}, "beats[0].code: expected")]
    for data, start in cases:
        with pytest.raises(TimelineFormatError) as caught:
            timeline_from_json(json.dumps(data), vocabulary, source="t")
        message = str(caught.value)
        assert message.startswith("t: " + start), message
        assert len(message) < 250, message


def _depth_oracle(text: str, limit: int) -> int | None:
    """Character by character, the rule _too_deep_at vectorises: a quote after an odd run of
    backslashes is escaped, other quotes open or close a string, brackets outside strings nest.
    On valid JSON this is JSON's own reading (backslashes occur only inside strings)."""
    depth, in_string, escaped = 0, False, False
    for index, char in enumerate(text):
        was_escaped, escaped = escaped, char == "\\" and not escaped
        if char == '"' and not was_escaped:
            in_string = not in_string
        elif not in_string and char in "[{":
            depth += 1
            if depth > limit:
                return index
        elif not in_string and char in "]}":
            depth -= 1
    return None


def test_json_depth_scan_agrees_with_a_character_by_character_reading():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from facs_rig.io.bounded_json import _too_deep_at

    @settings(max_examples=300, deadline=None, derandomize=True, database=None)
    @given(st.text(alphabet='[]{}"\\\\aé,', max_size=60), st.integers(0, 6))
    def agree(text, limit):
        assert _too_deep_at(text, limit) == _depth_oracle(text, limit)

    agree()
