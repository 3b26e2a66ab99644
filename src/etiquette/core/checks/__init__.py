"""Checks beyond phrase lists (issue 19): turn-taking, voice, language, apologies and rules
composed of operators, judged over a whole service session (no I/O, batch and live alike).

A check is a section of `rules/checks.yaml`: a `CheckRule` (`base.py`) whose fields are its
thresholds, severity and deduction, and whose `judge(view)` returns the session's incidents of
its kind. `rules.py` gathers the sections and loads the file; batch (`etiquette.pipeline`) and
live (`etiquette.live.window`) build one `SessionView` per session and call `judge_checks`.

To add a check: a module here with its `CheckRule` subclass, a field for it in
`rules.CheckRules`, and its section (with Chinese comments) in rules/checks.yaml.
"""
