"""Fast, strict reading of the numeric CSV tables that face trackers write.

Every capture format here is a comma-separated table with one header line; the same table saved
by a spreadsheet (UTF-16 with a BOM, ``;`` or tabs between fields and decimal commas, a
delimiter after the last field) is read too (:mod:`facs_rig.io.csv_dialect`, :class:`Dialect`):
the fast path turns each block into the comma form as it goes. The fast path hands
the body to :func:`numpy.loadtxt` (numpy's C parser, about ten times faster than the ``csv``
module row by row, which matters for hour-long 60 fps takes). When that fails, or the file is
irregular, a slow path walks the rows in Python only to find the exact line and column of the
problem, so bad input always ends in a :class:`CaptureFormatError` naming file, line and column.

Cells that are empty or ``nan`` are read as NaN (the importers turn them into gaps and count
them); any other text where a number is expected is an error.
"""

from __future__ import annotations

import codecs
import io
import math
import os
import re
from dataclasses import dataclass, field

import numpy as np

from facs_rig.errors import CaptureFormatError
from facs_rig.io.bounded_read import read_bounded, refuse_special_file
from facs_rig.io.captures._decimals import fixed_point_cells
from facs_rig.io.csv_dialect import (
    bom_encoding,
    delimiter_name,
    error_line,
    number_text,
    split_header_cells,
    to_commas,
)

__all__ = ["Dialect", "Table", "read_header", "read_head", "read_table"]

#: Longest file we read into memory for a capture: far above a 60 fps hour (about 170 MB).
MAX_CAPTURE_BYTES = 2_000_000_000
_HEADER_SAMPLE = 256 * 1024
#: The longest first line read as a header: far beyond any tracker's (OpenFace's full output,
#: 714 columns, is about 10 KB; 100,000 extra columns about 700 KB), and it bounds the memory a
#: file of one endless line takes before it is refused.
MAX_HEADER_BYTES = 64 * 2**20


@dataclass(frozen=True)
class Table:
    """The parsed body of a capture CSV.

    Attributes
    ----------
    path : str
        File name used in messages.
    header : tuple of str
        Every column name, stripped of spaces and quotes, in file order.
    numeric : dict of str to (n_rows,) float64 arrays
        The requested numeric columns; empty and ``nan`` cells are NaN.
    text : dict of str to tuple of str
        The requested text columns, cells stripped.
    lines : (n_rows,) int64
        1-based file line number of each row, for messages.
    leading : (n_rows, width) uint8 or None
        The first ``leading_width`` bytes of every row when :func:`read_table` was asked for
        them and the fast path read the file (see :meth:`leading_field`).
    cut_short : int
        1 when the file's last line was cut short (fewer cells than the header: a tracker
        stopped mid-write) and was dropped, else 0. The readers count it as a repair.
    single_block : (n_rows, len(single_columns)) float32 or None
        The ``single`` columns side by side when the fast path read the file: ``numeric`` holds
        views of its columns, and a reader that wants them as one array (52 blendshapes) takes
        it without copying 52 strided columns.
    single_columns : tuple of str
        The columns of ``single_block``, in order.
    """

    path: str
    header: tuple[str, ...]
    numeric: dict[str, np.ndarray]
    text: dict[str, tuple[str, ...]] = field(default_factory=dict)
    lines: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    leading: np.ndarray | None = None
    cut_short: int = 0
    single_block: np.ndarray | None = None
    single_columns: tuple[str, ...] = ()

    def leading_field(self, width: int) -> np.ndarray | None:
        """The first ``width`` bytes of every row as a ``(n_rows, width)`` uint8 array.

        For fixed-width first columns (Live Link Face's ``HH:MM:SS:FF.fff`` timecode) this
        replaces splitting 216,000 lines in Python. None when :func:`read_table` was not asked
        for ``width`` leading bytes, the body is not one row per line (the slow path read it) or
        a line is shorter than ``width``.
        """
        if self.leading is None or self.leading.shape[1] < width:
            return None
        return self.leading[:, :width]

    @property
    def n_rows(self) -> int:
        """Number of data rows."""
        return int(self.lines.shape[0])

    def where(self, row: int) -> str:
        """``file: line N`` for a data row index, the prefix of every row message."""
        return f"{self.path}: line {int(self.lines[row])}"


