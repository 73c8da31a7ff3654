"""OSC encoding to the byte (hand-written bytes and python-osc equivalence), frame packets, decoder."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message import OscMessage as PythonOscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from facs_rig.errors import OscError
from facs_rig.io.osc.encoding import (
    MessageTemplate,
    OscMessage,
    Slot,
    compile_frame,
    decode_packet,
    encode_bundle,
    encode_message,
    encode_string,
    format_message,
    pack_bundles,
)
from facs_rig.io.osc.protocols import PERFECT_SYNC_NAMES


def python_osc_message(address, *args):
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    return builder.build()


# ----------------------------------------------------------------------------- hand-written bytes

@pytest.mark.parametrize(("text", "expected"), [
    ("", b"\x00\x00\x00\x00"),
    ("a", b"a\x00\x00\x00"),
    ("abc", b"abc\x00"),
    ("abcd", b"abcd\x00\x00\x00\x00"),
    ("/W", b"/W\x00\x00"),
    ("Ä", b"\xc3\x84\x00\x00"),
])
def test_strings_are_nul_terminated_and_padded_to_four_bytes(text, expected):
    assert encode_string(text) == expected


def test_face_cap_message_bytes():
    # /W ,if 3 0.25: the int index stays an int, the value is float32 0x3E800000.
    assert encode_message("/W", 3, 0.25) == (
        b"/W\x00\x00" b",if\x00" b"\x00\x00\x00\x03" b"\x3e\x80\x00\x00")


def test_vmc_blend_value_and_apply_bytes():
    assert encode_message("/VMC/Ext/Blend/Val", "Joy", 1.0) == (
        b"/VMC/Ext/Blend/Val\x00\x00" b",sf\x00" b"Joy\x00" b"\x3f\x80\x00\x00")
    assert encode_message("/VMC/Ext/Blend/Apply") == b"/VMC/Ext/Blend/Apply\x00\x00\x00\x00,\x00\x00\x00"


def test_bundle_bytes():
    message = encode_message("/a", 1.0)
    assert encode_bundle([message]) == (
        b"#bundle\x00" b"\x00\x00\x00\x00\x00\x00\x00\x01" b"\x00\x00\x00\x0c" + message)
    assert len(message) == 12


@pytest.mark.parametrize("value", [np.float32(0.5), np.float64(0.5), 0.5, np.float16(0.5)])
def test_every_real_number_is_float32(value):
    # python-osc rejects numpy.float32; here every real number is an OSC 'f'.
    assert encode_message("/x", value) == b"/x\x00\x00,f\x00\x00\x3f\x00\x00\x00"


def test_other_argument_types():
    assert encode_message("/x", True, False, None) == b"/x\x00\x00,TFN\x00\x00\x00\x00"
    assert encode_message("/x", np.int64(-2)) == b"/x\x00\x00,i\x00\x00\xff\xff\xff\xfe"
    assert encode_message("/x", 2**40) == b"/x\x00\x00,h\x00\x00" + struct.pack(">q", 2**40)
    assert encode_message("/x", b"\x01\x02") == (
        b"/x\x00\x00,b\x00\x00\x00\x00\x00\x02\x01\x02\x00\x00")


@pytest.mark.parametrize("bad", [
    lambda: encode_message("no-slash"),
    lambda: encode_message("/x", object()),
    lambda: encode_message("/x", 1e39),
    lambda: encode_message("/x", 2**70),
    lambda: encode_message("/x", "a\x00b"),
])
def test_unencodable_input_raises_osc_error(bad):
    with pytest.raises(OscError):
        bad()


# ---------------------------------------------------------------------- equivalence with python-osc

@pytest.mark.parametrize("args", [
    (), ("EyeBlinkLeft", 0.75), (1,), (-7, 3.5, "x"), ("日本語", 0.0), (True, False, None),
    ("Head", 0.0, 0.1, 0.0, 0.0, -0.342, 0.0, 0.94), (b"blob!",), (2**33,),
])
def test_messages_equal_python_osc_builder(args):
    assert encode_message("/VMC/Ext/Blend/Val", *args) == \
        python_osc_message("/VMC/Ext/Blend/Val", *args).dgram


def test_bundles_equal_python_osc_builder():
    messages = [python_osc_message("/VMC/Ext/Blend/Val", name, 0.5) for name in ("A", "Joy")]
    builder = OscBundleBuilder(IMMEDIATELY)
    for message in messages:
        builder.add_content(message)
    assert encode_bundle([m.dgram for m in messages]) == builder.build().dgram


def test_perfect_sync_frame_splits_under_1232_bytes_with_apply_last():
    messages = [encode_message("/VMC/Ext/Blend/Val", name, 0.0) for name in PERFECT_SYNC_NAMES]
    messages.append(encode_message("/VMC/Ext/Blend/Apply"))
    # 2,524 bytes in one bundle (formats.md §1.7), so it must split.
    assert len(encode_bundle(messages)) == 2524
    bundles = pack_bundles(messages)
    assert [len(b) for b in bundles] == [1196, 1220, 140]
    assert [len(b) for b in pack_bundles(messages, max_bytes=1500)] == [1480, 1060]
    decoded = [decode_packet(b) for b in bundles]
    assert decoded[-1][-1] == OscMessage("/VMC/Ext/Blend/Apply", "", ())
    assert [m.args[0] for part in decoded for m in part[:52] if m.args] == list(PERFECT_SYNC_NAMES)
    # Greedy: the first message of bundle 2 would not have fitted in bundle 1.
    assert len(bundles[0]) + 4 + len(messages[len(decoded[0])]) > 1232
    # And each bundle is exactly what python-osc's builder makes of the same messages.
    start = 0
    for bundle, part in zip(bundles, decoded):
        builder = OscBundleBuilder(IMMEDIATELY)
        for message in messages[start:start + len(part)]:
            builder.add_content(PythonOscMessage(message))
        assert builder.build().dgram == bundle
        start += len(part)


def test_a_message_too_large_for_any_bundle_is_an_error():
    with pytest.raises(OscError, match="does not fit"):
        pack_bundles([encode_message("/x", "y" * 1600)])


# ----------------------------------------------------------------------------------- frame packets

def _vmc_templates(names):
    return ([MessageTemplate("/VMC/Ext/Blend/Val", (name, Slot(i))) for i, name in enumerate(names)]
            + [MessageTemplate("/VMC/Ext/Blend/Apply")])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-2.0, 2.0, width=32), min_size=52, max_size=52))
def test_patched_frame_equals_freshly_encoded_bundles(values):
    frame = compile_frame(_vmc_templates(PERFECT_SYNC_NAMES), 52)
    packets = frame.encode(np.asarray(values, dtype=np.float32))
    fresh = pack_bundles([encode_message("/VMC/Ext/Blend/Val", n, v)
                          for n, v in zip(PERFECT_SYNC_NAMES, values)]
                         + [encode_message("/VMC/Ext/Blend/Apply")])
    assert [bytes(p) for p in packets] == fresh


def test_frame_slots_can_repeat_and_mix_with_fixed_arguments():
    templates = [MessageTemplate("/W", (7, Slot(1))), MessageTemplate("/b", ("Head", Slot(0), Slot(1)))]
    frame = compile_frame(templates, 2, bundle=False)
    packets = frame.encode(np.array([0.5, 0.25]))
    assert [bytes(p) for p in packets] == [encode_message("/W", 7, 0.25),
                                           encode_message("/b", "Head", 0.5, 0.25)]
    packets = frame.encode(np.array([1.0, 0.0]))
    assert bytes(packets[0]) == encode_message("/W", 7, 0.0)


def test_frame_vector_shape_is_checked():
    frame = compile_frame(_vmc_templates(["A"]), 1)
    with pytest.raises(OscError, match="shape"):
        frame.encode(np.zeros(2))
    with pytest.raises(OscError):
        compile_frame([MessageTemplate("/x", (Slot(3),))], 2)


# ----------------------------------------------------------------------------------------- decoder

def test_decodes_python_osc_output():
    dgram = python_osc_message("/VMC/Ext/Bone/Pos", "Head", 0.0, 1.5, -2.0, 0, "x", True).dgram
    (message,) = decode_packet(dgram)
    assert message == OscMessage("/VMC/Ext/Bone/Pos", "sfffisT", ("Head", 0.0, 1.5, -2.0, 0, "x", True))


def test_decodes_nested_bundles_in_order():
    inner = encode_bundle([encode_message("/b", 2)])
    packet = encode_bundle([encode_message("/a", 1), inner, encode_message("/c", 3)],
                           time_tag=0xFFFFFFFF00000000)  # far-future tag: applied at once anyway
    assert [m.address for m in decode_packet(packet)] == ["/a", "/b", "/c"]


def test_accepts_a_message_without_type_tags():
    assert decode_packet(b"/old\x00\x00\x00\x00") == [OscMessage("/old", "", ())]


def test_decodes_arrays_and_other_tags():
    packet = (encode_string("/x") + encode_string(",[if]dhc")
              + struct.pack(">ifdqi", 1, 0.5, 2.5, 3, ord("Z")))
    (message,) = decode_packet(packet)
    assert message.args == ((1, 0.5), 2.5, 3, "Z")


@pytest.mark.parametrize(("packet", "problem"), [
    (b"", "empty"),
    (b"/ab", "multiple of 4"),
    (b"/abc", "NUL"),
    (b"/a\x00\x00,f\x00\x00", "past the end"),
    (b"/a\x00\x00,q\x00\x00", "unknown OSC type tag"),
    (b"/a\x00\x00xf\x00\x00", "does not start with ','"),
    (b"/a\x00\x00,\x00\x00\x00\x00\x00\x00\x00", "unexpected"),
    (b"#bundle\x00\x00\x00\x00\x00", "shorter"),
    (b"#bundle\x00" + bytes(8) + b"\x00\x00\x00\x08/a\x00\x00", "invalid size"),
    (b"#bundle\x00" + bytes(8) + b"\x00\x00\x00\x00", "invalid size"),
    (b"xyzw", "neither"),
    (b"/\xff\x00\x00", "UTF-8"),
    (b"/a\x00\x00,b\x00\x00\xff\xff\xff\xff", "negative size"),
    (b"/a\x00\x00,[\x00\x00", "open"),
    (b"/a\x00\x00,]\x00\x00", "never opened"),
])
def test_malformed_packets_raise_osc_error(packet, problem):
    with pytest.raises(OscError, match=problem):
        decode_packet(packet)


def test_bundle_nesting_is_bounded():
    packet = encode_message("/deep")
    for _ in range(20):
        packet = encode_bundle([packet])
    with pytest.raises(OscError, match="nested deeper"):
        decode_packet(packet)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_decode_or_raise_osc_error(data):
    try:
        messages = decode_packet(data)
    except OscError:
        return
    assert all(isinstance(m, OscMessage) and m.address.startswith("/") for m in messages)


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=4, max_size=120).map(lambda b: b[: len(b) // 4 * 4]),
       st.sampled_from([b"/VMC/Ext/Blend/Val\x00\x00,sf\x00", b"#bundle\x00" + bytes(8)]))
def test_bytes_after_a_plausible_header_decode_or_raise_osc_error(tail, head):
    try:
        decode_packet(head + tail)
    except OscError:
        pass


_argument = st.one_of(
    st.integers(-(2**31), 2**31 - 1),
    st.floats(width=32, allow_nan=False),
    st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
            max_size=20),
    st.booleans(), st.none(), st.binary(max_size=10),
)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="abcXYZ/_0123", min_size=1, max_size=30).map(lambda s: "/" + s),
       st.lists(_argument, max_size=8))
def test_encode_decode_round_trip(address, args):
    (message,) = decode_packet(encode_bundle([encode_message(address, *args)]))
    assert message.address == address
    assert message.args == tuple(args)


def test_format_message_matches_oscdump_style():
    message = OscMessage("/VMC/Ext/Bone/Pos", "sfi", ("Head", 0.25, 3))
    assert format_message(message) == '/VMC/Ext/Bone/Pos sfi "Head" 0.250000 3'
    assert format_message(OscMessage("/VMC/Ext/Blend/Apply", "", ())) == "/VMC/Ext/Blend/Apply"
