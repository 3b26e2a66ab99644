"""What every multipart upload must satisfy before its parts are looked at."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from etiquette.service.errors import Invalid


def refuse_repeated_parts(names: Iterable[str]) -> None:
    """Each form part once: of two `clip` (or `audio`, or `file`) parts, which one counts would
    be nobody's choice. Raises Invalid naming the repeated parts."""
    repeated = sorted(name[:40] for name, n in Counter(names).items() if n > 1)
    if repeated:
        raise Invalid(f"表单部分「{'」「'.join(repeated)}」重复 (form parts sent more than once: "
                      f"{', '.join(repeated)}; send each once)")