@dataclass(frozen=True)
class Dialect:
    """How a capture CSV is laid out (:mod:`facs_rig.io.csv_dialect`), found from its first
    bytes and header line.

    Attributes
    ----------
    encoding : str
        ``utf-8``, or ``utf-16-le``/``utf-16-be`` as its BOM says.
    delimiter : str
        ``,``, ``;`` or a tab; with ``;`` or a tab, a comma in a number is its decimal mark.
    trailing : bool
        Every line ends with a delimiter after its last field: an unnamed last column, which
        must stay empty (not in :attr:`Table.header`).
    """

    encoding: str = "utf-8"
    delimiter: str = ","
    trailing: bool = False

    def note(self) -> str:
        """``"fields separated by ';', not ','"`` for a delimiter other than a comma, else
        ``""``: what an error about the header adds, so that a user sees what was found."""
        if self.delimiter == ",":
            return ""
        return f"fields separated by {delimiter_name(self.delimiter)}, not ','"


def _header_of_line(line: str, encoding: str) -> tuple[tuple[str, ...], Dialect]:
    names, delimiter, trailing = split_header_cells(line)
    return tuple(names), Dialect(encoding, delimiter, trailing)


def _not_text(name: str, data: bytes, offset: int, encoding: str) -> CaptureFormatError:
    line, _ = error_line(data, offset)
    what = "UTF-16" if encoding.startswith("utf-16") else "UTF-8"
    return CaptureFormatError(f"{name}: line {line}: not {what} text")


def _binary(name: str, sample: bytes) -> CaptureFormatError:
    """The error for a file with NUL bytes: binary, or UTF-16 text without the BOM that would
    say so (ASCII text with a NUL byte beside every character), named as such."""
    sample = sample[:4096]
    even, odd = sample[0::2], sample[1::2]
    for text, zeros in ((even, odd), (odd, even)):
        if len(zeros) >= 2 and not zeros.strip(b"\x00") and text.isascii() and (
                b"\n" in text or len(sample) >= 4096):
            return CaptureFormatError(
                f"{name}: holds NUL bytes: it looks like UTF-16 text without the byte-order "
                f"mark that would say so (facs-rig does not guess an encoding): save it as "
                f"UTF-8, or as UTF-16 with its BOM (as Excel's 'Unicode Text' does)")
    return CaptureFormatError(f"{name}: is a binary file, not a CSV capture")


def _read_bytes(path: str | os.PathLike[str]) -> bytes:
    """The file's bytes as UTF-8 (UTF-16 decoded by its BOM), checked, with a BOM removed and
    line ends made ``\\n``."""
    name = os.fspath(path)
    refuse_special_file(name, CaptureFormatError)  # a named pipe would block the read
    data = read_bounded(name, MAX_CAPTURE_BYTES, CaptureFormatError, "a capture file")
    encoding, skip = bom_encoding(data)
    if encoding != "utf-8":
        try:
            text = data[skip:].decode(encoding)
        except UnicodeDecodeError as exc:
            raise _not_text(name, data, exc.start + skip, encoding) from None
        data = text.encode("utf-8")
        del text
    if b"\x00" in data[:_HEADER_SAMPLE]:
        raise _binary(name, data[:_HEADER_SAMPLE])
    if not data.isascii() or data.startswith(b"\xef\xbb\xbf"):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise CaptureFormatError(f"{name}: line {line}: not UTF-8 text") from None
        data = text.encode("utf-8")
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return data


def read_header(path: str | os.PathLike[str]) -> tuple[str, ...]:
    """The stripped column names of a capture CSV (its first line; see :func:`read_head`).

    Raises
    ------
    CaptureFormatError
        When the file cannot be read, is empty, binary or not UTF-8 (or UTF-16 with a BOM).
    """
    return read_head(path)[0]


def read_head(path: str | os.PathLike[str]) -> tuple[tuple[str, ...], Dialect]:
    """``(column names, dialect)`` of a capture CSV, from its first line: the names stripped of
    spaces and quotes, without the unnamed last column of a line ending in a delimiter.

    Raises
    ------
    CaptureFormatError
        As :func:`read_header`.
    """
    name = os.fspath(path)
    refuse_special_file(name, CaptureFormatError)  # a named pipe would block the open
    chunks: list[bytes] = []
    size = 0
    try:
        with open(name, "rb") as stream:
            # The whole first line, however wide (a file with 100,000 extra columns is read):
            # a header cut at the first block named the cut name as a column of the file.
            while size < MAX_HEADER_BYTES:
                chunk = stream.read(_HEADER_SAMPLE)
                chunks.append(chunk)
                size += len(chunk)
                # (In UTF-16 a byte 0x0A may be half of another character: read on until the
                # decoded text has its line end, or the file ends.)
                if len(chunk) < _HEADER_SAMPLE or (b"\n" in chunk and _has_line_end(chunks)):
                    break
    except IsADirectoryError:
        raise CaptureFormatError(f"{name}: is a folder, not a capture file") from None
    except OSError as exc:
        raise CaptureFormatError(f"{name}: cannot read: {exc.strerror or exc}") from None
    return head_from_sample(name, b"".join(chunks), limit=MAX_HEADER_BYTES)


