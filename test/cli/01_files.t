# init, revision, merge and --help: the commands that write files and need no
# database; usage errors (exit 2).
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use CliTest;
use Test::More;

my ($rc, $out, $err);

# --help of every command, and of the whole client
for my $cmd (qw(init revision merge upgrade downgrade current heads history show stamp check seed)) {
    ($rc, $out, $err) = dbm('/', $cmd, '--help');
    is($rc, 0, "$cmd --help exits 0");
    like($out, qr/^Usage: dbmigrate \[OPTION\]\.\.\. \Q$cmd\E/, "$cmd --help prints its usage");
}
($rc, $out) = dbm('/', '--help');
is($rc, 0, '--help exits 0');
like($out, qr/^Exit status: 0 done/m, '--help lists the exit codes');
($rc, $out) = dbm('/', 'help', 'upgrade');
like($out, qr/--sql/, 'help upgrade names --sql');

# usage errors: exit 2 and a message
($rc, $out, $err) = dbm('/');
is($rc, 2, 'no command: exit 2');
($rc, $out, $err) = dbm('/', 'upgrad');
is($rc, 2, 'unknown command: exit 2');
is($err, "dbmigrate: unknown command \"upgrad\"\nTry \"dbmigrate --help\" for the list of commands.\n",
    'unknown command: message');
($rc, $out, $err) = dbm('/', 'current', '--bogus');
is($rc, 2, 'unknown option: exit 2');
like($err, qr/^dbmigrate: current: unknown option "--bogus"$/m, 'unknown option: message');
($rc, $out, $err) = dbm('/', 'show', 'a', 'b');
is($rc, 2, 'extra argument: exit 2');
like($err, qr/^dbmigrate: show: unexpected argument "b"$/m, 'extra argument: message');

# init: folder and config, idempotent
my $p = CliTest::new_project();
rmdir "$p/migrations";
($rc, $out, $err) = dbm($p, 'init');
is($rc, 0, 'init exits 0');
ok(-d "$p/migrations", 'init created migrations/');
like(read_file("$p/dbmigrate.conf"), qr/^dir = migrations$/m, 'init wrote dbmigrate.conf');
($rc, $out) = dbm($p, 'init');
is($rc, 0, 'init again exits 0');
is($out, "Kept the existing folder migrations/\nKept the existing dbmigrate.conf\n", 'init again keeps both');
my $q = CliTest::new_project();
rmdir "$q/migrations";
($rc) = dbm($q, '--dir', 'db/mig', 'init');
is($rc, 2, 'init --dir with a missing parent folder: exit 2');
mkdir "$q/db";
($rc) = dbm($q, '--dir', 'db/mig', 'init');
is($rc, 0, 'init --dir db/mig');
like(read_file("$q/dbmigrate.conf"), qr/^dir = db\/mig$/m, 'the config records the folder');
($rc, $out) = dbm($q, 'revision', '-m', 'first');
is($rc, 0, 'revision uses the configured folder');
like($out, qr{^Generated db/mig/[0-9a-f]{12}_first\.sql}, 'file in db/mig');

# revision: the first one's parent is the built-in revision, the next one's the head
($rc, $out, $err) = dbm($p, 'revision');
is($rc, 2, 'revision without -m: exit 2');
is($err, "dbmigrate: revision: a message is required: dbmigrate revision -m \"add posts\"\n",
    'revision without -m: message');
($rc, $out) = dbm($p, 'revision', '-m', 'Add posts!');
is($rc, 0, 'revision -m exits 0');
my ($id1) = $out =~ m{^Generated migrations/([0-9a-f]{12})_add_posts\.sql \(revision \1\)$}m;
ok($id1, 'revision: file named <id>_<slug>.sql') or diag($out);
like($out, qr/^  parent: 001_initial_migration$/m, 'first revision: parent 001_initial_migration');
is(read_file("$p/migrations/${id1}_add_posts.sql"),
    "-- revision: $id1\n-- down_revision: 001_initial_migration\n-- message: Add posts!\n"
    . "-- Without a \"-- migrate:down\" line the revision is irreversible;\n"
    . "-- an empty down section is an explicit no-op.\n"
    . "-- migrate:up\n\n-- migrate:down\n\n", 'revision: the file');
