"""Finance-layer tests."""
