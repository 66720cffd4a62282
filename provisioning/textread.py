"""Read inventory files as people save them: UTF-8 with or without BOM, UTF-16 ("Unicode
text" of Excel) or Windows-1252 ("ANSI"); CSV with ',' ';' or tab between columns; decimal
commas (and, in ';' files, thousands dots) in numbers. Everything found is reported, never
guessed silently."""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass, field

#: Encodings tried in order after the byte-order marks (cp1252 is Excel's "CSV" on Windows).
ENCODINGS = ("utf-8", "cp1252")
DELIMITERS = (",", ";", "\t")
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")
_THOUSANDS = re.compile(r"^\d{1,3}(\.\d{3})+$")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class DecodeProblem(ValueError):
    """Bytes that are neither UTF-8 nor Windows-1252: where the first bad byte is."""

    def __init__(self, line: int, byte: int) -> None:
        super().__init__(f"line {line}: byte 0x{byte:02x} is neither UTF-8 nor Windows-1252")
        self.line, self.byte = line, byte


@dataclass
class Decoded:
    """A file's text and the encoding it was read with ('utf-8', 'utf-8-bom', 'utf-16', 'cp1252')."""

    text: str
    encoding: str


def decode(data: bytes) -> Decoded:
    """Decode a file's bytes, trying BOMs, then UTF-8, then cp1252; DecodeProblem if none fits."""
    try:  # a byte-order mark names the encoding: bytes that break it are a problem, no guess
        if data.startswith(codecs.BOM_UTF8):
            return Decoded(data[len(codecs.BOM_UTF8):].decode("utf-8", errors="strict"),
                           "utf-8-bom")
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return Decoded(data.decode("utf-16"), "utf-16")
    except UnicodeDecodeError as exc:
        skip = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
        bad = min(len(data) - 1, exc.start + skip)
        raise DecodeProblem(data[:bad].replace(b"\x00", b"").count(b"\n") + 1,
                            data[bad]) from None
    first_bad = 0
    for enc in ENCODINGS:
        try:
            return Decoded(data.decode(enc), enc)
        except UnicodeDecodeError as exc:
            first_bad = max(first_bad, exc.start)
    raise DecodeProblem(data[:first_bad].count(b"\n") + 1, data[first_bad])


def pick_delimiter(first_line: str, known: tuple[str, ...]) -> str:
    """The separator under which the header names the most known columns (',' on a tie)."""
    def score(d: str) -> int:
        try:
            cells = next(csv.reader([first_line], delimiter=d), [])
        except csv.Error:  # e.g. a NUL byte: read_table reports the row
            return 0
        return sum(1 for c in cells if c.strip().lstrip("\ufeff") in known)

    return max(DELIMITERS, key=lambda d: (score(d), d == ","))


@dataclass
class CsvTable:
    """Rows of one CSV file with their line numbers, and what was found about its format."""

    header: list[str] | None
    rows: list[tuple[int, list[str]]]
    delimiter: str
    bad_rows: list[tuple[int, str]] = field(default_factory=list)


def read_table(text: str, known: tuple[str, ...]) -> CsvTable:
    """Split CSV text into a header and (line, cells) rows; unreadable rows go to bad_rows."""
    delim = pick_delimiter(_LINE_BREAK.split(text, maxsplit=1)[0], known)  # "\r" alone: old Mac
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    table = CsvTable(None, [], delim)
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return table
        except csv.Error as exc:  # e.g. a NUL byte, or a quote never closed
            table.bad_rows.append((reader.line_num, str(exc)))
            continue
        if table.header is None:
            table.header = [h.strip() for h in cells]
        else:
            table.rows.append((reader.line_num, cells))


def number_text(value: str, delimiter: str, integer: bool) -> tuple[str, str | None]:
    """A number as written -> (Python-readable text, what was changed or None).

    '-2,5386' -> '-2.5386' (decimal comma); in ';' files an integer '100.000' -> '100000'
    (Indonesian thousands dots)."""
    if not integer and _DECIMAL_COMMA.match(value):
        return value.replace(",", "."), "decimal_comma"
    if integer and delimiter == ";" and _THOUSANDS.match(value):
        return value.replace(".", ""), "thousands_dot"
    return value, None
