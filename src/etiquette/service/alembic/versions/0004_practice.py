"""practice attempts of the staff self-training page

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('practice_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=True),
    sa.Column('rule_id', sa.String(length=64), nullable=False),
    sa.Column('phrase', sa.String(length=500), nullable=False),
    sa.Column('transcript', sa.Text(), nullable=False),
    sa.Column('recognised', sa.Boolean(), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('missed', sa.JSON(), nullable=False),
    sa.Column('duration_s', sa.Float(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_practice_attempts_user_id', 'practice_attempts', ['user_id'])


def downgrade() -> None:
    op.drop_index('ix_practice_attempts_user_id', table_name='practice_attempts')
    op.drop_table('practice_attempts')
