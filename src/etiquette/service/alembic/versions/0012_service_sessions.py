"""service_sessions: each service session as a record (window, staff, times, talk time per
side, checks passed and failed, 叫号 ticket, utterances); incidents.session_id links an
incident to its session

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-20 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('service_sessions',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('source', sa.String(length=1024), nullable=False),
    sa.Column('window_id', sa.String(length=64), nullable=False),
    sa.Column('window_pk', sa.Integer(), nullable=True),
    sa.Column('center_id', sa.Integer(), nullable=True),
    sa.Column('staff_id', sa.Integer(), nullable=True),
    sa.Column('start_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('end_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('offset_s', sa.Float(), nullable=False),
    sa.Column('end_s', sa.Float(), nullable=False),
    sa.Column('ticket', sa.String(length=32), nullable=True),
    sa.Column('staff_talk_s', sa.Float(), nullable=False),
    sa.Column('citizen_talk_s', sa.Float(), nullable=False),
    sa.Column('checks', sa.JSON(), nullable=False),
    sa.Column('turns', sa.JSON(), nullable=False),
    sa.Column('incident_ids', sa.JSON(), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('api_key_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['api_key_id'], ['api_keys.id'], ),
    sa.ForeignKeyConstraint(['center_id'], ['centers.id'], ),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], ),
    sa.ForeignKeyConstraint(['window_pk'], ['windows.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_service_sessions_center_id'), 'service_sessions', ['center_id'],
                    unique=False)
    op.create_index(op.f('ix_service_sessions_staff_id'), 'service_sessions', ['staff_id'],
                    unique=False)
    op.create_index(op.f('ix_service_sessions_start_at'), 'service_sessions', ['start_at'],
                    unique=False)
    op.create_index(op.f('ix_service_sessions_window_id'), 'service_sessions', ['window_id'],
                    unique=False)
    op.create_index('ix_service_sessions_window_start', 'service_sessions',
                    ['window_pk', 'start_at'], unique=False)
    # A plain ADD COLUMN (no batch copy of the table: SQLite would drop the incident search
    # triggers of 0010 with it); no foreign key, as the model says why.
    op.add_column('incidents', sa.Column('session_id', sa.String(length=36), nullable=True))
    op.create_index(op.f('ix_incidents_session_id'), 'incidents', ['session_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_incidents_session_id'), table_name='incidents')
    op.drop_column('incidents', 'session_id')  # SQLite 3.35+ drops it in place, triggers kept
    op.drop_index('ix_service_sessions_window_start', table_name='service_sessions')
    op.drop_index(op.f('ix_service_sessions_window_id'), table_name='service_sessions')
    op.drop_index(op.f('ix_service_sessions_start_at'), table_name='service_sessions')
    op.drop_index(op.f('ix_service_sessions_staff_id'), table_name='service_sessions')
    op.drop_index(op.f('ix_service_sessions_center_id'), table_name='service_sessions')
    op.drop_table('service_sessions')
