# Adopting Alembic: import-alembic's bad inputs (no database needed) and
# stamp --from-alembic's, each with its exact message; a good import and a
# stamp of one and of two branch heads.  test/shell/alembic_import.sh proves
# the result against the real Alembic.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use CliTest;
use Test::More;

# Alembic's offline SQL for a1 -> b2 and a1 -> c3 merged by m4 (the shape
# alembic upgrade base:head --sql prints)
my $up = <<'SQL';
BEGIN;

CREATE TABLE alembic_version (
    version_num VARCHAR(32) NOT NULL, 
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);

-- Running upgrade  -> a1

CREATE TABLE t (id int);

INSERT INTO alembic_version (version_num) VALUES ('a1') RETURNING alembic_version.version_num;

-- Running upgrade a1 -> b2

ALTER TABLE t ADD COLUMN b int;

UPDATE alembic_version SET version_num='b2' WHERE alembic_version.version_num = 'a1';

-- Running upgrade a1 -> c3

COMMIT;

CREATE INDEX CONCURRENTLY t_id ON t (id);

BEGIN;

INSERT INTO alembic_version (version_num) VALUES ('c3') RETURNING alembic_version.version_num;

-- Running upgrade b2, c3 -> m4

DELETE FROM alembic_version WHERE alembic_version.version_num = 'b2';

UPDATE alembic_version SET version_num='m4' WHERE alembic_version.version_num = 'c3';

COMMIT;

SQL
my $down = <<'SQL';
BEGIN;

-- Running downgrade m4 -> b2, c3

INSERT INTO alembic_version (version_num) VALUES ('b2') RETURNING alembic_version.version_num;

UPDATE alembic_version SET version_num='c3' WHERE alembic_version.version_num = 'm4';

-- Running downgrade b2 -> a1

ALTER TABLE t DROP COLUMN b;

DELETE FROM alembic_version WHERE alembic_version.version_num = 'b2';

-- Running downgrade a1 -> 

DROP TABLE t;

DELETE FROM alembic_version WHERE alembic_version.version_num = 'a1';

DROP TABLE alembic_version;

COMMIT;

SQL

# import(UP, DOWN or undef): in a new project; returns (dir, exit, stdout, stderr)
sub import_sql {
    my ($u, $d) = @_;
    my $p = CliTest::new_project();
    rmdir "$p/migrations";
    write_file("$p/up.sql", $u);
    write_file("$p/down.sql", $d) if defined $d;
    return ($p, dbm($p, 'import-alembic', 'up.sql', defined $d ? ('down.sql') : ()));
}

sub bad_import {
    my ($name, $u, $d, $expected) = @_;
    my ($p, $rc, $out, $err) = import_sql($u, $d);
    is($rc, 2, "$name: exit 2");
    is($err, $expected, "$name: message");
    ok(!-e "$p/migrations", "$name: no folder written");
}

bad_import('no markers', "BEGIN;\n\nCOMMIT;\n", undef,
    "dbmigrate: up.sql: no \"Running upgrade \" marker: is it the output of alembic upgrade base:head --sql?\n");
bad_import('SQL before the first marker', "BEGIN;\n\nCREATE TABLE x ();\n\n-- Running upgrade  -> a1\n", undef,
    "dbmigrate: up.sql:3: SQL before the first \"Running upgrade \" marker\n"
    . "HINT:  Give the output of alembic upgrade base:head --sql, unchanged.\n");
bad_import('unknown parent', "-- Running upgrade a1 -> b2\n\nSELECT 1;\n", undef,
    "dbmigrate: up.sql:1: revision \"b2\" names parent \"a1\", which no earlier step upgrades to\n"
    . "HINT:  Render the whole history: alembic upgrade base:head --sql.\n");
bad_import('duplicate id', "-- Running upgrade  -> a1\n\n-- Running upgrade a1 -> b2\n\n-- Running upgrade a1 -> b2\n", undef,
    "dbmigrate: up.sql:5: revision \"b2\" is upgraded twice (first at line 3)\n");
bad_import('marker without an arrow', "-- Running upgrade a1\n", undef,
    "dbmigrate: up.sql:1: a \"-- Running upgrade\" line without \"->\"\n");
bad_import('bad id', "-- Running upgrade  -> head\n", undef,
    "dbmigrate: up.sql:1: revision \"head\" is reserved (head, heads and base name targets)\n");
bad_import('downgrade of an unknown revision', $up, "-- Running downgrade x9 -> a1\n",
    "dbmigrate: down.sql:1: revision \"x9\" is downgraded but never upgraded in the upgrade file\n");
bad_import('downgrade to other parents', $up, "-- Running downgrade m4 -> b2\n",
    "dbmigrate: down.sql:1: the downgrade of revision \"m4\" leads elsewhere than its upgrade's parents\n");
bad_import('downgrade file with no markers', $up, "BEGIN;\n",
    "dbmigrate: down.sql: no \"Running downgrade \" marker: is it the output of alembic downgrade head:base --sql?\n");

# a good import: ids, parents, the merge, the autocommit block, no bookkeeping
my ($p, $rc, $out, $err) = import_sql($up, $down);
is($rc, 0, 'import: exit 0') or diag($err);
is($out, "Imported 4 revisions into migrations/ (1 irreversible, 1 non-transactional)\n"
    . "  The messages are not in Alembic's offline SQL: add \"-- message:\" lines from the revision scripts if you want them\n",
    'import: summary');
is(read_file("$p/migrations/0004_m4.sql"),
    "-- revision: m4\n-- down_revision: b2, c3\n"
    . "-- Imported from Alembic's offline SQL: up.sql line 30, down.sql line 3.\n-- migrate:up\n-- migrate:down\n",
    'the merge: both parents, empty sections');
