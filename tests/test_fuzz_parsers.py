"""Bounded fuzzing of every text parser with mutated real files: only FacsRigError escapes.

Each parser gets a real input (an example timeline in each format, a bundled rig profile, codes
from the docs) mutated by hypothesis: spans deleted, duplicated or replaced, and tokens inserted
from the classes the fuzzers found (digit runs past Python's 4,300-digit limit, runs of spaces,
deep brackets, float extremes, stray separators). Time and memory are bounded by construction:
a fixed number of derandomized examples and inputs of at most a few tens of kilobytes. A numpy
RuntimeWarning counts as an escape too.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facs_rig import load_vocabulary
from facs_rig.core.timecode import parse_timecode
from facs_rig.core.timeline import sample
from facs_rig.errors import FacsRigError
from facs_rig.io.au_notes import parse_au_notes
from facs_rig.io.curves_csv import curves_from_csv_text, curves_to_csv_text
from facs_rig.io.eaf import eaf_to_string, read_eaf
from facs_rig.io.rig_files import load_rig
from facs_rig.io.timeline_files import read_timeline
from facs_rig.io.timeline_json import parse_channel_list, timeline_from_json, timeline_to_json

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
VOCABULARY = load_vocabulary()
EXAMPLE = read_timeline(EXAMPLES / "surprise_then_smile.json", VOCABULARY)
# The director's words too (expression names, comment lines, comments on beat lines): the
# fields and tiers that carry them are fuzzed with the rest.
WORDED = read_timeline(EXAMPLES / "suspicion_beat.notes", VOCABULARY)

#: Tokens of the defect classes fuzzing found, plus ordinary separators and syntax.
HOSTILE = [
    "9" * 4400, "1" + "0" * 400, "0" * 500, " " * 3000, "\t" * 200, "[" * 2000, "{" * 2000,
    '{"a": ' * 300, "1e308", "-1e308", "1e-400", "NaN", "Infinity", "inf", "-0", "1" * 40,
    "\\", '"', ",", ";", "\n", "\r\n", "#", "+", "AU", "L", "R", "12", "C", ":", "::", "00:00:01:00",
    "\x00", "é", "\ufeff", "<", ">", "&", "]]>", 'TIME_VALUE="', 'ANNOTATION_REF="', "f", "s",
]

_MUTATION = st.tuples(
    st.floats(0, 1),  # where, as a fraction of the text
    st.sampled_from(["insert", "replace", "delete", "duplicate"]),
    st.integers(0, 64),  # span length
    st.one_of(st.sampled_from(HOSTILE), st.text(max_size=8)),
)


def mutate(seed: str, mutations: list[tuple[float, str, int, str]]) -> str:
    text = seed
    for where, kind, length, token in mutations:
        position = int(where * len(text))
        span = text[position:position + length]
        if kind == "insert":
            text = text[:position] + token + text[position:]
        elif kind == "replace":
            text = text[:position] + token + text[position + length:]
        elif kind == "delete":
            text = text[:position] + text[position + length:]
        else:
            text = text[:position] + span * 50 + text[position:]
    return text


MUTATIONS = st.lists(_MUTATION, min_size=1, max_size=4)
FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def only_facs_rig_errors(parse, text):
    """Run ``parse(text)``: it returns, or raises a FacsRigError (RuntimeWarnings are escapes)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        try:
            return parse(text)
        except FacsRigError:
            return None


def test_fuzz_codes():
    seed = "1+2+5B+26 + R12A+L14 + AU6C + happiness + surprise+25 + 0"

    @FUZZ
    @given(MUTATIONS)
    def run(mutations):
        only_facs_rig_errors(VOCABULARY.parse, mutate(seed, mutations))

    run()


def test_fuzz_timecodes():
    # A pure core function: its documented error is ValueError, which readers wrap with the file.
    @FUZZ
    @given(MUTATIONS, st.sampled_from([24.0, 29.97, 30.0, 1e-300, 1e9, 1e308, 1.7976931348623157e308]))
    def run(mutations, fps):
        try:
            seconds = parse_timecode(mutate("01:02:03:04", mutations), fps)
        except ValueError:
            return
        assert seconds >= 0

    run()


def test_fuzz_channel_lists():
    @FUZZ
    @given(MUTATIONS)
    def run(mutations):
        only_facs_rig_errors(lambda text: parse_channel_list(text, VOCABULARY),
                             mutate("AU01, AU12_L,R12, au6, L 14", mutations))

    run()


def test_fuzz_timeline_json():
    seeds = [timeline_to_json(EXAMPLE), timeline_to_json(WORDED)]
    assert '"note": "' in seeds[1] and '"expression": "happiness"' in seeds[1]

    @FUZZ
    @given(MUTATIONS, st.sampled_from(seeds))
    def run(mutations, seed):
        only_facs_rig_errors(lambda text: timeline_from_json(text, VOCABULARY, source="t.json"),
                             mutate(seed, mutations))

    run()


