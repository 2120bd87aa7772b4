"""Helpers of the web tests: test clients, short synthetic audio files, a live server."""

from __future__ import annotations

import socket
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf

with warnings.catch_warnings():  # starlette's notice about httpx2; httpx is what we have
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from stemforge.jobs.store import JobSettings

#: Jobs in tests: progress written at once, retries after 50 ms.
FAST_JOBS = JobSettings(max_attempts=2, backoff_s=0.05, progress_interval_s=0.0)
BASE_URL = "http://127.0.0.1"


def client(app) -> TestClient:
    """A test client on a loopback Host (local mode refuses other Host headers)."""
    return TestClient(app, base_url=BASE_URL)


def sine_file(
    path: Path,
    *,
    amplitude: float = 0.5,
    duration_s: float = 3.0,
    frequency_hz: float = 440.0,
    sample_rate: int = 44_100,
    channels: int = 2,
    subtype: str = "PCM_16",
    fmt: str | None = None,
) -> Path:
    """A sine wave file (each channel the same)."""
    t = np.arange(int(duration_s * sample_rate)) / sample_rate
    mono = amplitude * np.sin(2 * np.pi * frequency_hz * t)
    sf.write(
        path, np.repeat(mono[:, None], channels, axis=1), sample_rate, subtype=subtype, format=fmt
    )
    return path


class LiveServer:
    """An app served by uvicorn on a free loopback port, in a thread."""

    def __init__(self, app):
        import uvicorn

        self.app = app
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the live server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()
