"""The one redaction boundary (constraints_gen/redact.py): credentials are masked in any text."""

from __future__ import annotations

import pytest

from constraints_gen.errors import InputError
from constraints_gen.redact import has_credentials, parse_url, redact, split_credentials, url_digest


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("https://u:p@h.example/simple", "https://u:****@h.example/simple"),
        ("https://tok@h.example:8443/s", "https://****@h.example:8443/s"),
        ("https://u:@h.example/s", "https://u:****@h.example/s"),
        # in messages: uv's backticks, JSON's quotes, a repr, a sentence, several URLs
        ("Failed to fetch: `https://u:s3@h/simple/torch/`", "Failed to fetch: `https://u:****@h/simple/torch/`"),
        ('{"wheelhouse": "https://u:s3@h/simple"}', '{"wheelhouse": "https://u:****@h/simple"}'),
        ("got 'http://u:s3@h/x', then http://v:t4@g/y.", "got 'http://u:****@h/x', then http://v:****@g/y."),
        ("$ uv --index cg1=https://u:p%40ss@h/s", "$ uv --index cg1=https://u:****@h/s"),
        # a password with a raw "/", "#", "?" or "@": the authority ends early; still masked
        ("https://u:pa/ss@h/simple", "https://u:****@h/simple"),
        ("https://u:p#ss@h/simple", "https://u:****@h/simple"),
        ("https://u:p?ss@h/simple", "https://u:****@h/simple"),
        ("https://u:p@ss@h/simple", "https://u:****@h/simple"),
        ("https://u:12/34@h/simple", "https://u:****@h/simple"),
        # nothing to mask
        ("https://h.example/simple", "https://h.example/simple"),
        ("https://h.example/simple/pkg@1.0", "https://h.example/simple/pkg@1.0"),
        ("mail me@example.org", "mail me@example.org"),
        ("/home/u@x/wheels", "/home/u@x/wheels"),
    ],
)  # fmt: skip
def test_redact_masks_every_url_in_a_text(text: str, shown: str) -> None:
    assert redact(text) == shown
    assert redact(shown) == shown  # masking is idempotent


def test_redact_of_a_long_text_masks_a_url_anywhere_in_it() -> None:
    head = "# Inputs: cuda130.toml@5e3522c0a2c5 manifest.toml@57684531532b\n"
    body = "".join(f"pkg{i}==1.0 \\\n    --hash=sha256:{i:064x}\n" for i in range(2000))
    assert redact(head + body) == head + body  # an "@" but no URL: the text as it is
    url = "--extra-index-url https://u:s3cret@h.example/simple\n"
    assert redact(head + body + url + body) == (
        head + body + "--extra-index-url https://u:****@h.example/simple\n" + body
    )


@pytest.mark.parametrize("password", ["pa/ss", "p#ss", "p?ss", "p/a#s?s"])
def test_a_url_that_cannot_be_read_is_refused_masked(password: str) -> None:
    url = f"https://me:{password}@h.example/simple"
    with pytest.raises(InputError) as caught:
        parse_url(url)
    assert caught.value.message == (
        "https://me:****@h.example/simple: not a URL that can be read (its host and port cannot"
        " be told apart)"
    )
    assert caught.value.tip is not None and "percent-encode" in caught.value.tip
    assert password not in caught.value.message + caught.value.tip
    with pytest.raises(InputError):
        split_credentials(url)


def test_split_credentials_decodes_and_parse_url_accepts_encoded_passwords() -> None:
    url = "https://me:pa%2Fss%23x@h.example:8443/simple"
    assert parse_url(url).port == 8443
    assert split_credentials(url) == ("https://h.example:8443/simple", ("me", "pa/ss#x"))
    assert has_credentials(url) and not has_credentials("https://h.example/s")


def test_url_digest_holds_no_url() -> None:
    digest = url_digest("pypi=https://me:s3cret@h.example/simple")
    assert len(digest) == 64 and "s3cret" not in digest and "h.example" not in digest
    assert digest != url_digest("pypi=https://me:other@h.example/simple")
