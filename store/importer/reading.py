"""Reading import files: text encoding, CSV rows with line numbers, typed cells, GeoJSON.

This module owns turning bytes into located values and nothing else: what the
columns mean is ``parse``'s business. Every problem becomes a :class:`RowError`
appended to a caller's list; nothing here raises on bad input.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from store.importer.model import RowError

_TRUE = frozenset({"true", "t", "yes", "y", "1", "是"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "否"})
_WHITESPACE = re.compile(r"\s*")


# --------------------------------------------------------------------------- text


def decode(name: str, data: bytes, errors: list[RowError]) -> str | None:
    """UTF-8 text with or without a BOM; anything else is one error naming the line."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        errors.append(RowError(name, 0, "", "file is UTF-16; save it as UTF-8 (\"CSV UTF-8\")"))
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        hint = "; it looks like GBK/GB18030: save it as UTF-8" if _is_gb18030(data) else ""
        errors.append(RowError(name, line, "", f"not UTF-8 text (byte 0x{data[exc.start]:02x})"
                                               f"{hint}"))
        return None


def _is_gb18030(data: bytes) -> bool:
    try:
        data.decode("gb18030")
    except UnicodeDecodeError:
        return False
    return True


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


# --------------------------------------------------------------------------- CSV


@dataclass(frozen=True, slots=True)
class CsvRow:
    line: int
    values: dict[str, str]


@dataclass(frozen=True, slots=True)
class CsvTable:
    header: tuple[str, ...]  # lower-cased, stripped names; "" for an unnamed column
    rows: tuple[CsvRow, ...]


