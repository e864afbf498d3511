"""Bounded request headers for the servers AI Prime runs with uvicorn (the gateway and the router).

uvicorn's httptools parser reads a request's headers whatever their size (a 100 MB header was read and
answered), so `HeaderBoundedHttpTools` counts the request line and header bytes before it parses them and
answers 431 once they pass `h11_max_incomplete_event_size` (uvicorn's h11 parser, when chosen, answers 400
past the same size): headers streamed forever are cut off, and complete ones over the limit never reach the
app. Each server subclasses it to say, in its own error format, which setting holds the limit.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class HeaderBoundedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol, answering 431 once a request's headers outgrow the configured size."""

    _header_bytes = 0  # bytes received since the request began, while its headers were being read
    _tail = b""  # the last bytes of the previous chunk: the blank line may straddle two chunks
    _reading_headers = True

    def refusal_body(self, limit: int) -> bytes:
        """The JSON body of the 431 answer: which limit was passed, and the fix."""
        raise NotImplementedError

    def data_received(self, data: bytes) -> None:
        limit = self.config.h11_max_incomplete_event_size
        if self._reading_headers and limit and self._count_header_bytes(data) > limit:
            if not self.transport.is_closing():
                self._send_431(limit)
            return  # never parsed: a huge header is not read into memory, a complete one never reaches the app
        super().data_received(data)

    def _count_header_bytes(self, data: bytes) -> int:
        """The request line and header bytes so far, counting `data` up to the blank line that ends them."""
        seen = self._tail + data
        end = seen.find(b"\r\n\r\n")
        counted = self._header_bytes + (len(data) if end < 0 else end + 4 - len(self._tail))
        self._header_bytes, self._tail = self._header_bytes + len(data), seen[-3:]
        return counted

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._reading_headers = True  # a kept-alive connection's next bytes are the next request's headers

    def on_headers_complete(self) -> None:
        self._reading_headers, self._header_bytes, self._tail = False, 0, b""
        super().on_headers_complete()

    def _send_431(self, limit: int) -> None:
        body = self.refusal_body(limit)
        head = (
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n"
        )
        self.transport.write(head + body)
        self.transport.close()