($rc, $out) = dbm($p, '--json', 'revision', '-m', 'second');
like($out, qr/^\{"command": "revision", "status": "ok", "revision": "([0-9a-f]{12})", "down_revisions": \["$id1"\], "file": "migrations\/\1_second\.sql"\}$/,
    'revision --json; parent = the head');
my ($id2) = $out =~ /"revision": "([0-9a-f]{12})"/;

# a second branch: revision refuses, merge joins
write_file("$p/migrations/zz_branch.sql",
    "-- revision: branch_b\n-- down_revision: $id1\n-- message: b\n-- migrate:up\nSELECT 1;\n-- migrate:down\n");
($rc, $out, $err) = dbm($p, 'revision', '-m', 'third');
is($rc, 2, 'revision with two heads: exit 2');
is($err, "dbmigrate: the folder migrations has 2 heads; a new revision needs a single parent\n"
    . "DETAIL:  Heads: \"$id2\", \"branch_b\".\n"
    . "HINT:  Join them first: dbmigrate merge -m \"merge heads\" heads\n", 'revision with two heads: message');
($rc, $out, $err) = dbm($p, 'merge', 'heads');
is($rc, 2, 'merge without -m: exit 2');
($rc, $out, $err) = dbm($p, 'merge', '-m', 'join', $id1, $id2);
is($rc, 2, 'merge of an ancestor: exit 2');
is($err, "dbmigrate: merge: \"$id1\" is an ancestor of \"$id2\": a merge joins revisions that do not descend from each other\n",
    'merge of an ancestor: message');
($rc, $out, $err) = dbm($p, 'merge', '-m', 'join', 'nosuch');
is($rc, 2, 'merge of an unknown revision: exit 2');
like($err, qr/^dbmigrate: merge: revision "nosuch" is not known in the folder migrations$/, 'merge unknown: message');
($rc, $out) = dbm($p, 'merge', '-m', 'join branches');
is($rc, 0, 'merge heads exits 0');
my ($mid) = $out =~ m{^Generated migrations/([0-9a-f]{12})_join_branches\.sql}m;
like($out, qr/^  merges: $id2, branch_b$/m, 'merge: parents are the heads');
is(read_file("$p/migrations/${mid}_join_branches.sql"),
    "-- revision: $mid\n-- down_revision: $id2, branch_b\n-- message: join branches\n"
    . "-- A merge: both sections are empty (explicit no-ops).\n-- migrate:up\n-- migrate:down\n",
    'merge: the file');
($rc, $out) = dbm($p, 'merge', '-m', 'again');
is($rc, 0, 'merge with one head: exit 0');
is($out, "Nothing to merge: the folder has one head, $mid\n", 'merge with one head: message');
($rc, $out) = dbm($p, 'revision', '-m', 'after merge');
like($out, qr/^  parent: $mid$/m, 'revision after a merge: parent = the merge');

# by prefix
my $r = CliTest::new_project();
write_file("$r/migrations/a.sql", "-- revision: aaaa1111\n-- down_revision:\n-- migrate:up\n-- migrate:down\n");
write_file("$r/migrations/b.sql", "-- revision: bbbb2222\n-- down_revision:\n-- migrate:up\n-- migrate:down\n");
($rc, $out) = dbm($r, 'merge', '-m', 'by prefix', 'aaaa', 'bbbb2');
is($rc, 0, 'merge by unique prefixes');
like($out, qr/^  merges: aaaa1111, bbbb2222$/m, 'merge by prefix: full ids');

done_testing();
