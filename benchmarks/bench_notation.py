"""Benchmarks of the FACS vocabulary: parsing code strings."""

from __future__ import annotations

from run import Benchmark, best_of

from facs_rig import load_vocabulary


def benchmarks(quick: bool) -> list[Benchmark]:
    vocabulary = load_vocabulary()
    codes = ["1+2+5B+26", "AU6C+AU12D", "R12A+R14A", "surprise+25", "1+2+4+5+7+20+26"] * 200

    def parse_all() -> None:
        for code in codes:
            vocabulary.parse(code)

    def measure() -> float:
        return best_of(parse_all, repeat=1 if quick else 5) / len(codes) * 1e6

    return [Benchmark("parse one FACS code string", "µs", 50.0, "lower", measure)]