def _has_line_end(chunks: list[bytes]) -> bool:
    sample = b"".join(chunks)
    encoding, skip = bom_encoding(sample)
    if encoding == "utf-8":
        return b"\n" in sample
    try:
        return "\n" in _decoded_start(sample[skip:], encoding)
    except UnicodeDecodeError:
        return True  # read no further: the header's reader names the line


def _decoded_start(data: bytes, encoding: str) -> str:
    """The text of ``data``, the first bytes of a UTF-16 file after its BOM (a character cut
    at the end left out), or of its whole lines before a byte that is not UTF-16.

    Raises
    ------
    UnicodeDecodeError
        When not even the first line is UTF-16.
    """
    try:
        return codecs.getincrementaldecoder(encoding)().decode(data, final=False)
    except UnicodeDecodeError as exc:
        text = codecs.getincrementaldecoder(encoding)().decode(data[:exc.start], final=False)
        if "\n" in text:
            return text[:text.rindex("\n") + 1]  # the lines before it (the body reports it)
        raise


def header_from_sample(name: str, sample: bytes, *, limit: int = _HEADER_SAMPLE
                       ) -> tuple[str, ...]:
    """The column names in ``sample``, the first bytes of the capture file ``name`` (read by the
    caller: from a local file or, in a batch, from a URL), at most ``limit`` bytes of it."""
    return head_from_sample(name, sample, limit=limit)[0]


def head_from_sample(name: str, sample: bytes, *, limit: int = _HEADER_SAMPLE
                     ) -> tuple[tuple[str, ...], Dialect]:
    """``(column names, dialect)`` of ``sample`` (see :func:`header_from_sample`)."""
    raw_length = len(sample)
    encoding, skip = bom_encoding(sample)
    if encoding != "utf-8":
        try:
            sample = _decoded_start(sample[skip:], encoding).encode("utf-8")
        except UnicodeDecodeError as exc:
            raise _not_text(name, sample, exc.start + skip, encoding) from None
    if not sample.strip():
        raise CaptureFormatError(f"{name}: the file is empty")
    if b"\x00" in sample:
        raise _binary(name, sample)
    if b"\n" not in sample and raw_length >= limit:
        # The first line goes on past what was read: its last name would be cut in the middle
        # and read as a column that is not in the file (or as a "repeated" one).
        shown = f"{limit // 2**20} MiB" if limit >= 2**20 else f"{limit // 1024} KiB"
        raise CaptureFormatError(f"{name}: line 1: the header is longer than {shown}, not a "
                                 f"capture header")
    first = sample.split(b"\n", 1)[0]
    try:
        line = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CaptureFormatError(f"{name}: line 1: not UTF-8 text") from None
    return _header_of_line(line.rstrip("\r"), encoding)


def _check_header(name: str, header: tuple[str, ...], required: tuple[str, ...],
                  dialect: Dialect = Dialect()) -> None:
    """Refuse a header with an empty or repeated column name, or without a ``required`` one
    (the message says which delimiter the header was split on, when not a comma)."""
    seen: dict[str, int] = {}
    for index, column in enumerate(header, start=1):
        if not column:
            raise CaptureFormatError(f"{name}: line 1, column {index}: empty column name")
        if column in seen:
            raise CaptureFormatError(
                f"{name}: line 1: column {column!r} appears twice (columns {seen[column]} and "
                f"{index})")
        seen[column] = index
    missing = [column for column in required if column not in seen]
    if missing:
        note = f" ({dialect.note()})" if dialect.note() else ""
        raise CaptureFormatError(f"{name}: line 1: missing column(s) {name_list(missing)}{note}")


def name_list(names: list[str], shown: int = 5) -> str:
    """``names`` joined by commas, the first ``shown`` only when there are more (an error line
    naming every one of 52 missing shapes runs to a screenful)."""
    if len(names) <= shown + 1:
        return ", ".join(names)
    return f"{', '.join(names[:shown])}, ... ({len(names)} in all)"


def _parse_cell(cell: str) -> float:
    text = cell.strip().strip('"').strip()
    if not text or text.lower() in ("nan", "-nan", "+nan"):
        return math.nan
    value = float(text)  # ValueError is reported by the caller with the cell's position
    return value


