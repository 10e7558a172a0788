"""Sandboxed execution of student code: a clean zygote forks one isolated worker per submission.

The names below are the trusted side's (``grader.sandbox.client``), imported on first use: the zygote
and its workers import this package too, under the workers' Python (3.9+), and need none of them.
"""
from __future__ import annotations

_CLIENT = ("Limits", "Worker", "WorkerFailure", "Zygote", "missing_essential_layers", "probe_layers")
__all__ = list(_CLIENT)


def __getattr__(name: str):
    if name in _CLIENT:
        from grader.sandbox import client

        return getattr(client, name)
    raise AttributeError(f"module 'grader.sandbox' has no attribute '{name}'")
