"""The router bounds what it reads: a body over `RouterConfig.max_body_bytes` is 413 and never forwarded."""

from __future__ import annotations

import json

from aiprime.serving.graph import RouterConfig

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