#: Bytes of the body scanned at once when counting cells per line: the scan's temporary arrays
#: stay a few tens of MB for any file size (a whole-body scan of a 60 fps hour took 500 MB).
_SCAN_CHUNK = 8 * 1024 * 1024


def _blank(delimiter: str) -> bytes:
    """The bytes stripped from the end of a file: spaces and line ends, and tabs unless they
    separate the fields (a tab-separated last row's empty cells are cells)."""
    return b" \r\n" if delimiter == "\t" else b" \t\r\n"


def _line_layout(buffer: np.ndarray, delimiter: int = 44) -> tuple[np.ndarray, np.ndarray]:
    """``(starts, commas)``: the offset where each line of ``buffer`` starts and how many commas
    (or ``delimiter`` bytes) it holds, scanned in chunks of :data:`_SCAN_CHUNK` bytes so memory
    stays bounded."""
    newline_chunks, comma_chunks = [], []
    commas_before = 0
    for offset in range(0, buffer.shape[0], _SCAN_CHUNK):
        chunk = buffer[offset:offset + _SCAN_CHUNK]
        newlines = np.flatnonzero(chunk == 10)
        commas = np.flatnonzero(chunk == delimiter)
        # Commas seen before each newline of the chunk, counted from the start of the body.
        comma_chunks.append(commas_before + np.searchsorted(commas, newlines))
        newline_chunks.append(newlines + offset)
        commas_before += commas.shape[0]
    newlines = np.concatenate(newline_chunks) if newline_chunks else np.zeros(0, np.int64)
    before_newline = np.concatenate(comma_chunks) if comma_chunks else np.zeros(0, np.int64)
    starts = np.concatenate(([0], newlines + 1))
    cumulative = np.concatenate(([0], before_newline, [commas_before]))
    return starts, np.diff(cumulative)


