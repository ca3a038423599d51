"""Workers: the supervisor (``worker.py``), its slots (``pool.py``), the child entry point
(``child.py``), the shared job runner (``execute.py``) and inline runs (``inline.py``)."""

from __future__ import annotations

from quantq.worker.worker import Worker, WorkerOptions, backoff_delay

__all__ = ["Worker", "WorkerOptions", "backoff_delay"]
