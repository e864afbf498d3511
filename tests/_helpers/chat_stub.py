"""A real OpenAI-compatible chat app for the tests (serve it with `AsgiServer`) that quotes the first source.

`POST /v1/chat/completions` replies `[<first source's id>] <its text>`, read from the last user message of
the grounded prompt, so an answer through it is cited and grounded; `/status/{code}` and `/garbage`
prefixes answer that HTTP status or a body that is no chat completion. Every request body is kept in
`app.state.requests`.
"""

from __future__ import annotations

import re

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

SOURCE = re.compile(r"^- (.+) \[(\S+)\]$", re.MULTILINE)  # a source line of the grounded prompt


def chat_app() -> FastAPI:
    """The stub server's app."""
    app = FastAPI()
    app.state.requests = []

    @app.post("/v1/chat/completions")
    async def complete(request: Request) -> JSONResponse:
        body = await request.json()
        app.state.requests.append(body)
        found = SOURCE.search(body["messages"][-1]["content"])
        reply = f"[{found.group(2)}] {found.group(1)}" if found else "No sources."
        return JSONResponse({"object": "chat.completion", "model": body["model"],
                             "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}}]})  # fmt: skip

    @app.post("/status/{code}/v1/chat/completions")
    async def fail(code: int) -> JSONResponse:
        return JSONResponse({"error": {"message": "model not found"}}, status_code=code)

    @app.post("/garbage/v1/chat/completions")
    async def garbage() -> PlainTextResponse:
        return PlainTextResponse("<html>not json</html>")

    return app