def _block_layout(buffer: np.ndarray, n_columns: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(starts, commas_per_line, commas)`` of a block of lines: where each line starts, how
    many commas it holds and where every comma is (a block is a few MB: scanned at once)."""
    newlines = np.flatnonzero(buffer == 10)
    commas = np.flatnonzero(buffer == 44)
    starts = np.concatenate(([0], newlines + 1))
    n_lines = starts.shape[0]
    if commas.shape[0] == n_lines * (n_columns - 1) and n_columns > 1:
        # As many commas as lines of n_columns cells: they are so (the common case, without a
        # search per line) when each line's first and last comma lie inside the line.
        grid = commas.reshape(n_lines, n_columns - 1)
        if np.all(grid[1:, 0] > newlines) and np.all(grid[:-1, -1] < newlines):
            return starts, np.full(n_lines, n_columns - 1), commas
    before = np.concatenate(([0], np.searchsorted(commas, newlines), [commas.shape[0]]))
    return starts, np.diff(before), commas


def _cell_ends(starts: np.ndarray, commas: np.ndarray, length: int, n_columns: int,
               columns: list[int]) -> np.ndarray:
    """``(n_lines, len(columns))`` offsets just past each cell of ``columns`` (its comma or the
    line's end), for lines that all hold ``n_columns - 1`` commas."""
    n_lines = starts.shape[0]
    line_ends = np.empty(n_lines, dtype=np.int64)
    line_ends[:-1] = starts[1:] - 1
    line_ends[-1] = length
    grid = commas.reshape(n_lines, n_columns - 1)  # column c ends at comma c, the last at the line end
    ends = np.empty((n_lines, len(columns)), dtype=np.int64)
    first, last = columns[0], columns[-1]
    if columns == list(range(first, last + 1)):  # Live Link Face: one run of columns
        inner = min(last, n_columns - 2) + 1 - first
        ends[:, :inner] = grid[:, first:first + inner]
        if inner < len(columns):
            ends[:, inner] = line_ends
        return ends
    for k, column in enumerate(columns):
        ends[:, k] = grid[:, column] if column < n_columns - 1 else line_ends
    return ends


def read_table(path: str | os.PathLike[str], numeric: tuple[str, ...],
               text: tuple[str, ...] = (), *, leading_width: int = 0,
               single: tuple[str, ...] = ()) -> Table:
    """Read the named numeric and text columns of a capture CSV.

    Parameters
    ----------
    path : path-like
        The CSV file (comma separated; ``", "`` separators are fine).
    numeric : tuple of str
        Columns to read as float64. All must exist (the importers check first and say which
        format needs them).
    text : tuple of str
        Columns to keep as text.
    leading_width : int
        Also keep the first ``leading_width`` bytes of every row (:meth:`Table.leading_field`).
    single : tuple of str
        Numeric columns the caller keeps as float32 anyway (blendshape weights): the fast path
        stores them so, halving their memory. Values beyond float32's range become +-inf.

    Notes
    -----
    A last line with fewer cells than the header is a row cut short by a tracker that stopped
    mid-write: it is dropped and counted (:attr:`Table.cut_short`), not refused, so a take that
    was recorded is not lost for its final frame; when it was the only row, the file has no
    data rows (an error saying so). A short line anywhere else is an error.

    Raises
    ------
    CaptureFormatError
        Empty file, no data rows, duplicated or missing columns, a row with the wrong number of
        cells, a cell that is not a number or longer than the CSV module's field limit, each
        naming the file, line and column.
    """
    name = os.fspath(path)
    header, dialect = read_head(name)
    _check_header(name, header, (*numeric, *text), dialect)
    streamed = _read_streaming(name, header, numeric, text, leading_width, set(single), dialect)
    if streamed is not None:
        return streamed
    return _read_whole(name, numeric, text, leading_width)


class _Utf16AsUtf8:
    """A UTF-16 file (with its BOM) read as UTF-8 bytes, a block at a time: ``readline`` and
    ``read`` as on the binary file, so the fast path reads it in bounded memory as any other.
    A byte that is not UTF-16 raises UnicodeDecodeError (the caller then reads the file whole,
    which names the line)."""

    def __init__(self, raw):
        # 'utf-16' reads the BOM and drops it; newline="" keeps line ends as they are.
        self._text = io.TextIOWrapper(raw, encoding="utf-16", errors="strict", newline="")

    def readline(self) -> bytes:
        return self._text.readline().encode("utf-8")

    def read(self, size: int) -> bytes:
        # Characters, half as many as bytes asked: about ``size`` bytes of the file.
        return self._text.read(max(1, size // 2)).encode("utf-8")


def _read_streaming(name: str, header: tuple[str, ...], numeric: tuple[str, ...],
                    text: tuple[str, ...], leading_width: int, single: set[str],
                    dialect: Dialect = Dialect()) -> Table | None:
    """The fast path: the body in blocks of whole lines, each checked (cells per line, UTF-8,
    line ends) and converted, by :func:`fixed_point_cells` when every cell asked for is a
    fixed-point decimal (Live Link Face) or else by :func:`numpy.loadtxt`, into one array sized
    from the first block's lines.

    Only the values and one block are in memory at a time (a 60 fps hour: 100 MB of values
    where holding the file's 176 MB of text as well went past 450 MB). A UTF-16 file is decoded
    block by block, and a block of a ``;``- or tab-separated file is turned into the comma form
    (:func:`~facs_rig.io.csv_dialect.to_commas`), so memory stays as bounded. Returns None for
    anything irregular (a short or long line, a blank line, a quote, a lone carriage return,
    text that is not UTF-8, a cell that is not a number, a value in the unnamed last column of
    a ``trailing`` file): :func:`_read_whole` then reads the file again and names the line.
    """
    index: dict[str, int] = {}
    for position, column in enumerate(header):
        index.setdefault(column, position)
    numeric_indices = [index[column] for column in numeric]
    text_indices = [index[column] for column in text]
    n_columns = len(header) + dialect.trailing  # the unnamed last column counted
    utf16 = dialect.encoding != "utf-8"
    try:
        if not numeric_indices or os.path.getsize(name) > MAX_CAPTURE_BYTES:
            return None
        with open(name, "rb") as raw:
            size = os.fstat(raw.fileno()).st_size
            stream = _Utf16AsUtf8(raw) if utf16 else raw
            first = stream.readline()
            if not first.endswith(b"\n"):
                return None
            # In UTF-8 bytes, about (the body's ASCII text is half its UTF-16 bytes).
            body_bytes = (size // 2 if utf16 else size) - len(first)
            narrow = [k for k, column in enumerate(numeric) if column in single]
            wide = [k for k, column in enumerate(numeric) if column not in single]
            values32 = np.empty((0, len(narrow)), dtype=np.float32)
            values64 = np.empty((0, len(wide)), dtype=np.float64)
            rows, cut_short, carry, bytes_read = 0, 0, b"", 0
            leading_parts: list[np.ndarray] | None = [] if leading_width > 0 else None
            text_parts: list[dict[str, tuple[str, ...]]] = []
            while True:
                chunk = stream.read(_SCAN_CHUNK)
                bytes_read += len(chunk)
                final = not chunk
                block = carry + chunk
                if final:
                    # Trailing blank lines carry nothing (a tab is a cell's end in a
                    # tab-separated file: kept).
                    block = block.rstrip(_blank(dialect.delimiter))
                    if not block:
                        break
                    carry = b""
                else:
                    cut = block.rfind(b"\n")
                    if cut < 0:
                        carry = block
                        continue
                    block, carry = block[:cut], block[cut + 1:]
                if b"\r" in block:
                    block = block.replace(b"\r\n", b"\n")
                    if b"\r" in block:
                        return None
                if not block.isascii():
                    try:
                        block.decode("utf-8")
                    except UnicodeDecodeError:
                        return None
                if dialect.delimiter != ",":
                    if b'"' in block:
                        return None  # a quoted cell may hold a delimiter: read row by row
                    block = to_commas(block, dialect.delimiter)
                buffer = np.frombuffer(block, dtype=np.uint8)
                starts, per_line, commas = _block_layout(buffer, n_columns)
                if final and per_line[-1] < n_columns - 1:
                    cut_short = 1  # the last row was cut short by a tracker killed mid-write
                    block = block[:int(starts[-1]) - 1]
                    buffer = buffer[:len(block)]
                    commas = commas[:commas.shape[0] - int(per_line[-1])]
                    starts, per_line = starts[:-1], per_line[:-1]
                    if not block:
                        break
                if not np.all(per_line == n_columns - 1):
                    return None
                if dialect.trailing and not _last_cells_empty(buffer, starts, commas,
                                                              n_columns):
                    return None
                count = starts.shape[0]
                parsed = None
                if count:
                    ends = _cell_ends(starts, commas, buffer.shape[0], n_columns,
                                      numeric_indices)
                    parsed = fixed_point_cells(buffer, ends)
                    del ends
                if parsed is None:
                    try:
                        parsed = np.loadtxt(io.BytesIO(block), delimiter=",",
                                            usecols=numeric_indices, dtype=np.float64, ndmin=2,
                                            comments=None, encoding="utf-8")
                    except ValueError:
                        return None
                if parsed.shape[0] != count:
                    return None
                if rows + count > values32.shape[0]:
                    # Rows the rest of the file holds at the lines' length so far, plus 5 %
                    # (Live Link Face lines differ by a few signs): no counting pass over the file.
                    expected = rows + count + int(1.05 * max(body_bytes - bytes_read, 0)
                                                  * (rows + count) / max(bytes_read, 1)) + 16
                    values32 = _grown(values32, rows, expected)
                    values64 = _grown(values64, rows, expected)
                values64[rows:rows + count] = parsed[:, _as_slice(wide)]
                with np.errstate(over="ignore"):
                    values32[rows:rows + count] = parsed[:, _as_slice(narrow)]
                rows += count
                if leading_parts is not None:
                    leading = _leading_bytes(buffer, starts, leading_width)
                    if leading is None:
                        leading_parts = None
                    else:
                        leading_parts.append(leading.copy())
                if text:
                    text_parts.append(_text_columns(block.decode("utf-8"), text_indices, text))
                if final:
                    break
    except (OSError, UnicodeDecodeError):
        return None  # _read_whole reports it
    if rows == 0:
        return None
    lines = np.arange(2, rows + 2, dtype=np.int64)
    columns = {numeric[k]: values32[:rows, j] for j, k in enumerate(narrow)}
    columns.update({numeric[k]: values64[:rows, j] for j, k in enumerate(wide)})
    columns = {column: columns[column] for column in numeric}
    texts = {column: tuple(cell for part in text_parts for cell in part[column]) for column in text}
    leading = np.concatenate(leading_parts) if leading_parts else None
    return Table(name, header, columns, texts, lines, leading, cut_short, values32[:rows],
                 tuple(numeric[k] for k in narrow))


def _last_cells_empty(buffer: np.ndarray, starts: np.ndarray, commas: np.ndarray,
                      n_columns: int) -> bool:
    """Whether every line of a block (all of ``n_columns`` cells) ends with its last comma:
    the unnamed last column of a file whose lines end with a delimiter is empty throughout."""
    if starts.shape[0] == 0:
        return True
    line_ends = np.empty(starts.shape[0], dtype=np.int64)
    line_ends[:-1] = starts[1:] - 1
    line_ends[-1] = buffer.shape[0]
    last_commas = commas.reshape(starts.shape[0], n_columns - 1)[:, -1]
    return bool(np.all(last_commas == line_ends - 1))


def _as_slice(indices: list[int]) -> slice | list[int]:
    """A run of consecutive indices as a slice (a view, where a list index copies)."""
    if indices and indices == list(range(indices[0], indices[-1] + 1)):
        return slice(indices[0], indices[-1] + 1)
    return indices


def _grown(values: np.ndarray, rows: int, capacity: int) -> np.ndarray:
    """``values`` with room for ``capacity`` rows, its first ``rows`` kept."""
    grown = np.empty((capacity,) + values.shape[1:], dtype=values.dtype)
    grown[:rows] = values[:rows]
    return grown


def _read_whole(name: str, numeric: tuple[str, ...], text: tuple[str, ...],
                leading_width: int) -> Table:
    """The file read whole (BOM, line ends and UTF-8 checked): the path for irregular files,
    whose slow row-by-row reading names the line and column of any problem."""
    data = _read_bytes(name)
    if not data or (data[:4096].isspace() and data.isspace()):
        raise CaptureFormatError(f"{name}: the file is empty")
    first_end = data.find(b"\n")
    header_line = data if first_end < 0 else data[:first_end]
    header, dialect = _header_of_line(header_line.decode("utf-8"), "utf-8")
    _check_header(name, header, (*numeric, *text), dialect)
    start = len(data) if first_end < 0 else first_end + 1
    end = len(data)
    blank = _blank(dialect.delimiter)
    while end > start and data[end - 1] in blank:
        end -= 1  # trailing blank lines and spaces carry nothing
    if end <= start:
        raise CaptureFormatError(f"{name}: has a header but no data rows")
    n_columns = len(header) + dialect.trailing  # the unnamed last column counted
    # First occurrence wins, in linear time (header.index() per column was quadratic: a
    # 200,000-column file took minutes before a single row was read).
    index: dict[str, int] = {}
    for position, column in enumerate(header):
        index.setdefault(column, position)
    numeric_indices = [index[column] for column in numeric]
    # A view of the body, not a copy: the file's bytes are the one large buffer held.
    buffer = np.frombuffer(data, dtype=np.uint8, count=end - start, offset=start)
    # Every line must have the header's number of cells (loadtxt with usecols does not check):
    # delimiters per line, counted in bounded chunks. Blank lines fail this too, and quoted
    # cells make loadtxt fail; either sends the file to the slow path, which says where.
    delimiter = ord(dialect.delimiter)
    starts, per_line = _line_layout(buffer, delimiter)
    cut_short = 0
    if per_line[-1] < n_columns - 1:
        if starts.shape[0] == 1:
            # The only row was cut short: no row to read, said as such (not as a malformed row).
            raise CaptureFormatError(
                f"{name}: has a header but no data rows (its only row, line 2, was cut short: "
                f"{int(per_line[-1]) + 1} cells, but the header has {_width(n_columns, dialect)})")
        cut_short = 1
        end = start + int(starts[-1]) - 1
        buffer = buffer[:end - start]
        starts, per_line = starts[:-1], per_line[:-1]
    n_lines = starts.shape[0]
    regular = bool(np.all(per_line == n_columns - 1))
    del per_line
    if regular and dialect.trailing:
        # Each line's last byte is its last delimiter: the unnamed last column is empty.
        line_ends = np.concatenate((starts[1:] - 1, [buffer.shape[0]]))
        regular = bool(np.all(line_ends > starts) and np.all(buffer[line_ends - 1] == delimiter))
    # The comma form loadtxt reads (a copy, for a file of another delimiter without quotes).
    canonical = data if dialect.delimiter == "," else (
        to_commas(data, dialect.delimiter) if regular and b'"' not in data else None)
    if regular and numeric_indices and canonical is not None:
        try:
            # skiprows/max_rows on the whole file instead of a sliced copy of the body.
            values = np.loadtxt(io.BytesIO(canonical), delimiter=",", usecols=numeric_indices,
                                dtype=np.float64, ndmin=2, comments=None, encoding="utf-8",
                                skiprows=1 if first_end >= 0 else 0, max_rows=n_lines)
        except ValueError:
            values = None
        if values is not None and values.shape[0] == n_lines:
            lines = np.arange(2, n_lines + 2, dtype=np.int64)
            columns = {column: values[:, k] for k, column in enumerate(numeric)}
            body = np.frombuffer(canonical, dtype=np.uint8, count=end - start, offset=start)
            texts = _text_columns(bytes(body).decode("utf-8"),
                                  [index[column] for column in text], text) if text else {}
            leading = _leading_bytes(body, starts, leading_width)
            return Table(name, header, columns, texts, lines, leading, cut_short)
    del canonical
    body = data[start:end].decode("utf-8")
    del data, buffer
    return _read_slow(name, header, body, numeric, text, index, cut_short, dialect)


def _width(n_columns: int, dialect: Dialect) -> str:
    """``"714 columns"``, or for a file whose lines end with a delimiter ``"64 (63 columns and
    the empty one after its last ',')"``: the cells a row must have, as a user counts them."""
    if not dialect.trailing:
        return f"{n_columns} columns"
    return (f"{n_columns} ({n_columns - 1} columns and the empty one after its last "
            f"{dialect.delimiter!r})")


def _leading_bytes(buffer: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray | None:
    """``(n_lines, width)`` first bytes of every line, or None (no width asked, a short line)."""
    if width <= 0:
        return None
    ends = np.concatenate((starts[1:] - 1, [buffer.shape[0]]))
    if np.any(ends - starts < width):
        return None
    return buffer[starts[:, None] + np.arange(width)]


_FIRST_FIELD = re.compile(r"^([^,\n]*)", re.MULTILINE)


def _text_columns(body: str, indices: list[int], names: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    if not indices:
        return {}
    if indices == [0]:
        # The common case (Live Link Face's Timecode): a regex over the whole body is fast.
        cells = _FIRST_FIELD.findall(body)
        return {names[0]: tuple(cell.strip().strip('"').strip() for cell in cells)}
    rows = [line.split(",") for line in body.split("\n")]
    return {column: tuple(row[i].strip().strip('"').strip() for row in rows)
            for column, i in zip(names, indices)}


def _read_slow(name: str, header: tuple[str, ...], body: str, numeric: tuple[str, ...],
               text: tuple[str, ...], index: dict[str, int], cut_short: int,
               dialect: Dialect = Dialect()) -> Table:
    delimiter = dialect.delimiter
    n_columns = len(header) + dialect.trailing
    columns = [index[column] for column in numeric]
    text_indices = [index[column] for column in text]
    rows: list[list[float]] = []
    text_rows: list[list[str]] = []
    lines: list[int] = []
    for line_number, line in enumerate(body.split("\n"), start=2):
        if not line.strip():
            continue  # blank lines carry nothing; they are not counted as rows
        if '"' in line:
            cells = _split_quoted(name, line_number, line, delimiter)
        else:
            cells = line.split(delimiter)
        if len(cells) != n_columns:
            raise CaptureFormatError(
                f"{name}: line {line_number}: {len(cells)} cells, but the header has "
                f"{_width(n_columns, dialect)}")
        if dialect.trailing and cells[-1].strip():
            raise CaptureFormatError(
                f"{name}: line {line_number}, column {n_columns}: {_shown(cells[-1])} in the "
                f"unnamed last column (the header ends with a {delimiter!r}: an empty column, "
                f"which must stay empty)")
        row = []
        for column, position in zip(numeric, columns):
            try:
                row.append(_parse_cell(number_text(cells[position], delimiter)))
            except ValueError:
                raise CaptureFormatError(
                    f"{name}: line {line_number}, column {position + 1} ({column}): "
                    f"{_shown(cells[position])} is not a number") from None
        rows.append(row)
        text_rows.append([cells[i].strip().strip('"').strip() for i in text_indices])
        lines.append(line_number)
    if not rows:
        raise CaptureFormatError(f"{name}: has a header but no data rows")
    values = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(numeric))
    return Table(
        name, header, {column: values[:, k] for k, column in enumerate(numeric)},
        {column: tuple(row[k] for row in text_rows) for k, column in enumerate(text)},
        np.asarray(lines, dtype=np.int64), cut_short=cut_short)


def _shown(cell: str) -> str:
    """A cell quoted for a message, cut at 40 characters."""
    cell = cell.strip()
    return repr(cell if len(cell) <= 40 else cell[:37] + "...")


def _split_quoted(name: str, line_number: int, line: str, delimiter: str = ",") -> list[str]:
    """The cells of a row with quotes, by the csv module, whose field limit (131,072
    characters by default) bounds the memory of one cell; a longer cell is no capture value."""
    import csv  # only for the rare quoted row

    try:
        return next(csv.reader([line], delimiter=delimiter))
    except csv.Error as exc:
        raise CaptureFormatError(f"{name}: line {line_number}: {exc} (an unclosed quote, or a "
                                 f"cell that is no capture value)") from None
