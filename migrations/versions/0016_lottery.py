"""lottery (抽選): a frame's selection mode and draw time, a registration's lottery result, and the draws

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('participation_frame', schema=None) as batch_op:
        batch_op.add_column(sa.Column('selection', sa.String(length=18), server_default='first_come', nullable=False))
        batch_op.add_column(sa.Column('drawn_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('registration', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lottery_result', sa.String(length=12), nullable=True))

    op.create_table('lottery_draw',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('frame_id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('drawn_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('organizer_id', sa.Integer(), nullable=True),
    sa.Column('seed', sa.String(length=64), nullable=False),
    sa.Column('entries_sha256', sa.String(length=64), nullable=False),
    sa.Column('entry_list', sa.Text(), nullable=False),
    sa.Column('entry_ids', sa.JSON(), nullable=False),
    sa.Column('drawn_ids', sa.JSON(), nullable=False),
    sa.Column('seats', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['event.id'], name=op.f('fk_lottery_draw_event_id_event')),
    sa.ForeignKeyConstraint(['frame_id'], ['participation_frame.id'], name=op.f('fk_lottery_draw_frame_id_participation_frame')),
    sa.ForeignKeyConstraint(['organizer_id'], ['organizer.id'], name=op.f('fk_lottery_draw_organizer_id_organizer')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lottery_draw')),
    sa.UniqueConstraint('frame_id', name=op.f('uq_lottery_draw_frame_id'))
    )
    with op.batch_alter_table('lottery_draw', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lottery_draw_event_id'), ['event_id'], unique=False)


def downgrade():
    with op.batch_alter_table('lottery_draw', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lottery_draw_event_id'))

    op.drop_table('lottery_draw')
    with op.batch_alter_table('registration', schema=None) as batch_op:
        batch_op.drop_column('lottery_result')

    with op.batch_alter_table('participation_frame', schema=None) as batch_op:
        batch_op.drop_column('drawn_at')
        batch_op.drop_column('selection')
