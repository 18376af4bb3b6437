"""companions (同伴者) and approval (承認制): a frame's companion limit and approval flag, a registration's party size, its companions, and waiting lists counted in people

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('participation_frame', schema=None) as batch_op:
        batch_op.add_column(sa.Column('max_companions', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('requires_approval', sa.Boolean(), server_default=sa.text('false'), nullable=False))
        batch_op.add_column(sa.Column('waiting_parties', sa.Integer(), server_default='0', nullable=False))

    with op.batch_alter_table('registration', schema=None) as batch_op:
        batch_op.add_column(sa.Column('party_size', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True))

    op.create_table('registration_companion',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('name_kana', sa.String(length=100), nullable=False),
    sa.Column('checked_in_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['registration_id'], ['registration.id'], name=op.f('fk_registration_companion_registration_id_registration')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registration_companion')),
    sa.UniqueConstraint('registration_id', 'position', name=op.f('uq_registration_companion_registration_id'))
    )

    # Every registration so far is one person: a frame's waiting people are its waiting
    # registrations, whose positions run 1..that number.
    op.execute(
        'UPDATE participation_frame SET waiting_parties = (SELECT count(*) FROM registration'
        ' WHERE registration.frame_id = participation_frame.id'
        " AND registration.status = 'waiting')"
    )


def downgrade():
    # The companions, the frames' settings and the decisions' times are lost.
    op.drop_table('registration_companion')
    with op.batch_alter_table('registration', schema=None) as batch_op:
        batch_op.drop_column('decided_at')
        batch_op.drop_column('party_size')

    with op.batch_alter_table('participation_frame', schema=None) as batch_op:
        batch_op.drop_column('waiting_parties')
        batch_op.drop_column('requires_approval')
        batch_op.drop_column('max_companions')
