"""user_centers: the centers a user is limited to (none: every center); api_keys.last_used_at

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-10 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('user_centers',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('center_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['center_id'], ['centers.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'center_id')
    )
    op.create_index(op.f('ix_user_centers_center_id'), 'user_centers', ['center_id'],
                    unique=False)
    with op.batch_alter_table('api_keys') as batch:
        batch.add_column(sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('api_keys') as batch:
        batch.drop_column('last_used_at')
    op.drop_index(op.f('ix_user_centers_center_id'), table_name='user_centers')
    op.drop_table('user_centers')
