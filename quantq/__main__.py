from __future__ import annotations

from quantq.cli.main import main

main()