def read_csv(name: str, text: str, errors: list[RowError]) -> CsvTable | None:
    """Rows keyed by header name, each with the line it starts on; blank rows skipped."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        raw_header = next(reader, None)
        if raw_header is None:
            errors.append(RowError(name, 0, "", "file is empty (a header row is required)"))
            return None
        header = tuple(cell.strip().lower() for cell in raw_header)
        rows = list(_csv_rows(name, header, reader, errors))
    except csv.Error as exc:
        errors.append(RowError(name, reader.line_num, "", f"malformed CSV: {exc}"))
        return None
    return CsvTable(header, tuple(rows))


def _csv_rows(name: str, header: tuple[str, ...], reader: Any,
              errors: list[RowError]) -> Iterator[CsvRow]:
    while True:
        line = reader.line_num + 1
        cells = next(reader, None)
        if cells is None:
            return
        cells = [cell.strip() for cell in cells]
        if not any(cells):
            continue
        if len(cells) > len(header) and any(cells[len(header):]):
            errors.append(RowError(name, line, "", f"{len(cells)} values but the header has "
                                                   f"{len(header)} columns"))
        for index, column in enumerate(header):
            if column == "" and index < len(cells) and cells[index]:
                errors.append(RowError(name, line, f"(column {index + 1})",
                                       "value in a column without a header"))
        values = {column: cells[i] if i < len(cells) else "" for i, column in enumerate(header)
                  if column}
        yield CsvRow(line, values)


def check_header(name: str, header: tuple[str, ...], columns: tuple[str, ...],
                 required: tuple[str, ...], errors: list[RowError]) -> None:
    """Unknown, repeated and missing columns, each an error on line 1."""
    if len(header) == 1 and (";" in header[0] or "\t" in header[0]):
        errors.append(RowError(name, 1, "", "columns must be separated by commas"))
        return
    seen: set[str] = set()
    for column in header:
        if not column:
            continue
        if column in seen:
            errors.append(RowError(name, 1, column, "column appears twice"))
        elif column not in columns:
            errors.append(RowError(name, 1, column, f"unknown column (known: "
                                                    f"{', '.join(columns)})"))
        seen.add(column)
    for column in required:
        if column not in seen:
            errors.append(RowError(name, 1, column, "required column is missing"))


# --------------------------------------------------------------------------- cells


class Cells:
    """One row's values by column; each reader method reports its own problems.

    A required value whose column is missing from the header is not reported again
    on every row (the header error already says so).
    """

    def __init__(self, file: str, line: int, values: dict[str, str],
                 header: frozenset[str], errors: list[RowError]) -> None:
        self.file = file
        self.line = line
        self.values = values
        self.header = header
        self.errors = errors
        self.failed = False

    def error(self, column: str, message: str) -> None:
        self.failed = True
        self.errors.append(RowError(self.file, self.line, column, message))

    def raw(self, column: str) -> str:
        return self.values.get(column, "")

    def _present(self, column: str, required: bool) -> str | None:
        value = self.raw(column)
        if value:
            return value
        if required:
            if column in self.header:
                self.error(column, "a value is required")
            else:
                self.failed = True
        return None

    def text(self, column: str, *, required: bool = False, max_length: int = 200) -> str | None:
        value = self._present(column, required)
        if value is not None and len(value) > max_length:
            self.error(column, f"longer than {max_length} characters")
            return None
        return value

    def matching(self, column: str, pattern: re.Pattern[str], what: str, *,
                 required: bool = False, echo: bool = True) -> str | None:
        value = self._present(column, required)
        if value is not None and not pattern.fullmatch(value):
            shown = f"{value!r} is" if echo else "value is"
            self.error(column, f"{shown} not a valid {what}")
            return None
        return value

    def choice(self, column: str, options: tuple[str, ...], *,
               required: bool = False) -> str | None:
        value = self._present(column, required)
        if value is not None and value not in options:
            self.error(column, f"{value!r} is not one of {', '.join(options)}")
            return None
        return value

    def number(self, column: str, *, required: bool = False, low: float | None = None,
               high: float | None = None, positive: bool = False) -> float | None:
        value = self._present(column, required)
        if value is None:
            return None
        try:
            number = float(value)
        except ValueError:
            self.error(column, f"{value!r} is not a number")
            return None
        return number if self._in_range(column, number, low, high, positive) else None

    def _in_range(self, column: str, number: float, low: float | None, high: float | None,
                  positive: bool) -> bool:
        if not math.isfinite(number):
            self.error(column, "must be a finite number")
        elif positive and number <= 0:
            self.error(column, f"must be greater than 0 (got {number:g})")
        elif low is not None and high is not None and not low <= number <= high:
            self.error(column, f"{number:g} is outside [{low:g}, {high:g}]")
        elif high is not None and number > high:
            self.error(column, f"must be at most {high:g} (got {number:g})")
        else:
            return True
        return False

    def boolean(self, column: str, default: bool) -> bool:
        value = self._present(column, False)
        if value is None:
            return default
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        self.error(column, f"{value!r} is not true or false")
        return default

    def json_value(self, column: str) -> Any:
        """The parsed JSON value, or None when empty or invalid."""
        value = self._present(column, False)
        if value is None:
            return None
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            self.error(column, f"invalid JSON: {exc.msg} at character {exc.pos + 1}")
            return None


# --------------------------------------------------------------------------- GeoJSON


def read_json(name: str, text: str, errors: list[RowError]) -> Any:
    """The parsed document, or None after reporting where the syntax breaks."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        errors.append(RowError(name, exc.lineno, "", f"invalid JSON: {exc.msg} "
                                                     f"(column {exc.colno})"))
        return None


def feature_lines(text: str) -> list[int]:
    """The line each element of the top-level ``features`` array starts on.

    ``text`` must already be known to be valid JSON with an object at the top.
    """
    decoder = json.JSONDecoder()
    at = _skip(text, _skip(text, 0) + 1)
    lines: list[int] = []
    while at < len(text) and text[at] != "}":
        key, at = decoder.raw_decode(text, at)
        at = _skip(text, _skip(text, at) + 1)  # past the colon
        if key == "features" and text[at] == "[":
            lines, at = _array_lines(decoder, text, at)
        else:
            _, at = decoder.raw_decode(text, at)
        at = _skip(text, at)
        if text[at] == ",":
            at = _skip(text, at + 1)
    return lines


def _array_lines(decoder: json.JSONDecoder, text: str, at: int) -> tuple[list[int], int]:
    lines: list[int] = []
    at = _skip(text, at + 1)
    while text[at] != "]":
        lines.append(line_of(text, at))
        _, at = decoder.raw_decode(text, at)
        at = _skip(text, at)
        if text[at] == ",":
            at = _skip(text, at + 1)
    return lines, at + 1


def _skip(text: str, at: int) -> int:
    match = _WHITESPACE.match(text, at)
    return match.end() if match else at
