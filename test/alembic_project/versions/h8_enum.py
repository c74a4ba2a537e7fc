"""mood gains angry; users.mood gets a default

Revision ID: h8
Revises: g7
"""
from alembic import op

revision = "h8"
down_revision = "g7"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("ALTER TYPE mood ADD VALUE 'angry' AFTER 'sad'")
    op.execute("ALTER TABLE users ALTER COLUMN mood SET DEFAULT 'happy'")


def downgrade():
    op.execute("ALTER TABLE users ALTER COLUMN mood DROP DEFAULT")
    op.execute("UPDATE users SET mood = 'sad' WHERE mood = 'angry'")
    op.execute("ALTER TYPE mood RENAME TO mood_old")
    op.execute("CREATE TYPE mood AS ENUM ('happy', 'sad')")
    op.execute("ALTER TABLE users ALTER COLUMN mood TYPE mood USING mood::text::mood")
    op.execute("DROP TYPE mood_old")
