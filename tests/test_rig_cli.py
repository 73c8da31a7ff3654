"""The rig and mixing commands: rigs, mix, explain, rig show, rig validate."""

from __future__ import annotations

import json

import pytest
from conftest import REPO

from facs_rig.cli import main
from facs_rig.io.rig_files import load_rig


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_rigs_lists_the_bundled_profiles(capsys):
    status, out, _ = run(capsys, "rigs")
    assert status == 0
    for name in ("arkit", "metahuman", "facs", "unified", "vrm"):
        assert f"\n{name} " in out
    status, out, _ = run(capsys, "rigs", "--json")
    rows = json.loads(out)
    assert {r["name"]: r["targets"] for r in rows}["arkit"] == 52


def test_rig_list_prints_what_rigs_prints(capsys):
    """`rig list` (beside `rig show`) was refused as an invalid choice."""
    for options in ((), ("--json",)):
        listed = run(capsys, "rig", "list", *options)
        assert listed[0] == 0 and listed[1].startswith("[" if options else "rig        targets")
        assert listed == run(capsys, "rigs", *options)


def test_mix_json_is_one_object_with_every_target(capsys):
    status, out, err = run(capsys, "mix", "R12A+R14A+11", "--rig", "arkit", "--json")
    assert status == 0
    weights = json.loads(out)
    assert list(weights) == list(load_rig("arkit").targets)
    assert weights["mouthSmileRight"] == pytest.approx(0.1)
    assert weights["mouthSmileLeft"] == 0.0
    assert "arkit cannot show: AU11" in err


def test_mix_text_lists_non_zero_targets_and_unshown_aus(capsys):
    status, out, _ = run(capsys, "mix", "25+27", "--rig", "arkit")
    assert status == 0
    assert out.startswith("25+27 on arkit\n")
    assert "jawOpen" in out and "0.550" in out and "mouthSmileLeft" not in out
    _, out, _ = run(capsys, "mix", "11", "--rig", "arkit")
    assert "(every target is 0)" in out and "arkit cannot show: AU11 (ARKit has no nasolabial" in out


def test_mix_takes_a_profile_file(capsys, tmp_path):
    path = tmp_path / "mine.json"
    path.write_text((REPO / "rigs" / "vrm.json").read_text(encoding="utf-8"), encoding="utf-8")
    status, out, _ = run(capsys, "mix", "happiness", "--rig", str(path), "--json")
    assert status == 0 and json.loads(out)["happy"] == pytest.approx(0.55, abs=1e-4)


def test_explain_shows_contributions_modes_and_rules(capsys):
    # 26+27 and 5E+43C are FACS alternatives, refused in one code; 25 with 27 shows the chain
    # (the suppression of 5 by closed lids: tests/test_mixing.py, on a capture's channels).
    status, out, _ = run(capsys, "explain", "25+27", "--rig", "arkit")
    assert status == 0
    assert "jawOpen = 0.550   (combine: soft)" in out
    # 25 is scored with 27 (FACS 2002): its jaw contribution is contained, not "dropped".
    assert "AU25               0.550 x 0.2 = 0.110   within the chain's largest (not added)" in out
    assert ("exclusive: chain 25 < 26 < 27 (their movements do not add): jawOpen takes the "
            "largest, AU27's 0.55, which contains AU25's 0.11") in out
    assert "dropped" not in out
    status, out, _ = run(capsys, "explain", "6E+12C+13", "--rig", "facs", "--json")
    data = json.loads(out)
    corrective = next(t for t in data["targets"] if t["target"] == "AU06_AU12_L")
    assert corrective["rules"][0]["rule"] == "corrective" and corrective["value"] == 0.55
    assert data["code"] == "6E+12C+13" and data["unshown"] == []


def test_rig_show_lists_what_the_rig_cannot_show(capsys):
    status, out, _ = run(capsys, "rig", "show", "arkit")
    assert status == 0
    assert "AUs arkit cannot show" in out
    assert "AU11" in out and "Nasolabial Deepener" in out
    assert "targets no AU drives: mouthRight, mouthLeft" in out
    status, out, _ = run(capsys, "rig", "show", "metahuman", "--json")
    info = json.loads(out)
    shown = {entry["au"] for entry in info["action_units"]}
    assert {"AU11", "AU13", "AU23", "AU35", "AU38", "AU39"} <= shown


