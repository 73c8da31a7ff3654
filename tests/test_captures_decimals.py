"""The bulk reader of fixed-point decimal cells equals Python's float() bit for bit, or declines."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facs_rig.io.captures._decimals import MAX_DECIMALS, fixed_point_cells
from facs_rig.io.captures._table import _block_layout, _cell_ends, read_header, read_table

ASSETS = Path(__file__).resolve().parents[2] / "shared" / "assets" / "captures" / "livelinkface"


def _cells(lines: list[str], columns: list[int]) -> np.ndarray | None:
    """fixed_point_cells over a block of lines, as _read_streaming calls it."""
    block = "\n".join(lines).encode("ascii")
    buffer = np.frombuffer(block, dtype=np.uint8)
    n_columns = lines[0].count(",") + 1
    starts, per_line, commas = _block_layout(buffer, n_columns)
    assert np.all(per_line == n_columns - 1)
    return fixed_point_cells(buffer, _cell_ends(starts, commas, buffer.shape[0], n_columns, columns))


def _bits(values) -> list[int]:
    return np.asarray(values, dtype=np.float64).view(np.uint64).tolist()


@settings(max_examples=200, deadline=None)
@given(decimals=st.integers(1, MAX_DECIMALS), data=st.data())
def test_fixed_point_cells_equal_float_bit_for_bit(decimals, data):
    n_rows = data.draw(st.integers(1, 40))
    n_cells = data.draw(st.integers(1, 6))
    mantissas = data.draw(st.lists(st.integers(0, 10 ** (decimals + 1) - 1),
                                   min_size=n_rows * n_cells, max_size=n_rows * n_cells))
    signs = data.draw(st.lists(st.booleans(), min_size=n_rows * n_cells,
                               max_size=n_rows * n_cells))
    texts = [("-" if negative else "") + f"{m // 10**decimals}.{m % 10**decimals:0{decimals}d}"
             for m, negative in zip(mantissas, signs)]
    lines = ["10:00:00:00.000," + ",".join(texts[r * n_cells:(r + 1) * n_cells])
             for r in range(n_rows)]
    values = _cells(lines, list(range(1, n_cells + 1)))
    assert values is not None
    assert _bits(values.reshape(-1)) == _bits([float(t) for t in texts])  # -0.0 included


@pytest.mark.parametrize("odd", ["0.5", "12.0000000000", "1e-05", "+0.5000000000", " 0.5000000000",
                                 "nan", "", "0.50000.00000", "0-1234567890", "--0.000000000",
                                 "0.123456789a", "0,1234567890", ".12345678901", "1.2345678901-"])
def test_any_other_cell_is_declined(odd):
    cells = ["0.1234567890", "-0.0000000001", "0.9999999999"]
    lines = ["10:00:00:00.000," + ",".join(cells)] * 3
    lines.append("10:00:00:01.000," + ",".join(cells[:1] + [odd] + cells[2:]))
    if odd.count(",") != 0:
        lines[-1] = "10:00:00:01.000," + ",".join(cells[:1] + [odd])
    assert _cells(lines, [1, 2, 3]) is None


def test_a_cell_too_close_to_the_start_of_the_block_is_declined():
    assert _cells(["0.1234567890,1"], [0]) is None


@pytest.mark.skipif(not ASSETS.exists(), reason="shared assets missing")
@pytest.mark.parametrize("take", ["S07-001.csv", "alex_rom_3.csv"])
def test_real_takes_read_exactly_as_loadtxt_reads_them(take):
    path = ASSETS / take
    header = read_header(path)
    numeric = header[2:]
    table = read_table(path, numeric, single=numeric[:52])
    expected = np.loadtxt(io.BytesIO(path.read_bytes()), delimiter=",", skiprows=1,
                          usecols=range(2, len(header)), dtype=np.float64, comments=None)
    for k, column in enumerate(numeric):
        want = expected[:, k].astype(np.float32) if k < 52 else expected[:, k]
        assert table.numeric[column].tobytes() == want.tobytes(), column
    assert table.single_block is not None and table.single_columns == numeric[:52]
    assert table.single_block.tobytes() == expected[:, :52].astype(np.float32).tobytes()


@pytest.mark.skipif(not ASSETS.exists(), reason="shared assets missing")
@pytest.mark.parametrize("chunk", [4096, 65536])
def test_small_blocks_and_a_growing_value_array_read_the_same(monkeypatch, chunk):
    """Blocks of a few lines (the array is sized from the first block, then grown when the
    lines get shorter), a cut-short last line and cells loadtxt must read in some blocks."""
    import facs_rig.io.captures._table as table_module

    path = ASSETS / "alex_rom_3.csv"
    header = read_header(path)
    whole = read_table(path, header[2:], single=header[2:54])
    monkeypatch.setattr(table_module, "_SCAN_CHUNK", chunk)
    small = read_table(path, header[2:], single=header[2:54])
    assert small.n_rows == whole.n_rows == 4030
    for column, values in whole.numeric.items():
        assert small.numeric[column].tobytes() == values.tobytes()


def test_rows_longer_after_the_first_block_grow_the_array(monkeypatch, tmp_path):
    import facs_rig.io.captures._table as table_module

    short = ["10:00:00:00.000,0.1000000000,0.2000000000"] * 200
    long = ["10:00:00:00.000,-0.1000000000,1e-05"] * 300  # longer lines, read by loadtxt
    path = tmp_path / "t.csv"
    path.write_text("Timecode,a,b\n" + "\n".join(short + long) + "\n0.5", encoding="ascii")
    monkeypatch.setattr(table_module, "_SCAN_CHUNK", 1024)
    table = read_table(path, ("a", "b"))
    assert table.n_rows == 500 and table.cut_short == 1
    assert _bits(table.numeric["a"]) == _bits([0.1] * 200 + [-0.1] * 300)
    assert _bits(table.numeric["b"]) == _bits([0.2] * 200 + [1e-05] * 300)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=",x", max_size=8), min_size=1, max_size=12), st.integers(1, 4))
def test_block_layout_counts_the_commas_of_every_line(lines, n_columns):
    buffer = np.frombuffer("\n".join(lines).encode("ascii"), dtype=np.uint8)
    starts, per_line, commas = _block_layout(buffer, n_columns)
    assert per_line.tolist() == [line.count(",") for line in lines]
    assert starts.tolist() == [sum(len(x) + 1 for x in lines[:k]) for k in range(len(lines))]
    assert commas.tolist() == [k for k, byte in enumerate(buffer.tolist()) if byte == 44]


@pytest.mark.parametrize("columns", [[1, 2, 3], [2, 3], [3], [0, 2], [3, 1], [1]])
def test_cell_ends_point_past_each_asked_cell(columns):
    lines = ["aa,b,ccc,d", "e,ff,g,hhhh"]
    text = "\n".join(lines)
    buffer = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    starts, _, commas = _block_layout(buffer, 4)
    ends = _cell_ends(starts, commas, buffer.shape[0], 4, columns)
    for row, line in enumerate(lines):
        offset = int(starts[row])
        cells = line.split(",")
        for k, column in enumerate(columns):
            end = offset + sum(len(c) + 1 for c in cells[:column + 1]) - 1
            assert ends[row, k] == end
