"""tags (a branch from b2)

Revision ID: e5
Revises: b2
"""
from alembic import op
import sqlalchemy as sa

revision = "e5"
down_revision = "b2"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "tags",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("label", sa.String(30), nullable=False),
    )
    op.execute("""
        CREATE FUNCTION tag_label_lower() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.label := lower(NEW.label);  -- a ; inside a body
            RETURN NEW;
        END $$""")
    op.execute("CREATE TRIGGER tags_lower BEFORE INSERT ON tags "
               "FOR EACH ROW EXECUTE FUNCTION tag_label_lower()")


def downgrade():
    op.drop_table("tags")
    op.execute("DROP FUNCTION tag_label_lower()")