def test_fuzz_au_notes():
    seed = (EXAMPLES / "suspicion_beat.notes").read_text(encoding="utf-8")

    @FUZZ
    @given(MUTATIONS)
    def run(mutations):
        only_facs_rig_errors(lambda text: parse_au_notes(text, VOCABULARY, source="t.notes"),
                             mutate(seed, mutations))

    run()


def test_fuzz_au_notes_without_fps():
    """The example without its fps line: its timecodes are refused (they need a rate), and
    mutations of it (a timecode moved into start, duration or an absolute phase time, an fps
    line typed back) raise nothing but a FacsRigError."""
    seed = (EXAMPLES / "suspicion_beat.notes").read_text(encoding="utf-8").replace("fps 24\n", "")
    with pytest.raises(FacsRigError, match="add an 'fps N' line"):
        parse_au_notes(seed, VOCABULARY, source="t.notes")

    @FUZZ
    @given(MUTATIONS)
    def run(mutations):
        only_facs_rig_errors(lambda text: parse_au_notes(text, VOCABULARY, source="t.notes"),
                             mutate(seed, mutations))

    run()


def test_fuzz_curves_csv():
    seed = curves_to_csv_text(sample(EXAMPLE, fps=10))

    @FUZZ
    @given(MUTATIONS)
    def run(mutations):
        text = mutate(seed, mutations)
        only_facs_rig_errors(lambda text: curves_from_csv_text(text, source="t.csv"), text)
        # As a timeline, with each column's channel checked against the vocabulary.
        only_facs_rig_errors(lambda text: curves_from_csv_text(text, source="t.csv",
                                                               vocabulary=VOCABULARY), text)

    run()


def test_fuzz_elan(tmp_path):
    # The words once per beat on tiers of their own, and on AU tiers' children (where events
    # starting together have other words, and in files written before).
    apart = parse_au_notes("fps 25\n1  6  # cheeks\n1  L12\n", VOCABULARY)
    seeds = [eaf_to_string(EXAMPLE, VOCABULARY), eaf_to_string(WORDED, VOCABULARY),
             eaf_to_string(apart, VOCABULARY)]
    assert 'TIER_ID="expression"' in seeds[1] and 'TIER_ID="comment"' in seeds[1]
    assert 'TIER_ID="AU06 comment"' in seeds[2]
    path = tmp_path / "t.eaf"

    def parse(text):
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        return read_eaf(path, VOCABULARY)

    @FUZZ
    @given(MUTATIONS, st.sampled_from(seeds))
    def run(mutations, seed):
        only_facs_rig_errors(parse, mutate(seed, mutations))

    run()


#: Events that meet or nearly overlap under FACS's rules for one code (51 then 52 within one
#: frame, a closed left eye beside a right blink, a speech mark after a jaw drop): the seed the
#: readers' overlap sweep is fuzzed from, each mutation moving a time or a code across a rule.
RULED_NOTES = ("fps 30\n0  51  apex 0.2\n1  52  apex 0.1\n1.5  L43E+R45  apex 0.1\n"
               "3  26  apex 0.2\n3.967  27  apex 0.2\n4.967  50  apex 0.2\n6  70  apex 0.2\n"
               "7  4+L46\n")


def test_fuzz_coded_overlaps(tmp_path):
    seed_timeline = parse_au_notes(RULED_NOTES, VOCABULARY)
    seeds = {"notes": RULED_NOTES, "json": timeline_to_json(seed_timeline),
             "eaf": eaf_to_string(seed_timeline, VOCABULARY)}
    readers = {"notes": lambda text: parse_au_notes(text, VOCABULARY, source="t.notes"),
               "json": lambda text: timeline_from_json(text, VOCABULARY, source="t.json"),
               "eaf": lambda text: read_eaf(written(text), VOCABULARY)}
    path = tmp_path / "t.eaf"

    def written(text):
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        return path

    assert len(readers["eaf"](seeds["eaf"]).events) == len(seed_timeline.events)

    @FUZZ
    @given(st.sampled_from(["notes", "json", "eaf"]), MUTATIONS)
    def run(kind, mutations):
        only_facs_rig_errors(readers[kind], mutate(seeds[kind], mutations))

    run()


@pytest.mark.parametrize("name", ["vrm", "arkit"])
def test_fuzz_rig_profiles(tmp_path, name):
    seed = (REPO / "rigs" / f"{name}.json").read_text(encoding="utf-8")
    path = tmp_path / "profile.json"

    def parse(text):
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        return load_rig(str(path))

    @FUZZ
    @given(MUTATIONS)
    def run(mutations):
        only_facs_rig_errors(parse, mutate(seed, mutations))

    run()
