"""sessions of a course (全N回) and all-day events: event.is_all_day and session_count,
event_session, session_attendance (arrivals per session), session_reminder

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01 20:10:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_all_day', sa.Boolean(), server_default=sa.text('false'), nullable=False))
        batch_op.add_column(sa.Column('session_count', sa.Integer(), server_default='0', nullable=False))

    op.create_table('event_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('is_all_day', sa.Boolean(), nullable=False),
    sa.Column('venue_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=17), nullable=False),
    sa.Column('cancellation_reason', sa.Text(), nullable=False),
    sa.Column('uid', sa.String(length=255), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('content_updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['event.id'], name=op.f('fk_event_session_event_id_event')),
    sa.ForeignKeyConstraint(['venue_id'], ['venue.id'], name=op.f('fk_event_session_venue_id_venue')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_session')),
    sa.UniqueConstraint('event_id', 'position', name='uq_event_session_event_position'),
    sa.UniqueConstraint('uid', name=op.f('uq_event_session_uid'))
    )
    op.create_index('ix_event_session_starts_at', 'event_session', ['starts_at'], unique=False)

    op.create_table('session_attendance',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('person', sa.Integer(), nullable=False),
    sa.Column('checked_in_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['registration_id'], ['registration.id'], name=op.f('fk_session_attendance_registration_id_registration')),
    sa.ForeignKeyConstraint(['session_id'], ['event_session.id'], name=op.f('fk_session_attendance_session_id_event_session')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_session_attendance')),
    sa.UniqueConstraint('session_id', 'registration_id', 'person', name='uq_session_attendance_person')
    )
    op.create_index(op.f('ix_session_attendance_registration_id'), 'session_attendance', ['registration_id'], unique=False)

    op.create_table('session_reminder',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['registration_id'], ['registration.id'], name=op.f('fk_session_reminder_registration_id_registration')),
    sa.ForeignKeyConstraint(['session_id'], ['event_session.id'], name=op.f('fk_session_reminder_session_id_event_session')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_session_reminder')),
    sa.UniqueConstraint('session_id', 'registration_id', name='uq_session_reminder')
    )
    op.create_index(op.f('ix_session_reminder_registration_id'), 'session_reminder', ['registration_id'], unique=False)


def downgrade():
    # Sessions, their arrivals and reminders are lost; an event keeps its overall span.
    op.drop_index(op.f('ix_session_reminder_registration_id'), table_name='session_reminder')
    op.drop_table('session_reminder')
    op.drop_index(op.f('ix_session_attendance_registration_id'), table_name='session_attendance')
    op.drop_table('session_attendance')
    op.drop_index('ix_event_session_starts_at', table_name='event_session')
    op.drop_table('event_session')
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.drop_column('session_count')
        batch_op.drop_column('is_all_day')
