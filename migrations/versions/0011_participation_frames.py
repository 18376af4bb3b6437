"""participation frames (参加枠): every event gets one frame holding its old capacity, and its registrations

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 16:10:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

#: models.DEFAULT_FRAME_NAMES when this was written (a migration does not import the app).
DEFAULT_FRAME_NAME_JA = '参加者'
DEFAULT_FRAME_NAME_EN = 'Participants'


def upgrade():
    op.create_table('participation_frame',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('name_ja', sa.String(length=100), nullable=False),
    sa.Column('name_en', sa.String(length=100), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=True),
    sa.Column('fee_text', sa.String(length=200), nullable=True),
    sa.Column('fee_text_en', sa.String(length=200), nullable=True),
    sa.Column('eligibility', sa.String(length=18), server_default='anyone', nullable=False),
    sa.Column('registration_opens_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('registration_closes_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sort_order', sa.Integer(), nullable=False),
    sa.Column('confirmed_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('waiting_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['event.id'], name=op.f('fk_participation_frame_event_id_event')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_participation_frame'))
    )
    with op.batch_alter_table('participation_frame', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_participation_frame_event_id'), ['event_id'], unique=False)

    op.create_table('invitation_code',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('frame_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=False),
    sa.Column('max_uses', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['frame_id'], ['participation_frame.id'], name=op.f('fk_invitation_code_frame_id_participation_frame')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invitation_code')),
    sa.UniqueConstraint('frame_id', 'code', name='uq_invitation_code_frame_code')
    )
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('frame_count', sa.Integer(), server_default='1', nullable=False))

    with op.batch_alter_table('registration', schema=None) as batch_op:
        batch_op.add_column(sa.Column('frame_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('invitation_code_id', sa.Integer(), nullable=True))

    # The data: one frame per event with the event's capacity and counters (its fee and
    # registration period are the event's), and every registration in it, its waiting
    # position kept. The times are the event's, so no time zone handling is needed.
    op.execute(sa.text(
        'INSERT INTO participation_frame (event_id, name_ja, name_en, capacity, eligibility,'
        ' sort_order, confirmed_count, waiting_count, created_at, updated_at)'
        ' SELECT id, :name_ja, :name_en, capacity, \'anyone\', 0, confirmed_count,'
        ' waiting_count, created_at, updated_at FROM event'
    ).bindparams(name_ja=DEFAULT_FRAME_NAME_JA, name_en=DEFAULT_FRAME_NAME_EN))
    op.execute(
        'UPDATE registration SET frame_id = (SELECT participation_frame.id'
        ' FROM participation_frame WHERE participation_frame.event_id = registration.event_id)'
    )

    # SQLite makes frame_id NOT NULL by copying the table (with its foreign keys off
    # meanwhile: migrations/env.py).
    with op.batch_alter_table('registration', schema=None) as batch_op:
        batch_op.alter_column('frame_id', existing_type=sa.Integer(), nullable=False)
        batch_op.create_index('ix_registration_frame_status', ['frame_id', 'status', 'waiting_position'], unique=False)
        batch_op.create_index(batch_op.f('ix_registration_invitation_code_id'), ['invitation_code_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_registration_invitation_code_id_invitation_code'), 'invitation_code', ['invitation_code_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_registration_frame_id_participation_frame'), 'participation_frame', ['frame_id'], ['id'])


def downgrade():
    with op.batch_alter_table('registration', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_registration_frame_id_participation_frame'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_registration_invitation_code_id_invitation_code'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_registration_invitation_code_id'))
        batch_op.drop_index('ix_registration_frame_status')
        batch_op.drop_column('invitation_code_id')
        batch_op.drop_column('frame_id')

    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.drop_column('frame_count')

    op.drop_table('invitation_code')
    with op.batch_alter_table('participation_frame', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_participation_frame_event_id'))

    op.drop_table('participation_frame')
