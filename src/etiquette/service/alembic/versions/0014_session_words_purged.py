"""service_sessions.words_purged_at: when the retention purge erased the session's words (its
utterances' text), keeping the record's facts

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('service_sessions',
                  sa.Column('words_purged_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('service_sessions', 'words_purged_at')
