"""Recognising files that are not what their name says, so the error can say what they are.

A PNG renamed ``prices.csv`` should fail with "it is a PNG image", not with a decoding error
at byte 0; an Excel workbook, with "export it as CSV UTF-8".
"""

from __future__ import annotations

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PAR1", "a Parquet file; give it the suffix .parquet"),
    (b"PK\x03\x04", "a zip archive or an Excel workbook; export the sheet as 'CSV UTF-8'"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel 97-2003 workbook; export the sheet as 'CSV UTF-8'"),
    (b"\x1f\x8b", "gzip-compressed; decompress it first"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\xff\xfe", "UTF-16 text; save it as UTF-8 (Excel: 'CSV UTF-8')"),
    (b"\xfe\xff", "UTF-16 text; save it as UTF-8 (Excel: 'CSV UTF-8')"),
)


def binary_kind(data: bytes) -> str | None:
    """What ``data`` is when it is not text: ``"a PNG image"``, ... or ``"binary data"``
    (a NUL byte among the first 4 KiB); None for anything that may be text."""
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    return "binary data" if b"\x00" in data[:4096] else None
