"""User strategy code: the contract, AST validation, and the sandbox that runs it.

``validate`` checks source before anything runs; ``sandbox.Sandbox`` runs it in a clean
runner process that forks one confined child per run (limits, namespaces, Landlock,
seccomp). ``helpers`` is the module strategies may import.
"""

from __future__ import annotations
