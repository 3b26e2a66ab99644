"""`python -m etiquette.service serve|users|report`: the service alone, without the speech path."""

from etiquette.service.cli import app
from etiquette.service.report_cli import report

app.command("report")(report)
app()
