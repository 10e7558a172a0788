"""Sandboxed execution of student code: a clean zygote forks one isolated worker per submission."""
from grader.sandbox.client import Limits, Worker, WorkerFailure, Zygote, missing_essential_layers, probe_layers

__all__ = ["Limits", "Worker", "WorkerFailure", "Zygote", "missing_essential_layers", "probe_layers"]
