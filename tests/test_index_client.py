"""Reading simple-API pages: PEP 691 JSON and PEP 503 HTML."""

from __future__ import annotations

import json

from constraints_gen.install.index import RemoteFile, parse_page

BASE = "https://example.org/simple/torch/"


def test_pep691_json() -> None:
    body = json.dumps(
        {
            "meta": {"api-version": "1.1"},
            "name": "torch",
            "files": [
                {"filename": "torch-2.5.1-py3-none-any.whl", "url": "../../f/torch.whl",
                 "hashes": {"sha256": "ab" * 32}},
                {"filename": "torch-2.5.1.tar.gz", "url": "https://cdn/t.tgz", "hashes": {}},
            ],
        }
    ).encode()  # fmt: skip
    assert parse_page(body, "application/vnd.pypi.simple.v1+json", BASE) == [
        RemoteFile(
            filename="torch-2.5.1-py3-none-any.whl",
            url="https://example.org/f/torch.whl",
            sha256="ab" * 32,
        ),
        RemoteFile(filename="torch-2.5.1.tar.gz", url="https://cdn/t.tgz", sha256=None),
    ]


def test_pep503_html() -> None:
    body = (
        b'<html><body><a href="../../f/torch-2.5.1%2Bcu121-py3-none-any.whl#sha256=cd">x</a>'
        b'<a href="https://cdn/torch-2.5.1.tar.gz#md5=00">y</a></body></html>'
    )
    assert parse_page(body, "text/html; charset=utf-8", BASE) == [
        RemoteFile(
            filename="torch-2.5.1+cu121-py3-none-any.whl",
            url="https://example.org/f/torch-2.5.1%2Bcu121-py3-none-any.whl",
            sha256="cd",
        ),
        RemoteFile(
            filename="torch-2.5.1.tar.gz", url="https://cdn/torch-2.5.1.tar.gz", sha256=None
        ),
    ]
