"""The finance layer: market data, indicators, tick analytics, strategies, risk.

It depends on the quantq core only through ``quantq.finance.tasks`` (and the strategy
sandbox runner); the core never imports it.  Workers find its tasks through the
``quantq.tasks`` entry point, and the CLI finds ``quantq data …`` through ``quantq.cli``.
"""
