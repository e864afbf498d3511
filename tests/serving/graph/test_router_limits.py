"""The router bounds what it reads: a body over `RouterConfig.max_body_bytes` is 413 and never forwarded;
request headers over `RouterConfig.max_header_bytes` are 431, refused by the server before the app reads them."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from _helpers import AsgiServer, raw_request

from aiprime.serving.graph import RouterConfig, create_app, parse_graph
from aiprime.serving.graph.app import server_options

FAILED = "Failed to process request"


def _graph(zoo, make_graph) -> dict:
    return make_graph({"root": {"routerType": "Sequence", "steps": [{"serviceUrl": zoo.path("/echo/a")}]}})


def test_a_body_over_the_limit_is_413_and_not_forwarded(http, router, zoo, make_graph) -> None:
    url = router(_graph(zoo, make_graph), config=RouterConfig(max_body_bytes=4096))
    small = http.post(url, content=json.dumps({"instances": ["x" * 100]}))
    declared = http.post(url, content=json.dumps({"instances": ["x" * 5000]}))
    assert small.status_code == 200, small.text
    assert declared.status_code == 413
    assert declared.json()["error"] == FAILED
    assert "RouterConfig.max_body_bytes" in declared.json()["cause"]
    assert zoo.state.calls["/echo/a"] == 1  # only the small one went through


def test_a_chunked_body_over_the_limit_is_413_too(http, router, zoo, make_graph) -> None:
    url = router(_graph(zoo, make_graph), config=RouterConfig(max_body_bytes=4096))

    def chunks():
        yield b'{"instances": ["'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"]}'

    answer = http.post(url, content=chunks(), headers={"content-type": "application/json"})
    assert answer.status_code == 413
    assert zoo.state.calls["/echo/a"] == 0


def test_the_default_limit_takes_a_megabyte_and_refuses_a_hundred(http, router, zoo, make_graph) -> None:
    url = router(_graph(zoo, make_graph))
    megabyte = http.post(url, content=json.dumps({"instances": ["x" * (1 << 20)]}))
    hundred = http.post(url, content=b"x" * (100 << 20))
    assert megabyte.status_code == 200, megabyte.text[:200]
    assert hundred.status_code == 413
    assert zoo.state.calls["/echo/a"] == 1


@pytest.fixture
def bounded_router(zoo, make_graph) -> Iterator[str]:
    """A router served as `serve_router` serves it (`server_options`), with a 16 KiB header limit."""
    config = RouterConfig(max_header_bytes=16 << 10)
    app = create_app(parse_graph(_graph(zoo, make_graph)), {}, config)
    with AsgiServer(app, **server_options(config)) as server:
        yield server.url


def test_a_huge_header_is_431_before_it_is_read_and_not_forwarded(bounded_router, zoo) -> None:
    body = b'{"instances": ["x"]}'
    huge = (
        b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 20\r\nx-pad: " + b"a" * (8 << 20) + b"\r\n\r\n" + body
    )
    answer = raw_request(bounded_router, huge)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    refusal = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert refusal["error"] == FAILED
    assert "RouterConfig.max_header_bytes" in refusal["cause"]
    assert zoo.state.calls["/echo/a"] == 0


def test_many_small_headers_over_the_limit_are_431_and_the_router_serves_on(
    bounded_router, http, zoo
) -> None:
    many = {f"x-h{i}": "v" * 100 for i in range(200)}  # 20 KB in small headers
    refused = http.post(bounded_router, content=b'{"instances": ["x"]}', headers=many)
    fine = http.post(bounded_router, content=b'{"instances": ["x"]}', headers={"x-h": "v" * 100})
    assert refused.status_code == 431
    assert fine.status_code == 200, fine.text
    assert zoo.state.calls["/echo/a"] == 1


def test_headers_over_the_limit_on_a_kept_alive_connection_are_431_too(bounded_router, http, zoo) -> None:
    fine = http.post(bounded_router, content=b'{"instances": ["x"]}')
    many = {f"x-h{i}": "v" * 100 for i in range(200)}  # 20 KB, on the connection the first request opened
    refused = http.post(bounded_router, content=b'{"instances": ["x"]}', headers=many)
    assert fine.status_code == 200, fine.text
    assert refused.status_code == 431
    assert zoo.state.calls["/echo/a"] == 1
