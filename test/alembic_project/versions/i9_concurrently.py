"""index posts.title concurrently

Revision ID: i9
Revises: h8
"""
from alembic import op

revision = "i9"
down_revision = "h8"
branch_labels = None
depends_on = None


def upgrade():
    with op.get_context().autocommit_block():
        op.create_index("ix_posts_title", "posts", ["title"], postgresql_concurrently=True)


def downgrade():
    with op.get_context().autocommit_block():
        op.drop_index("ix_posts_title", table_name="posts", postgresql_concurrently=True)
