"""member_import: an uploaded member-list file between its preview and its import

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 14:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('member_import',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organizer_id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('applied_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['organizer_id'], ['organizer.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('member_import', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_member_import_organizer_id'), ['organizer_id'], unique=False)


def downgrade():
    with op.batch_alter_table('member_import', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_member_import_organizer_id'))

    op.drop_table('member_import')