def test_rig_validate_lists_every_problem_and_exits_1(capsys, tmp_path):
    data = json.loads((REPO / "rigs" / "arkit.json").read_text(encoding="utf-8"))
    data["action_units"]["AU12"][1]["target"] = "mouthSmileLft"
    data["rules"][0]["chain"] = ["AU26"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data), encoding="utf-8")
    status, out, _ = run(capsys, "rig", "validate", str(REPO / "rigs" / "facs.json"), str(bad))
    assert status == 1
    assert f"{REPO / 'rigs' / 'facs.json'}: valid" in out
    assert f"{bad}: 2 problem(s)" in out
    assert "  action_units.AU12[1].target: 'mouthSmileLft' is not a target of this rig" in out
    assert "  rules[0].chain: expected a list of at least two ranks" in out


def test_rig_validate_reports_unreadable_files_and_checks_the_rest(capsys, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    status, out, err = run(capsys, "rig", "validate", str(broken), str(REPO / "rigs" / "vrm.json"))
    assert status == 1 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith(f"{broken}: line 1") or lines[0].startswith(f"{broken}: line 2")
    assert "invalid JSON" in lines[0]
    assert lines[1] == f"{REPO / 'rigs' / 'vrm.json'}: valid"


def test_unknown_rig_and_bad_code_are_errors_without_traceback(capsys):
    status, _, err = run(capsys, "mix", "6+12", "--rig", "arkti")
    assert status == 1 and err.startswith("facs-rig: error: unknown rig 'arkti'")
    status, _, err = run(capsys, "explain", "6+99", "--rig", "arkit")
    assert status == 1 and "unknown action unit 99" in err


def test_rig_group_without_subcommand_prints_help(capsys):
    status, _, err = run(capsys, "rig")
    assert status == 2 and "show" in err and "validate" in err


def test_rig_show_lists_aus_a_capture_reads_back_as_another(capsys):
    status, out, _ = run(capsys, "rig", "show", "arkit")
    assert status == 0
    assert "AUs a capture solved through arkit reads back as another (20):" in out
    assert "AU45_L  AU43_L   same targets, same proportions" in out
    assert "AU08    nothing  alone it moves no target (rules)" in out  # mouthClose <= jawOpen
    assert "AU27  0.3 AU20_L + 0.3 AU20_R + 1.429 AU26" in out
    status, out, _ = run(capsys, "rig", "show", "unified", "--json")
    mixes = {f["au"]: {m["au"]: m["times"] for m in f["mix"]}
             for f in json.loads(out)["told_apart_by_prior"]}
    assert mixes == {"AU27": {"AU20_L": 0.3, "AU20_R": 0.3, "AU26": 1.429}}
    assert json.loads(out)["nonlinear_in_solve"] == []
    status, out, _ = run(capsys, "rig", "show", "metahuman")
    # Why 27 round-trips as 20+27 there: below its curve's knee it is that mix.
    assert ("AU27  CTRL_expressions_jawOpenExtreme  0.3 AU20_L + 0.3 AU20_R + 1.429 AU26 "
            "(up to 0.5)") in out
    status, out, _ = run(capsys, "rig", "show", "metahuman", "--json")
    folded = {f["au"]: f["read_as"] for f in json.loads(out)["read_back_as"]}
    assert folded["AU25"] == "AU26"


def test_mix_and_explain_name_a_timeline_given_for_a_code(capsys, tmp_path):
    """'mix take.notes' said "unrecognised term 'take.notes'"; now it says what mix takes and
    where a timeline's weights come from."""
    for command in ("mix", "explain"):
        status, out, err = run(capsys, command, "take.notes", "--rig", "arkit")
        assert (status, out) == (1, "")
        assert err == (f"facs-rig: error: take.notes: {command} takes a FACS code or expression "
                       "name, not a timeline file; a timeline's per-frame weights: facs-rig bake "
                       "take.notes -o weights.csv\n")
    status, _, err = run(capsys, "mix", "6+99")
    assert (status, err) == (1, "facs-rig: error: unknown action unit 99 at column 3 of '6+99'\n")


def test_explain_prints_a_target_and_its_one_term_alike(capsys):
    """`explain happiness` printed `eyeSquintLeft = 0.137` above its one term `... = 0.138`:
    the weight is float32 (0.1374999881), the term float64 (0.1375000030). Both are 0.1375 to
    six decimals, as --json gives them, and now print 0.138; `mix` prints the same."""
    status, out, _ = run(capsys, "explain", "happiness", "--rig", "arkit")
    assert status == 0
    assert out.split("\n\n")[1] == ("eyeSquintLeft = 0.138   (combine: soft)\n"
                                    "  AU06 [L entry]     0.550 x 0.25 = 0.138")
    status, out, _ = run(capsys, "mix", "happiness", "--rig", "arkit")
    assert "eyeSquintLeft     0.138\n" in out


def test_explain_shows_why_the_terms_of_a_sum_do_not_add_up_as_printed(capsys, tmp_path):
    """Three terms of 0.122375 sum to 0.367125: each rounded prints 0.122 under `combined
    (sum) = 0.367`. Each term keeps its own rounding (a thousandth moved onto one printed
    `0.550 x 0.2225 = 0.123`, false on its face), and the combined line gives the terms
    unrounded."""
    profile = {"schema": "facs_rig.rig/1", "name": "summing", "targets": ["brows"],
               "combine": {"default": "sum"},
               "action_units": {f"AU0{au}": [{"target": "brows", "weight": 0.2225}]
                                for au in (1, 2, 4)}}
    path = tmp_path / "summing.json"
    path.write_text(json.dumps(profile), encoding="utf-8")
    status, out, _ = run(capsys, "explain", "1C+2C+4C", "--rig", str(path))
    assert status == 0
    assert out == ("1C+2C+4C on summing\n\n"
                   "brows = 0.367   (combine: sum)\n"
                   "  AU01               0.550 x 0.2225 = 0.122\n"
                   "  AU02               0.550 x 0.2225 = 0.122\n"
                   "  AU04               0.550 x 0.2225 = 0.122\n"
                   "  combined (sum) = 0.367   (the terms unrounded: 0.122375 + 0.122375 + "
                   "0.122375)\n")
    # Terms that add up as printed need no note.
    status, out, _ = run(capsys, "explain", "1E+4C", "--rig", str(path))
    assert out.endswith("= 0.223\n  AU04               0.550 x 0.2225 = 0.122\n"
                        "  combined (sum) = 0.345\n")


def test_rig_copy_writes_the_bundled_profile_file_as_is_and_never_replaces_one(capsys, tmp_path):
    """rigs/README.md said "copy the bundled profile closest to your rig", which a pip user had
    no way to do (`rig show --json` is a description, not a profile)."""
    mine = tmp_path / "my_rig.json"
    status, out, err = run(capsys, "rig", "copy", "ARKit", "-o", str(mine))
    assert (status, err) == (0, "")
    assert out == (f"wrote {mine}: the bundled arkit profile. Give it your own \"name\", list "
                   f"your rig's targets and map the AUs to them (rigs/README.md, 'Adding a "
                   f"rig'), then facs-rig rig validate {mine}\n")
    assert mine.read_bytes() == (REPO / "rigs" / "arkit.json").read_bytes()
    mine.write_text("my own work")
    status, out, err = run(capsys, "rig", "copy", "facs", "-o", str(mine))
    assert (status, out) == (1, "")
    assert err == (f"facs-rig: error: {mine}: already exists; facs-rig rig copy never replaces "
                   f"a file (choose another name, or remove it first)\n")
    assert mine.read_text() == "my own work"
    status, _, err = run(capsys, "rig", "copy", "arkt", "-o", str(tmp_path / "x.json"))
    assert status == 1 and err == ("facs-rig: error: unknown rig 'arkt': not a bundled profile "
                                   "(arkit, facs, metahuman, unified, vrm)\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my_rig.json"]
