"""`python -m etiquette.service serve|users`: the service alone, without the speech path."""

from etiquette.service.cli import app

app()
