# Deploys running at once and deploys that die: two deploy jobs bootstrapping
# a fresh database at the same moment both succeed (CREATE EXTENSION is
# serialized by an advisory lock); a deploy killed mid-way, or interrupted
# with Ctrl-C, leaves nothing registered or applied, and the next one
# completes.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use CliTest;
use Time::HiRes qw(sleep time);
use Test::More;

my $p = CliTest::new_project();
for my $f (glob(root_dir() . '/examples/migrations/*.sql')) {
    my ($name) = $f =~ m{([^/]+)$};
    write_file("$p/migrations/$name", read_file($f));
}

# two deploys at once against fresh databases, five times
for my $round (1 .. 5) {
    my $db = new_db();
    my @kids = map { spawn_in($p, "$p/job$_.log", '-d', "dbname=$db", 'upgrade') } (1, 2);
    my $codes = '';
    for my $pid (@kids) {
        waitpid($pid, 0);
        $codes .= ($? >> 8) . "\n";
    }
    my @logs = map { read_file("$p/job$_.log") } (1, 2);
    is($codes, "0\n0\n", "round $round: both concurrent deploys succeed")
        or diag(join("\n----\n", @logs));
    is(psql_value($db, 'SELECT * FROM dbmigrate.migrate_current()'), '003_posts_published', "round $round: at head");
    is(psql_value($db, "SELECT count(*) FROM dbmigrate.migrate_log() WHERE operation = 'upgrade'"), '3',
        "round $round: each revision applied once");
    is(scalar(grep { /^Upgraded database/m } @logs) . '/' . scalar(grep { /^Nothing to upgrade/m } @logs), '1/1',
        "round $round: one deploy upgraded, the other found nothing to do");
}

# a deploy killed mid-way (SIGKILL while a revision runs)
my $db = new_db();
write_file("$p/migrations/004_slow.sql", "-- revision: 004_slow\n-- down_revision: 003_posts_published\n"
    . "-- message: slow\n-- migrate:up\nCREATE TABLE slow (a int);\nSELECT pg_sleep(5);\n-- migrate:down\nDROP TABLE slow;\n");
sub wait_for_sleep {
    my ($db) = @_;
    for (1 .. 100) {
        my $pid = psql_value($db, "SELECT pid FROM pg_stat_activity WHERE application_name = 'dbmigrate' "
            . "AND wait_event = 'PgSleep'");
        return $pid if $pid;
        sleep 0.1;
    }
    return undef;
}
sub wait_gone {
    my ($db, $pid) = @_;
    for (1 .. 100) {
        return 1 if psql_value($db, "SELECT count(*) FROM pg_stat_activity WHERE pid = $pid") eq '0';
        sleep 0.1;
    }
    return 0;
}
{
    # the server notices the vanished client during the sleep
    local $ENV{PGOPTIONS} = '-c client_connection_check_interval=100';
    my $pid = spawn_in($p, "$p/kill.log", '-d', "dbname=$db", 'upgrade');
    my $backend = wait_for_sleep($db);
    ok($backend, 'killed deploy: it reached the slow revision');
    kill 'KILL', $pid;
    waitpid($pid, 0);
    ok(wait_gone($db, $backend), 'killed deploy: its backend ended');
}
is(psql_value($db, "SELECT count(*) FROM pg_extension WHERE extname = 'dbmigrate'"), '0',
    'killed deploy: nothing kept, not even the extension');
is(psql_value($db, "SELECT to_regclass('users') IS NULL AND to_regclass('slow') IS NULL"), 't', 'killed deploy: no table');
my ($rc, $out, $err) = dbm($p, '-d', "dbname=$db", 'upgrade');
is($rc, 0, 'after a killed deploy, the next one completes');
is(psql_value($db, "SELECT string_agg(revision, ',' ORDER BY id) FROM dbmigrate.migrate_log()"),
    '001_initial_migration,002_create_posts,003_posts_published,004_slow', 'each revision applied once, in order');

# Ctrl-C: the statement is cancelled, the transaction rolled back, exit 1
my $db2 = new_db();
{
    my $tmp = CliTest::new_project();
    my $pid = spawn_in($p, "$tmp/int.log", '-d', "dbname=$db2", 'upgrade');
    ok(wait_for_sleep($db2), 'interrupted deploy: it reached the slow revision');
    kill 'INT', $pid;
    waitpid($pid, 0);
    is($? >> 8, 1, 'Ctrl-C: exit 1');
    my $log = read_file("$tmp/int.log");
    like($log, qr/^dbmigrate: migrations\/004_slow\.sql:6: ERROR:  57014: canceling statement due to user request\n/m,
        'Ctrl-C: cancelled, the statement named');
    like($log, qr/^Rolled back: nothing was registered or applied$/m, 'Ctrl-C: rolled back');
}
is(psql_value($db2, "SELECT count(*) FROM pg_extension WHERE extname = 'dbmigrate'"), '0', 'Ctrl-C: nothing kept');

done_testing();
