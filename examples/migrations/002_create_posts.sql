-- revision: 002_create_posts
-- down_revision: 001_initial_migration
-- message: Create posts
-- Posts written by users. One file per revision, kept in git; deploy the
-- folder with `dbmigrate upgrade` (an unchanged file registers as a no-op).
-- migrate:up
CREATE TABLE posts (
    id         SERIAL PRIMARY KEY,
    author_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title      VARCHAR(200) NOT NULL,
    body       TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ DEFAULT now()
);
CREATE INDEX ix_posts_author_id ON posts (author_id);

-- migrate:down
DROP TABLE posts;
