"""Benchmarks of hostile input: how long each parser takes to refuse an input of a slow class.

Inputs of the size of ``../shared/fuzz-repros`` (issue 11, point 13), generated here so the
benchmark runs without that folder. Before the fixes each took 10 s to over a minute (quadratic
or cubic regular expressions); the target is a fraction of a second.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from run import Benchmark, best_of

from facs_rig import load_vocabulary
from facs_rig.core.channels import Channel
from facs_rig.core.timeline import AUEvent, Timeline
from facs_rig.errors import FacsRigError
from facs_rig.io.au_notes import parse_au_notes
from facs_rig.io.curves_csv import curves_from_csv_text, write_sampled
from facs_rig.io.eaf import read_eaf, write_eaf
from facs_rig.io.rig_files import load_rig
from facs_rig.io.timeline_json import parse_channel_list, timeline_from_json


def _refusal(parse, text: str):
    def run() -> None:
        try:
            parse(text)
        except FacsRigError:
            return
        raise AssertionError("the hostile input was accepted")
    return run


def benchmarks(quick: bool) -> list[Benchmark]:
    vocabulary = load_vocabulary()
    repeat = 1 if quick else 3
    spaces = " " * 30_000
    profile = load_rig("vrm").to_dict()
    profile["action_units"][" " * 150_000 + "x"] = profile["action_units"].pop("AU12")
    from facs_rig.core.rig import rig_from_dict
    cases = {
        "AU notes time token of 40,000 digits": (
            lambda text: parse_au_notes(text, vocabulary), "9" * 40_000 + "x 12\n"),
        "timeline JSON channel padded with 2,000 spaces": (
            lambda text: timeline_from_json(text, vocabulary),
            json.dumps({"schema": "facs_rig.timeline/1",
                        "events": [{"channel": " " * 2000 + "L x", "start": 0}]})),
        "curves CSV header of 30,000 spaces": (curves_from_csv_text, f"time,L{spaces}x\n0,0\n"),
        "channel list 'L' + 30,000 spaces + 'x'": (
            lambda text: parse_channel_list(text, vocabulary), f"L{spaces}x"),
        "rig profile AU key of 150,000 spaces": (
            lambda data: rig_from_dict(data, vocabulary=vocabulary), profile),
        "code with an AU number of 5,000 digits": (vocabulary.parse, "1" + "0" * 5000),
    }
    results = [Benchmark(f"refuse: {name}", "s", 0.5, "lower",
                         lambda run=_refusal(*case): best_of(run, repeat=repeat))  # noqa: B008 (bound per case)
               for name, case in cases.items()]

    folder = Path(tempfile.mkdtemp(prefix="facs-rig-bench-"))
    n_events = 1000 if quick else 4000
    coded = Timeline(tuple(AUEvent(Channel(12), 0.5, i * 2.0, 0.3, 0.5, 0.4, ease_in="linear")
                           for i in range(n_events)), None, 30.0, {})
    write_eaf(coded, folder / "coded.eaf", vocabulary)
    results.append(Benchmark(f"read an ELAN file of {n_events} coded events with phases", "s",
                             3.0, "lower",
                             lambda: best_of(lambda: read_eaf(folder / "coded.eaf", vocabulary),
                                             repeat=repeat)))

    # 20 channels held for 10 minutes at 100 fps: 1.2M values, written in bounded blocks.
    held = Timeline(tuple(AUEvent(Channel(au), 0.5, 0.0, 1.0, 598.0, 1.0)
                          for au in (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 24, 25,
                                     26, 27, 28, 43)), 600.0, 100.0, {})

    def write_rate() -> float:
        seconds = best_of(lambda: write_sampled(held, folder / "held.csv"), repeat=repeat)
        return (folder / "held.csv").stat().st_size / seconds / 1e6

    results.append(Benchmark("timeline sample: CSV written in blocks (20 channels)", "MB/s",
                             5.0, "higher", write_rate))
    return results