is(read_file("$p/migrations/0003_c3.sql"),
    "-- revision: c3\n-- down_revision: a1\n-- transactional: false\n"
    . "-- Imported from Alembic's offline SQL: up.sql line 20.\n-- migrate:up\nCREATE INDEX CONCURRENTLY t_id ON t (id);\n",
    'the autocommit block: transactional: false; not downgraded: irreversible');
is(read_file("$p/migrations/0001_a1.sql"),
    "-- revision: a1\n-- down_revision: \n"
    . "-- Imported from Alembic's offline SQL: up.sql line 8, down.sql line 15.\n-- migrate:up\nCREATE TABLE t (id int);\n"
    . "-- migrate:down\nDROP TABLE t;\n",
    'a root: bookkeeping dropped');
($rc, $out, $err) = dbm($p, 'import-alembic', 'up.sql', 'down.sql');
is($rc, 2, 'second import: exit 2');
is($err, "dbmigrate: migrations/0001_a1.sql exists: import into an empty folder (--dir)\n", 'second import: message');

# stamp --from-alembic
my $db = CliTest::new_db();
my @d = ('-d', "dbname=$db");
($rc, $out, $err) = dbm($p, @d, 'stamp', '--from-alembic');
is($rc, 1, 'no alembic_version: exit 1');
is($err, "dbmigrate: database \"$db\" has no table alembic_version in its search_path: is it managed by Alembic?\n"
    . "HINT:  Name Alembic's version table with --alembic-table SCHEMA.TABLE.\n", 'no alembic_version: message');
($rc, $out, $err) = dbm($p, @d, 'stamp', '--from-alembic', '--alembic-table', 'app.versions');
is($err, "dbmigrate: database \"$db\" has no table app.versions: is it managed by Alembic?\n"
    . "HINT:  Name Alembic's version table with --alembic-table SCHEMA.TABLE.\n", 'no --alembic-table: message');
($rc, $out, $err) = dbm($p, @d, 'stamp', '--from-alembic', 'a1');
is($rc, 2, 'a revision and --from-alembic: exit 2');
is($err, "dbmigrate: stamp: --from-alembic reads the revisions from alembic_version; name no revision\n",
    'a revision and --from-alembic: message');
CliTest::psql_value($db, "CREATE SCHEMA app; CREATE TABLE app.versions (version_num varchar(32) PRIMARY KEY); "
    . "CREATE TABLE t (id int, b int)");
($rc, $out, $err) = dbm($p, @d, 'stamp', '--from-alembic', '--alembic-table', 'app.versions');
is($rc, 1, 'empty alembic_version: exit 1');
is($err, "dbmigrate: app.versions is empty: the database is at Alembic's base, so there is nothing to stamp\n"
    . "HINT:  Deploy the folder with dbmigrate upgrade instead.\n", 'empty alembic_version: message');
CliTest::psql_value($db, "INSERT INTO app.versions VALUES ('zz9')");
($rc, $out, $err) = dbm($p, @d, 'stamp', '--from-alembic', '--alembic-table', 'app.versions');
is($rc, 1, 'unknown id: exit 1');
is($err, "dbmigrate: app.versions names revision \"zz9\", which the folder migrations/ does not have\n"
    . "HINT:  Import the Alembic history first: dbmigrate import-alembic UPGRADE.sql DOWNGRADE.sql.\n",
    'unknown id: message');
is(CliTest::psql_value($db, "SELECT count(*) FROM pg_extension WHERE extname = 'dbmigrate'"), '0',
    'refused stamps change nothing');

# two branch heads: exactly those are stamped, the rest registered
CliTest::psql_value($db, "TRUNCATE app.versions; INSERT INTO app.versions VALUES ('c3'), ('b2')");
($rc, $out, $err) = dbm($p, @d, 'stamp', '--from-alembic', '--alembic-table', 'app.versions');
is($rc, 0, 'two heads: exit 0') or diag($err);
like($out, qr/^Installing the dbmigrate extension in database "\Q$db\E"\nUnregistered the built-in revision 001_initial_migration \(not applied; the Alembic history has its own root\)\nRegistered 4 new revisions\nStamped database "\Q$db\E": now at (b2, c3|c3, b2) \(no SQL ran\)\n\z/,
    'two heads: summary');
is(CliTest::psql_value($db, "SELECT string_agg(r, ',' ORDER BY r) FROM dbmigrate.migrate_current() r"), 'b2,c3',
    'two heads: current');
is(CliTest::psql_value($db, "SELECT string_agg(revision, ',' ORDER BY revision) FROM dbmigrate.migrate_history()"),
    'a1,b2,c3,m4', 'two heads: the folder registered, the built-in revision gone');

# one row, in the search_path: a plain migrate_stamp
CliTest::psql_value($db, "CREATE TABLE public.alembic_version (version_num varchar(32)); "
    . "INSERT INTO public.alembic_version VALUES ('a1')");
($rc, $out, $err) = dbm($p, @d, 'stamp', '--from-alembic');
is($rc, 0, 'one row: exit 0') or diag($err);
is($out, "Stamped database \"$db\": now at a1 (no SQL ran)\n", 'one row: summary');
is(CliTest::psql_value($db, "SELECT string_agg(revision || ':' || operation, ',' ORDER BY id) FROM dbmigrate.migrate_log()"),
    'a1:stamp,b2:stamp,c3:stamp,c3:stamp,b2:stamp', 'the log: stamped, then unstamped');

done_testing();
