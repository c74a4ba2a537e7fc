# Deploys against a real server: the reference application's flow with the
# repository's examples/migrations, errors naming the file and line, a file
# edited after being applied, CRLF and a BOM, empty and missing down
# sections, offline mode, stamp, show, non-transactional revisions, each
# exit code.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use CliTest;
use JSON::PP;
use Test::More;

my ($rc, $out, $err);
my $db = new_db();
my $p = CliTest::new_project();
my @d = ('-d', "dbname=$db");
for my $f (glob(root_dir() . '/examples/migrations/*.sql')) {
    my ($name) = $f =~ m{([^/]+)$};
    write_file("$p/migrations/$name", read_file($f));
}
sub timeless { my $s = shift; $s =~ s/\d+\.\d ms/N ms/g; return $s; }

# --- the seed document's flow ---
($rc, $out, $err) = dbm($p, @d, 'upgrade');
is($rc, 0, 'upgrade: exit 0') or diag($err);
is(timeless($out), <<"OUT", 'upgrade: progress and summary');
Installing the dbmigrate extension in database "$db"
Running upgrade base -> 001_initial_migration, Initial migration
  done in N ms
Running upgrade 001_initial_migration -> 002_create_posts, Create posts
  done in N ms
Running upgrade 002_create_posts -> 003_posts_published, Posts can be published
  done in N ms
Registered 2 new revisions
Upgraded database "$db": 3 revisions in N ms; now at 003_posts_published
OUT
is(psql_value($db, 'SELECT * FROM dbmigrate.migrate_current()'), '003_posts_published', 'upgrade: applied');
($rc, $out) = dbm($p, @d, 'upgrade');
is("$rc $out", "0 Nothing to upgrade: database \"$db\" is at 003_posts_published\n", 'upgrade again: nothing to do');
($rc, $out) = dbm($p, @d, 'current');
is("$rc $out", "0 003_posts_published (head)\n", 'current');
($rc, $out) = dbm($p, @d, 'heads');
is("$rc $out", "0 003_posts_published (head) (current)\n", 'heads');
($rc, $out) = dbm($p, @d, 'history');
is("$rc $out", "0 002_create_posts -> 003_posts_published (head) (current), Posts can be published\n"
    . "001_initial_migration -> 002_create_posts, Create posts\n"
    . "<base> -> 001_initial_migration, Initial migration\n", 'history: one line per revision, as Alembic');
($rc, $out) = dbm($p, @d, 'history', '--verbose');
like($out, qr/\A002_create_posts -> 003_posts_published \(head\) \(current\), Posts can be published  \[applied \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC by postgres\] \[migrations\/003_posts_published\.sql\]
001_initial_migration -> 002_create_posts, Create posts  \[applied [^\]]+ by postgres\] \[migrations\/002_create_posts\.sql\]
<base> -> 001_initial_migration, Initial migration  \[applied [^\]]+ by postgres\]\n\z/, 'history --verbose');
($rc, $out) = dbm($p, @d, 'downgrade', '-1');
is($rc, 0, 'downgrade -1: exit 0');
is(timeless($out), "Running downgrade 003_posts_published -> 002_create_posts, Posts can be published\n  done in N ms\n"
    . "Downgraded database \"$db\": 1 revision in N ms; now at 002_create_posts\n", 'downgrade -1: progress');
is(psql_value($db, "SELECT count(*) FROM pg_attribute WHERE attrelid = 'posts'::regclass AND attname = 'published_at'"),
    '0', 'downgrade -1: the column is gone');
($rc, $out, $err) = dbm($p, @d, 'check');
is($rc, 1, 'check with a pending revision: exit 1');
is($out, "pending: 003_posts_published\ncheck: 1 revision pending in database \"$db\"; run dbmigrate upgrade\n",
    'check: what is pending');
($rc, $out) = dbm($p, @d, 'upgrade', 'head');
is($rc, 0, 'upgrade head again');
($rc, $out, $err) = dbm($p, @d, 'seed', '--reset');
is($rc, 0, 'seed --reset: exit 0');
is($out, "Seeded 4 accounts afresh (admin, testuser1, testuser2, developer)\n", 'seed --reset: summary');
like($err, qr/^WARNING:  seeded 4 accounts with well-known passwords$/m, 'seed: the server\'s warning is shown');
is(psql_value($db, "SELECT string_agg(username, ',' ORDER BY id) FROM users"), 'admin,testuser1,testuser2,developer',
    'seed: the accounts');
