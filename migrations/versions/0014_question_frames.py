"""event_question.frame_id: a question asked only of one participation frame's registrants (NULL: everyone)

Revision ID: 0014
Revises: 0011
Create Date: 2026-12-10 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('event_question', schema=None) as batch_op:
        batch_op.add_column(sa.Column('frame_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_event_question_frame_id_participation_frame'), 'participation_frame', ['frame_id'], ['id'])


def downgrade():
    with op.batch_alter_table('event_question', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_event_question_frame_id_participation_frame'), type_='foreignkey')
        batch_op.drop_column('frame_id')
