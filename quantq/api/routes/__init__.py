"""Routes split by noun: jobs, events, system, and the seeds' compatibility surfaces."""

from __future__ import annotations
