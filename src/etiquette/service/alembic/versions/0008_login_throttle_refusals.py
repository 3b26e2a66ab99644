"""login_throttles.refused, audited_at: refused attempts counted and audited in summary
(the first of a wait, then at most one entry per interval), not one audit entry each

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('login_throttles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('refused', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('audited_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('login_throttles', schema=None) as batch_op:
        batch_op.drop_column('audited_at')
        batch_op.drop_column('refused')
