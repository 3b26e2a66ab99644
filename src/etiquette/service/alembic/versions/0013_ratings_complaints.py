"""ratings (好差评 of the hall's evaluation device) and complaints

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ratings',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('window_id', sa.String(length=64), nullable=False),
    sa.Column('window_pk', sa.Integer(), nullable=False),
    sa.Column('center_id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ticket', sa.String(length=32), nullable=True),
    sa.Column('level', sa.String(length=24), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('session_id', sa.String(length=36), nullable=True),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('api_key_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['api_key_id'], ['api_keys.id'], ),
    sa.ForeignKeyConstraint(['center_id'], ['centers.id'], ),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], ),
    sa.ForeignKeyConstraint(['window_pk'], ['windows.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_ratings_window_at', 'ratings', ['window_pk', 'at'])
    op.create_index(op.f('ix_ratings_at'), 'ratings', ['at'])
    op.create_index(op.f('ix_ratings_center_id'), 'ratings', ['center_id'])
    op.create_index(op.f('ix_ratings_session_id'), 'ratings', ['session_id'])
    op.create_table('complaints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('center_id', sa.Integer(), nullable=False),
    sa.Column('window_pk', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=True),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('contact', sa.String(length=200), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('handler_id', sa.Integer(), nullable=True),
    sa.Column('deadline', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reply', sa.Text(), nullable=True),
    sa.Column('replied_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=120), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['center_id'], ['centers.id'], ),
    sa.ForeignKeyConstraint(['handler_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['window_pk'], ['windows.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_complaints_window_at', 'complaints', ['window_pk', 'at'])
    op.create_index(op.f('ix_complaints_center_id'), 'complaints', ['center_id'])
    op.create_index(op.f('ix_complaints_staff_id'), 'complaints', ['staff_id'])
    op.create_index(op.f('ix_complaints_deadline'), 'complaints', ['deadline'])


def downgrade() -> None:
    op.drop_index(op.f('ix_complaints_deadline'), table_name='complaints')
    op.drop_index(op.f('ix_complaints_staff_id'), table_name='complaints')
    op.drop_index(op.f('ix_complaints_center_id'), table_name='complaints')
    op.drop_index('ix_complaints_window_at', table_name='complaints')
    op.drop_table('complaints')
    op.drop_index(op.f('ix_ratings_session_id'), table_name='ratings')
    op.drop_index(op.f('ix_ratings_center_id'), table_name='ratings')
    op.drop_index(op.f('ix_ratings_at'), table_name='ratings')
    op.drop_index('ix_ratings_window_at', table_name='ratings')
    op.drop_table('ratings')
