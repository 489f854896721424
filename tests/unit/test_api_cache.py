"""The API's kept responses (api/cache.py): ETag matching and what stays in memory."""

from __future__ import annotations

import gzip
import zlib

from batch_monitor.api import cache


def test_if_none_match_names_the_tag_in_a_list_weakly_or_with_a_star() -> None:
    tag = cache.etag_of(b'{"a":1}')
    assert tag == cache.etag_of(b'{"a":1}') != cache.etag_of(b'{"a":2}')
    assert cache.matches(tag, tag)
    assert cache.matches(f'"other", W/{tag}', tag)
    assert cache.matches("*", tag)
    assert not cache.matches(None, tag)
    assert not cache.matches('"other"', tag)
    assert not cache.matches(tag[:-2] + '"', tag)


def test_a_newer_revision_replaces_a_day_and_the_oldest_day_goes_first() -> None:
    kept: cache.Kept[str] = cache.Kept(entries=2)
    built: list[str] = []

    def build(value: str) -> str:
        built.append(value)
        return value

    assert kept.get_or_build("day 1", "rev 1", lambda: build("day 1 at rev 1")) == "day 1 at rev 1"
    assert kept.get_or_build("day 1", "rev 1", lambda: build("again")) == "day 1 at rev 1"
    assert kept.get_or_build("day 1", "rev 2", lambda: build("day 1 at rev 2")) == "day 1 at rev 2"
    assert len(kept) == 1  # the older revision is not kept beside it
    kept.get_or_build("day 2", "rev 1", lambda: build("day 2"))
    kept.get_or_build("day 1", "rev 2", lambda: build("not built"))  # day 1 is the most recent again
    kept.get_or_build("day 3", "rev 1", lambda: build("day 3"))  # day 2 leaves
    assert len(kept) == 2
    kept.get_or_build("day 2", "rev 1", lambda: build("day 2 rebuilt"))
    assert built == ["day 1 at rev 1", "day 1 at rev 2", "day 2", "day 3", "day 2 rebuilt"]


def test_the_json_text_is_compact_utf8() -> None:
    assert cache.encode({"name": "Prepay – biller", "n": [1, 2.5, None, True]}) == (
        '{"name":"Prepay – biller","n":[1,2.5,null,true]}'.encode()
    )


def test_a_kept_body_is_compressed_once_with_its_own_tag() -> None:
    body = cache.encode({"steps": [{"step_id": f"S{i}", "status": "complete"} for i in range(500)]})
    encoded = cache.Encoded.of(body, compress=True)
    assert encoded.gzipped is not None and len(encoded.gzipped) < len(body) // 10
    assert gzip.decompress(encoded.gzipped) == body
    assert encoded.gzip_etag != encoded.etag and encoded.gzip_etag.endswith('-gzip"')
    assert cache.Encoded.of(body, compress=True).gzipped == encoded.gzipped  # no timestamp inside


def test_a_spliced_body_is_the_whole_object_and_its_gzip_decodes_to_it() -> None:
    data = {
        "workflow_id": "w",
        "reference_time": None,
        "per_step": [{"step_id": f"S{i}", "name": "Prepay – biller"} for i in range(800)],
        "failed_last_24h": None,
        "breaches": 2,
        "last_tick_at": None,
    }
    spliced = cache.Spliced.of(data, {"reference_time", "failed_last_24h", "last_tick_at"})
    assert spliced.fields == ("reference_time", "failed_last_24h", "last_tick_at")
    values = {"reference_time": "2024-03-12T10:00:00Z", "failed_last_24h": 3, "last_tick_at": "x" * 70_000}
    filled = spliced.fill(values)
    assert filled.body == cache.encode({**data, **values})
    assert filled.etag == cache.etag_of(filled.body)
    assert sum(map(len, spliced.compressed)) < sum(map(len, spliced.fixed)) // 3  # the open fields go stored
    assert filled.gzipped is not None
    assert gzip.decompress(filled.gzipped) == filled.body
    stream = zlib.decompressobj(zlib.MAX_WBITS | 16)  # as HTTP clients decode Content-Encoding: gzip
    assert stream.decompress(filled.gzipped) + stream.flush() == filled.body and stream.eof


def test_an_object_without_open_fields_is_spliced_whole() -> None:
    filled = cache.Spliced.of({"a": 1, "b": [True, None]}, ()).fill({})
    assert filled.body == b'{"a":1,"b":[true,null]}'
    assert filled.gzipped is not None and gzip.decompress(filled.gzipped) == filled.body
