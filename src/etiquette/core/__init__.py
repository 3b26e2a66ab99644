"""The pure core: records in, records out.

Rules and their context, phrase matching, service sessions, judging, incidents, scoring and
the presence logic. Nothing here does I/O or imports an adapter (import-linter checks it:
pyproject.toml, `[tool.importlinter]`), so every judgement can be tested on plain records.
"""
