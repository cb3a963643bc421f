"""Helpers for tests: wait on a condition with a deadline (never a bare sleep)."""
from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout: float = 20.0, interval: float = 0.05,
             message: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def queue_counts(amqp_url: str, queue: str) -> tuple[int, int]:
    """(ready messages, consumers) of a queue; (0, 0) while it does not exist yet."""
    from kombu import Connection
    with Connection(amqp_url) as conn:
        try:
            _, ready, consumers = conn.channel().queue_declare(queue, passive=True)
        except Exception:
            return 0, 0
    return ready, consumers


def terminate(processes, timeout: float = 30) -> None:
    """SIGTERM every process, then wait for each (killing any that overstays)."""
    import signal
    import subprocess
    for proc in processes:
        proc.send_signal(signal.SIGTERM)
    for proc in processes:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
