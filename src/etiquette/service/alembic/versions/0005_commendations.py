"""commendations: bonus points of the scoring scheme

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 09:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('commendations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('window_pk', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=120), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['window_pk'], ['windows.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_commendations_window_at', 'commendations', ['window_pk', 'at'])


def downgrade() -> None:
    op.drop_index('ix_commendations_window_at', table_name='commendations')
    op.drop_table('commendations')
