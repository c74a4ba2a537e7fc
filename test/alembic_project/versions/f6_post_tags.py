"""post_tags

Revision ID: f6
Revises: e5
"""
from alembic import op
import sqlalchemy as sa

revision = "f6"
down_revision = "e5"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "post_tags",
        sa.Column("post_id", sa.Integer, sa.ForeignKey("posts.id"), primary_key=True),
        sa.Column("tag_id", sa.Integer, sa.ForeignKey("tags.id"), primary_key=True),
    )


def downgrade():
    op.drop_table("post_tags")
