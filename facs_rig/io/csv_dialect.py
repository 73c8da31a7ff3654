"""How a CSV file saved by a spreadsheet or a tracker is laid out: its encoding, its delimiter, its
decimal mark and a delimiter after the last field. Shared by the capture readers
(:mod:`facs_rig.io.captures._table`) and the timeline CSV reader (:mod:`facs_rig.io.curves_csv`).

What real tools write, and what is read:

* **Encoding.** UTF-8, with or without a byte-order mark (Excel's "CSV UTF-8"), or UTF-16 with
  its byte-order mark: Excel's "Unicode Text (*.txt)" (often renamed ``.csv``) is UTF-16
  little-endian with the BOM ``FF FE``, tab-separated, ``\\r\\n`` line ends (a hex dump of
  Excel's output: H. Yang, "Saving Files in 'Unicode Text (*.txt)' Option",
  herongyang.com/Unicode/Excel-Save-File-in-Unicode-Text-txt.html; S. Holland, "Excel's text
  file formats", strata.uga.edu/8370/rtips/textFiles.html: ``.txt`` exports use tabs; the BOMs
  ``FF FE``/``FE FF``: Unicode 15, section 23.8). A BOM names the encoding exactly; UTF-16
  without one cannot be told from binary data and is refused as such.
* **Delimiter.** ``,``, or ``;`` (Excel in locales whose decimal mark is a comma: the list
  separator of the Windows regional settings) or a tab (Unicode Text): whichever the header
  line holds most, a comma on a tie.
* **Decimal mark.** In a file whose delimiter is not a comma, a comma inside a number is its
  decimal mark (``0,55``): a number cannot hold a comma otherwise. Thousands separators are not
  read (``1.234,5`` is not a number, an error naming the cell).
* **A delimiter after the last field** of every line, header included (some trackers write
  ``a,b,c,``): an unnamed last column that must stay empty. A header with an empty name
  elsewhere, or two at its end, is still an error.
"""

from __future__ import annotations

import codecs

__all__ = ["BOMS", "DELIMITERS", "bom_encoding", "decode_text", "error_line", "header_delimiter",
           "delimiter_name", "number_text", "split_header_cells", "to_commas"]

#: Byte-order marks and the encodings they name (Unicode 15, section 23.8, table 23-5). UTF-32
#: is left out: no spreadsheet writes it, and its little-endian BOM begins with UTF-16's.
BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"))
#: The delimiters read, the first winning a tie.
DELIMITERS = (",", ";", "\t")
_NAMES = {",": "','", ";": "';'", "\t": "tabs"}
#: Byte maps turning a ``;``- or tab-separated line with decimal commas into the comma-separated
#: form with decimal points that the fast readers take (same length, byte for byte).
_TO_COMMAS = {";": bytes.maketrans(b",;", b".,"), "\t": bytes.maketrans(b",\t", b".,")}


def bom_encoding(head: bytes) -> tuple[str, int]:
    """``(encoding, BOM length)`` of a file starting with ``head``: ``("utf-8", 0)`` without a
    BOM."""
    for bom, encoding in BOMS:
        if head.startswith(bom):
            return encoding, len(bom)
    return "utf-8", 0


def decode_text(data: bytes) -> str:
    """The text of a whole file: UTF-16 by its BOM, else UTF-8 (a UTF-8 BOM dropped).

    Raises
    ------
    UnicodeDecodeError
        With ``start`` an offset into ``data`` (:func:`error_line` finds its line).
    """
    encoding, skip = bom_encoding(data)
    try:
        return data[skip:].decode(encoding)
    except UnicodeDecodeError as exc:
        raise UnicodeDecodeError(exc.encoding, data, exc.start + skip, exc.end + skip,
                                 exc.reason) from None


def error_line(data: bytes, offset: int) -> tuple[int, int]:
    """``(line, column)``, 1-based, of byte ``offset`` of ``data`` (in its own encoding)."""
    encoding, skip = bom_encoding(data)
    if encoding == "utf-8":
        return (data.count(b"\n", 0, offset) + 1,
                offset - (data.rfind(b"\n", 0, offset) + 1) + 1)
    before = data[skip:skip + (offset - skip) // 2 * 2].decode(encoding, errors="replace")
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1


def header_delimiter(line: str) -> str:
    """The delimiter of a header line: the one of :data:`DELIMITERS` it holds most."""
    return max(DELIMITERS, key=line.count)


def delimiter_name(delimiter: str) -> str:
    """``"';'"``, ``"','"`` or ``"tabs"``, for messages."""
    return _NAMES.get(delimiter, repr(delimiter))


def split_header_cells(line: str) -> tuple[list[str], str, bool]:
    """``(names, delimiter, trailing)`` of a header line: the names stripped of spaces and
    quotes, and whether the line ends with a delimiter after its last name (``trailing``; the
    empty name it makes is not in ``names``)."""
    delimiter = header_delimiter(line)
    names = [cell.strip().strip('"').strip() for cell in line.split(delimiter)]
    trailing = len(names) > 1 and names[-1] == ""
    return (names[:-1] if trailing else names), delimiter, trailing


def number_text(cell: str, delimiter: str) -> str:
    """A cell's text as Python reads numbers: a decimal comma made a point where the delimiter
    is not a comma (``0,55`` in a ``;``-separated file)."""
    return cell.replace(",", ".") if delimiter != "," else cell


def to_commas(data: bytes, delimiter: str) -> bytes:
    """``data`` (UTF-8, no quotes) with ``delimiter`` made ``,`` and decimal commas made
    ``.``: the form the fast readers take, same length. Unchanged for ``,``."""
    return data if delimiter == "," else data.translate(_TO_COMMAS[delimiter])
