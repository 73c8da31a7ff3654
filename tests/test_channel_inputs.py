"""Low-level inputs: one reader of AU-value keys for ``mix_frame`` and ``FaceStream.push``, and
``Channel`` refusing what is no channel with a FacsRigError (review: technical animator,
finding 7: ``mix_frame({"AU12": 0.5})`` raised AttributeError from inside the mixer)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from facs_rig import Channel, FacsRigError, load_rig, mix_frame
from facs_rig.core.channels import parse_channel, read_channel_values
from facs_rig.errors import CodeParseError, OscError
from facs_rig.io.osc import FaceStream

ARKIT = load_rig("arkit")


def test_mix_frame_takes_the_keys_push_takes():
    expected = mix_frame({Channel(12): 0.5, Channel(6, "L"): 0.25}, ARKIT)
    assert float(expected[ARKIT.target_index("mouthSmileLeft")]) > 0
    for keys in ({"AU12": 0.5, "AU06_L": 0.25}, {12: 0.5, "L6": 0.25},
                 {np.int64(12): np.float32(0.5), "l 06": 0.25}):
        np.testing.assert_array_equal(mix_frame(keys, ARKIT), expected)
    stream = FaceStream(ARKIT, "127.0.0.1:9", fps=60)
    try:
        np.testing.assert_array_equal(stream.push({"AU12": 0.5, "L6": 0.25}), expected)
    finally:
        stream.close()


@pytest.mark.parametrize(("values", "message"), [
    ({"mouthSmile": 0.5}, "'mouthSmile' is not an AU channel (use AU12, AU12_L, L12 or 12)"),
    ({True: 0.5}, "True is not an AU channel (use AU12, AU12_L, L12 or 12)"),
    ({1000: 0.5}, "1000 is not an AU channel (use AU12, AU12_L, L12 or 12)"),
    ({Channel(12): "x"}, "AU12: value 'x' is not a number"),
    ([("AU12", 0.5)], "AU values must be a mapping of channel to value, not list"),
])
def test_mix_frame_refuses_what_is_no_au_value_with_a_facs_rig_error(values, message):
    with pytest.raises(CodeParseError) as caught:
        mix_frame(values, ARKIT)
    assert str(caught.value) == message
    stream = FaceStream(ARKIT, "127.0.0.1:9", fps=60)
    try:
        with pytest.raises(OscError) as caught:
            stream.push(values)
        assert str(caught.value) == message
    finally:
        stream.close()


@pytest.mark.parametrize(("arguments", "message"), [
    (("12",), "a channel's AU must be a whole number, not '12' (str); parse_channel() reads "
              "text such as 'AU12' or 'L12'"),
    ((12.0,), "a channel's AU must be a whole number, not 12.0 (float)"),
    ((True,), "a channel's AU must be a whole number, not True (bool)"),
    ((1000,), "a channel's AU must be 0-999, not 1000"),
    ((-1,), "a channel's AU must be 0-999, not -1"),
    ((12, "X"), "channel side must be None, 'L' or 'R', not 'X'"),
    ((12, "l"), "channel side must be None, 'L' or 'R', not 'l'"),
])
def test_channel_refuses_what_is_no_channel(arguments, message):
    with pytest.raises(CodeParseError) as caught:
        Channel(*arguments)
    assert str(caught.value) == message
    assert isinstance(caught.value, FacsRigError) and isinstance(caught.value, ValueError)


def test_a_numpy_integer_makes_the_same_channel():
    channel = Channel(np.int64(12), "L")
    assert type(channel.au) is int
    assert channel == Channel(12, "L") and hash(channel) == hash(Channel(12, "L"))


@given(au=st.integers(0, 999), side=st.sampled_from([None, "L", "R"]), value=st.floats(0, 1))
def test_every_key_form_reads_as_its_channel(au, side, value):
    channel = Channel(au, side)
    forms = [channel, channel.name, f"{side or ''}{au}", f"{(side or '').lower()} AU{au:03d}"]
    if side is None:
        forms.append(au)
    for key in forms:
        assert read_channel_values({key: value}) == {channel: value}
        assert parse_channel(key) == channel if isinstance(key, str) else True
