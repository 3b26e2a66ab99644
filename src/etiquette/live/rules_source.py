"""The phrase rules a live site runs with, when they are kept in the supervision service.

Admins edit the rules in the service (规则管理); a site whose file says `rules_from_service:
true` fetches the version in force at start (`GET /api/v1/rules/current`), validated as a
rules file is, and keeps a copy in its data folder. If the service cannot be reached at start,
the copy of the last start is used (and said so); without one the site does not start.
"""

from __future__ import annotations

import logging
from pathlib import Path

import httpx

from etiquette.core.rules import DEFAULT_RULES, RulesError, parse_rules
from etiquette.files import atomic_write
from etiquette.sinks.http import INGEST_PATH

logger = logging.getLogger("etiquette.live.rules_source")

RULES_PATH = "/api/v1/rules/current"


class RulesUnavailable(RuntimeError):
    """Neither the service nor an earlier copy could give the rules in force."""


def fetch_rules(url: str, api_key: str, data_dir: Path, timeout_s: float = 10.0) -> Path:
    """A rules file with the service's rules in force (a copy under `data_dir`).

    Raises:
      RulesUnavailable: the service did not answer with valid rules and there is no copy.
    """
    base = url.rstrip("/").removesuffix(INGEST_PATH)
    copy = data_dir / "rules_in_force.yaml"
    try:
        response = httpx.get(base + RULES_PATH, headers={"X-API-Key": api_key}, timeout=timeout_s)
        response.raise_for_status()
        rules = parse_rules(response.text, where=base + RULES_PATH)
    except (httpx.HTTPError, RulesError) as e:
        if copy.is_file():
            logger.warning("rules from the service unavailable (%s); using the copy of the last "
                           "start, %s", e, copy)
            return copy
        raise RulesUnavailable(f"无法从监督考核服务取得规则 (rules unavailable): {e}") from e
    # Whole or not at all: the copy is what the next start falls back on. The meaning model's
    # examples are the bundled ones (as the service validated them), kept beside the copy.
    if rules.meaning is not None:
        examples = DEFAULT_RULES.parent / rules.meaning.examples_file
        atomic_write(data_dir / rules.meaning.examples_file, examples.read_bytes())
    atomic_write(copy, response.text.encode("utf-8"))
    logger.info("rules version %s from the service", response.headers.get("X-Rules-Version-Id"))
    return copy
