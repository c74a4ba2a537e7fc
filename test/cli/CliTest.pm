# Helpers for the dbmigrate client's TAP tests (test/cli/*.t, run with prove).
#
# Environment: PGHOST, PGPORT, PGUSER name a running server where the user
# may create databases and extensions (scripts/test.sh starts one);
# DBMIGRATE names the client (default: cli/dbmigrate of this checkout).
package CliTest;

use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use Exporter qw(import);

our @EXPORT = qw(dbm run_in spawn_in new_project new_db psql_value write_file read_file root_dir);

my $root = abs_path(dirname(__FILE__) . '/../..');
my $bin = $ENV{DBMIGRATE} || "$root/cli/dbmigrate";
die "no dbmigrate client at $bin: run make first\n" unless -x $bin;
my @dbs;
my $owner = $$;	# forked children must not drop the databases

sub root_dir { return $root; }

# run_in(DIR, {ENV}, ARGS...): run the client in DIR; returns (exit, stdout, stderr)
sub run_in {
    my ($dir, $env, @args) = @_;
    my $tmp = tempdir(CLEANUP => 1);
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        chdir $dir or die "chdir $dir: $!";
        for my $k (keys %$env) {
            if (defined $env->{$k}) { $ENV{$k} = $env->{$k}; } else { delete $ENV{$k}; }
        }
        open(STDOUT, '>', "$tmp/out") or die;
        open(STDERR, '>', "$tmp/err") or die;
        exec($bin, @args) or die "exec $bin: $!";
    }
    waitpid($pid, 0);
    my $rc = $? >> 8;
    $rc = 128 + ($? & 127) if $? & 127;
    return ($rc, read_file("$tmp/out"), read_file("$tmp/err"));
}

# spawn_in(DIR, LOG, ARGS...): start the client in DIR with stdout and stderr
# to LOG; returns its pid (the client itself: kill it, waitpid it)
sub spawn_in {
    my ($dir, $log, @args) = @_;
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        chdir $dir or die "chdir $dir: $!";
        open(STDOUT, '>', $log) or die;
        open(STDERR, '>&', \*STDOUT) or die;
        exec($bin, @args) or die "exec $bin: $!";
    }
    return $pid;
}

# dbm(DIR, ARGS...): run_in without extra environment
sub dbm { my $dir = shift; return run_in($dir, {}, @_); }

sub write_file {
    my ($path, $content) = @_;
    open(my $fh, '>:raw', $path) or die "write $path: $!";
    print $fh $content;
    close($fh);
}

sub read_file {
    my ($path) = @_;
    open(my $fh, '<:raw', $path) or return '';
    local $/;
    my $c = <$fh>;
    close($fh);
    return defined $c ? $c : '';
}

# new_project(): an empty folder with migrations/
sub new_project {
    my $dir = tempdir(CLEANUP => 1);
    mkdir "$dir/migrations" or die;
    return $dir;
}

# new_db(): a fresh database (dropped at exit); returns its name
sub new_db {
    my $name = sprintf("dbm_cli_%d_%d", $$, scalar(@dbs));
    system("dropdb --if-exists $name 2>/dev/null") == 0 or die "dropdb $name";
    system('createdb', $name) == 0 or die "createdb $name";
    push @dbs, $name;
    return $name;
}

# psql_value(DB, SQL): the first column of the result, rows joined by "|"
sub psql_value {
    my ($db, $sql) = @_;
    local $ENV{PGOPTIONS} = '-c client_min_messages=warning';
    open(my $fh, '-|', 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', $db, '-c', $sql)
        or die "psql: $!";
    my @rows = <$fh>;
    close($fh);
    chomp @rows;
    return join('|', @rows);
}

END {
    return if $$ != $owner;
    my $rc = $?;
    for my $db (@dbs) {
        # a killed deploy's backend may still be going away
        system("dropdb --if-exists --force $db >/dev/null 2>&1");
    }
    $? = $rc;
}

1;