($rc, $out) = dbm($p, @d, 'seed');
is("$rc $out", "0 Nothing to seed: the accounts exist (seed --reset inserts them afresh)\n", 'seed again');
($rc, $out) = dbm($p, @d, 'check');
is("$rc $out", "0 check: database \"$db\" is up to date at 003_posts_published\n", 'check up to date: exit 0');
($rc, $out) = dbm($p, @d, '--quiet', 'upgrade');
is("$rc [$out]", "0 []", '--quiet prints nothing');
($rc, $out) = dbm($p, @d, '--json', 'current');
is_deeply(decode_json($out), { command => 'current', database => $db, installed => JSON::PP::true,
    current => ['003_posts_published'] }, 'current --json');
($rc, $out) = dbm($p, @d, 'history', '--json');
is(scalar @{ decode_json($out)->{revisions} }, 3, 'history --json: three revisions');
($rc, $out) = dbm($p, @d, 'show', '002_c');
like($out, qr/\ARev: 002_create_posts\nParent: 001_initial_migration\nMessage: Create posts\nApplied: \S+ \S+ UTC by postgres\n/,
    'show by prefix: the revision');
like($out, qr/\n-- migrate:up\nCREATE TABLE posts \(\n.*\n-- migrate:down\nDROP TABLE posts;\n\z/s, 'show: the SQL');
($rc, $out, $err) = dbm($p, @d, 'show', 'nosuch');
is("$rc $err", "1 dbmigrate: show: revision \"nosuch\" is not known\n", 'show unknown: exit 1');

# --- a failing revision: file and line, everything rolled back ---
write_file("$p/migrations/004_bad.sql", "-- revision: 004_bad\n-- down_revision: 003_posts_published\n"
    . "-- message: fails\n-- migrate:up\nCREATE TABLE t4 (a int);\n\nINSERT INTO t4 VALUES (\n  1/0);\n"
    . "-- migrate:down\nDROP TABLE t4;\n");
($rc, $out, $err) = dbm($p, @d, 'upgrade');
is($rc, 1, 'run-time error: exit 1');
is($err, "dbmigrate: migrations/004_bad.sql:7: ERROR:  22012: division by zero\n"
    . "CONTEXT:  SQL statement \"INSERT INTO t4 VALUES (\n  1/0)\"\n"
    . "upgrade of revision \"004_bad\" (003_posts_published -> 004_bad), statement 2 of 2\n"
    . "FILE:  migrations/004_bad.sql, line 7 (in \"-- migrate:up\")\n", 'run-time error: the file and line of the statement');
like(timeless($out), qr/  failed after N ms\nRolled back: nothing was registered or applied\n\z/,
    'run-time error: the step failed, rolled back');
is(psql_value($db, "SELECT count(*) FROM dbmigrate.migrate_history() WHERE revision = '004_bad'"), '0',
    'run-time error: not registered');
is(psql_value($db, "SELECT to_regclass('t4') IS NULL"), 't', 'run-time error: no table');
write_file("$p/migrations/004_bad.sql", "-- revision: 004_bad\n-- down_revision: 003_posts_published\n"
    . "-- migrate:up\nCREATE TABLE t4 (\n  a int,\n  b int,);\n-- migrate:down\nDROP TABLE t4;\n");
($rc, $out, $err) = dbm($p, @d, 'upgrade');
is($rc, 1, 'syntax error: exit 1');
is($err, "dbmigrate: migrations/004_bad.sql:6: ERROR:  42601: syntax error at or near \")\"\n"
    . "CONTEXT:  upgrade_sql of revision \"004_bad\"\n"
    . "LINE 6:   b int,);\n"
    . "                ^\n"
    . "FILE:  migrations/004_bad.sql, line 6 (in \"-- migrate:up\")\n", 'syntax error: the file, line and column');
unlink "$p/migrations/004_bad.sql";

# --- a file edited after being applied ---
my $f2 = "$p/migrations/002_create_posts.sql";
my $orig = read_file($f2);
(my $edited = $orig) =~ s/VARCHAR\(200\)/VARCHAR(300)/;
write_file($f2, $edited);
($rc, $out, $err) = dbm($p, @d, 'upgrade');
is($rc, 1, 'edited applied file: upgrade exit 1');
like($err, qr/\Adbmigrate: migrations\/002_create_posts\.sql:1: ERROR:  42710: /, 'edited applied file: named');
($rc, $out, $err) = dbm($p, @d, 'check');
is($rc, 2, 'edited applied file: check exit 2');
is($err, "dbmigrate: problem: migrations/002_create_posts.sql: revision 002_create_posts is applied, but the file "
    . "differs from what was registered (edited after it was applied?); put the change in a new revision\n",
    'edited applied file: check says so');
# the same text with CRLF line ends and a BOM is the same revision
(my $crlf = $orig) =~ s/\n/\r\n/g;
write_file($f2, "\xEF\xBB\xBF" . $crlf);
($rc, $out, $err) = dbm($p, @d, 'upgrade');
is("$rc $out$err", "0 Nothing to upgrade: database \"$db\" is at 003_posts_published\n", 'CRLF + BOM copy: a no-op');
($rc) = dbm($p, @d, 'check');
is($rc, 0, 'CRLF + BOM copy: check clean');

# --- empty and missing down sections ---
write_file("$p/migrations/004_noop_down.sql", "-- revision: 004_noop_down\n-- down_revision: 003_posts_published\n"
    . "-- migrate:up\nCREATE TABLE IF NOT EXISTS t4 ();\n-- migrate:down\n");
write_file("$p/migrations/005_irreversible.sql", "-- revision: 005_irreversible\n-- down_revision: 004_noop_down\n"
    . "-- migrate:up\nCREATE TABLE t5 ();\n");
($rc) = dbm($p, @d, 'upgrade');
is($rc, 0, 'upgrade with empty and missing down sections');
is(psql_value($db, "SELECT coalesce(downgrade_sql, 'NULL') FROM dbmigrate.migrate_show('005_irreversible')"), 'NULL',
    'no migrate:down: NULL (irreversible)');
is(psql_value($db, "SELECT '[' || downgrade_sql || ']' FROM dbmigrate.migrate_show('004_noop_down')"), '[]',
    'empty migrate:down: an explicit no-op');
($rc, $out, $err) = dbm($p, @d, 'downgrade', '--sql', '-1');
is("$rc $err", "1 dbmigrate: revision \"005_irreversible\" is irreversible (migrations/005_irreversible.sql has no \"-- migrate:down\"); nothing would run\n",
    'downgrade --sql through an irreversible revision');
($rc, $out, $err) = dbm($p, @d, 'downgrade', '-1');
is($rc, 1, 'downgrade through an irreversible revision: exit 1');
like($err, qr/ERROR:  55000: revision "005_irreversible" is irreversible/, 'downgrade: the server refuses, named');
is(psql_value($db, 'SELECT * FROM dbmigrate.migrate_current()'), '005_irreversible', 'nothing was undone');
($rc) = dbm($p, @d, 'stamp', '004_noop_down');
is($rc, 0, 'stamp: exit 0');
is(psql_value($db, "SELECT * FROM dbmigrate.migrate_current()"), '004_noop_down', 'stamp: current moved');
is(psql_value($db, "SELECT to_regclass('t5') IS NOT NULL"), 't', 'stamp: no SQL ran');
($rc, $out) = dbm($p, @d, 'downgrade', '-1');
is($rc, 0, 'downgrade through an empty down section');
is(psql_value($db, "SELECT to_regclass('t4') IS NOT NULL"), 't', 'the empty down section ran nothing');
($rc, $out, $err) = dbm($p, @d, 'downgrade', 'nosuch');
is($rc, 1, 'downgrade to an unknown revision: exit 1');
like($err, qr/ERROR:  42704: /, 'downgrade unknown: the server\'s error');
($rc, $out, $err) = dbm($p, @d, 'stamp');
is($rc, 2, 'stamp without a revision: exit 2');

# --- offline mode changes nothing ---
my $fresh = new_db();
($rc, $out, $err) = dbm($p, '-d', "dbname=$fresh", 'upgrade', '--sql', '004_noop_down');
is($rc, 0, 'upgrade --sql on a database without dbmigrate');
like($out, qr/\A-- dbmigrate upgrade 004_noop_down --sql: database "$fresh" has no dbmigrate yet \(taken as base\); 4 revisions to run\.\n/,
    'upgrade --sql: header');
like($out, qr/\nCREATE EXTENSION IF NOT EXISTS dbmigrate CASCADE;\n\nBEGIN;\n\n-- Running upgrade base -> 001_initial_migration, Initial migration\n/,
    'upgrade --sql: the bootstrap and a transaction');
like($out, qr/\n-- Running upgrade 001_initial_migration -> 002_create_posts, Create posts\nCREATE TABLE posts \(\r\n/,
    'upgrade --sql: the SQL of the files, as written (CRLF)');
like($out, qr/\n-- Running upgrade 003_posts_published -> 004_noop_down\nCREATE TABLE IF NOT EXISTS t4 \(\);\n\nCOMMIT;\n\z/, 'upgrade --sql: ends');
is(psql_value($fresh, "SELECT count(*) FROM pg_extension WHERE extname = 'dbmigrate'"), '0', 'upgrade --sql wrote nothing');
($rc, $out) = dbm($p, @d, 'downgrade', '--sql', '002_create_posts');
is($rc, 0, 'downgrade --sql');
like($out, qr/-- Running downgrade 003_posts_published -> 002_create_posts, Posts can be published\nDROP TRIGGER posts_touch ON posts;/,
    'downgrade --sql: the down SQL');
is(psql_value($db, 'SELECT * FROM dbmigrate.migrate_current()'), '003_posts_published', 'downgrade --sql changed nothing');
($rc, $out, $err) = dbm($p, @d, 'upgrade', '--sql', 'nosuch');
is("$rc $err", "1 dbmigrate: upgrade nosuch: revision \"nosuch\" is not known\n", 'upgrade --sql to an unknown target');

# --- a non-transactional revision: registered first, then the stepwise procedure ---
unlink "$p/migrations/005_irreversible.sql";
psql_value($db, "SELECT dbmigrate.migrate_downgrade('003_posts_published')");
psql_value($db, "SELECT dbmigrate.migrate_unregister('005_irreversible')");
psql_value($db, 'DROP TABLE t4, t5');
write_file("$p/migrations/005_index.sql", "-- revision: 005_index\n-- down_revision: 004_noop_down\n"
    . "-- message: index posts concurrently\n-- transactional: false\n-- migrate:up\n"
    . "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_posts_title ON posts (title);\n"
    . "-- migrate:down\nDROP INDEX CONCURRENTLY IF EXISTS ix_posts_title;\n");
($rc, $out, $err) = dbm($p, @d, 'upgrade');
is($rc, 0, 'non-transactional path: exit 0') or diag($err);
is(timeless($out), "The path holds a non-transactional revision: the registration is committed; running CALL dbmigrate.migrate_upgrade_stepwise('head'), which commits after each revision\n"
    . "Running upgrade 003_posts_published -> 004_noop_down\n  done in N ms\n"
    . "Running upgrade 004_noop_down -> 005_index, index posts concurrently (non-transactional)\n  done in N ms\n"
    . "Registered 1 new revision\n"
    . "Upgraded database \"$db\": 2 revisions in N ms; now at 005_index\n", 'non-transactional path: said so') or diag($out);
is(psql_value($db, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_posts_title'::regclass"), 't', 'the index was built');
($rc, $out) = dbm($p, @d, '--json', 'downgrade', '003_posts_published');
my $j = decode_json($out);
is_deeply([$j->{stepwise}, [map { $_->{revision} } @{ $j->{steps} }], $j->{current}],
    [JSON::PP::true, ['005_index', '004_noop_down'], ['003_posts_published']], 'downgrade --json, stepwise');

# --- letters of any script; messages in UTF-8 ---
write_file("$p/migrations/006.sql", "-- revision: café_006\n-- down_revision: 005_index\n-- message: ünïcödé ✓\n"
    . "-- migrate:up\nCOMMENT ON TABLE posts IS 'über';\n-- migrate:down\nCOMMENT ON TABLE posts IS NULL;\n");
($rc, $out, $err) = dbm($p, @d, 'upgrade');
is($rc, 0, 'a UTF-8 id and message') or diag($err);
($rc, $out) = dbm($p, @d, 'history');
like($out, qr/\A005_index -> café_006 \(head\) \(current\), ünïcödé ✓\n/, 'history shows them as written');

# a database at 1.0 is refused with the fix
my $old = new_db();
psql_value($old, "CREATE EXTENSION dbmigrate VERSION '1.0' CASCADE");
($rc, $out, $err) = dbm($p, '-d', "dbname=$old", 'upgrade');
is("$rc $err", "2 dbmigrate: database \"$old\" has dbmigrate 1.0; this client needs 1.1\n"
    . "HINT:  Update it with ALTER EXTENSION dbmigrate UPDATE; (install the new library first).\n", 'dbmigrate 1.0: exit 2');

done_testing();
