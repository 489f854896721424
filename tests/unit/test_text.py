"""The shared text helpers: one duration format, one recipient parser, credential masking, cutting."""

from __future__ import annotations

import datetime as dt

import pytest

from batch_monitor.text import cut, format_duration, mask_credentials, parse_recipients


@pytest.mark.parametrize(
    ("delta", "words"),
    [
        (None, "—"),
        (0, "0s"),
        (40, "40s"),
        (dt.timedelta(seconds=-5), "0s"),
        (dt.timedelta(seconds=59.9), "59s"),
        (dt.timedelta(minutes=1), "1m"),
        (35 * 60, "35m"),
        (dt.timedelta(minutes=45, seconds=30), "45m"),
        (dt.timedelta(hours=1), "1h 00m"),
        (dt.timedelta(hours=2, minutes=5), "2h 05m"),
        (4 * 3600 + 23 * 60, "4h 23m"),
        (dt.timedelta(days=1, hours=3), "1d 3h 00m"),
        (dt.timedelta(days=2, hours=0, minutes=7), "2d 0h 07m"),
    ],
)
def test_a_duration_reads_the_same_in_mails_pages_and_logs(delta: dt.timedelta | float | None, words: str) -> None:
    assert format_duration(delta) == words


@pytest.mark.parametrize(
    ("value", "addresses"),
    [
        (None, []),
        ("", []),
        ("a@x.org", ["a@x.org"]),
        ("a@x.org, b@x.org;c@x.org  a@x.org", ["a@x.org", "b@x.org", "c@x.org"]),
        ("a@x.org b@x.org\nc@x.org", ["a@x.org", "b@x.org", "c@x.org"]),
        (" ; a@x.org ;, ", ["a@x.org"]),
        (["a@x.org", "b@x.org, c@x.org"], ["a@x.org", "b@x.org", "c@x.org"]),
    ],
)
def test_recipients_split_on_commas_semicolons_and_whitespace(
    value: str | list[str] | None, addresses: list[str]
) -> None:
    assert parse_recipients(value) == addresses


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("postgresql+psycopg2://bm:s3cret@db:5432/x", "postgresql+psycopg2://***@db:5432/x"),
        ("smtp://mailer:hunter22@relay", "smtp://***@relay"),
        ("password=s3cret host=db", "password=*** host=db"),
        ('{"login": "bm", "password": "s3cret"}', '{"login": "bm", "password": "***"}'),
        ("PWD: s3cret; next", "PWD: ***; next"),
        ("connect scott/tiger@ccbprod:1521/CCB failed", "connect scott/***@ccbprod:1521/CCB failed"),
    ],
)
def test_credentials_are_masked(raw: str, masked: str) -> None:
    assert mask_credentials(raw) == masked


def test_masking_leaves_ordinary_error_text_alone() -> None:
    text = "ORA-12545: Connect failed because target host or object does not exist (see https://docs.example/x)"
    assert mask_credentials(text) == text


def test_a_text_within_the_limit_is_kept_as_it_is() -> None:
    assert cut("ORA-12545 Connection timeout", 28) == "ORA-12545 Connection timeout"


def test_a_longer_text_is_cut_to_the_limit_saying_how_long_it_was() -> None:
    text = "ORA-00600: internal error " + "x" * 200_000
    kept = cut(text, 2000)
    assert len(kept) == 2000
    assert kept.startswith("ORA-00600: internal error xxx")
    assert kept.endswith("… (cut: 200,026 characters in all)")


def test_a_limit_shorter_than_the_note_keeps_only_the_text() -> None:
    assert cut("x" * 50, 10) == "x" * 10
