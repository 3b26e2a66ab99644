"""window_heartbeats: the latest heartbeat of each window from its live site (大厅态势)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('window_heartbeats',
    sa.Column('window_pk', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('interval_s', sa.Float(), nullable=False),
    sa.Column('state', sa.JSON(), nullable=False),
    sa.Column('seat', sa.String(length=16), nullable=True),
    sa.Column('seat_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('api_key_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['api_key_id'], ['api_keys.id'], ),
    sa.ForeignKeyConstraint(['window_pk'], ['windows.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('window_pk')
    )


def downgrade() -> None:
    op.drop_table('window_heartbeats')
