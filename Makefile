# dbmigrate: schema migrations kept and run inside PostgreSQL (PGXS)

EXTENSION = dbmigrate
EXTVERSION = $(shell grep default_version $(EXTENSION).control | sed -e "s/default_version[[:space:]]*=[[:space:]]*'\([^']*\)'/\1/")

MODULE_big = dbmigrate
OBJS = \
	src/dbmigrate.o \
	src/catalog.o \
	src/graph.o \
	src/idlist.o \
	src/target.o \
	src/sqlcheck.o \
	src/registry.o \
	src/runner.o \
	src/diagnostics.o \
	src/status.o \
	src/seed.o \
	src/plan.o \
	src/lint.o \
	src/stepwise.o \
	src/worker.o

DATA = dbmigrate--1.0.sql dbmigrate--1.0--1.1.sql

# pg_regress: inputs in sql/, expected output in expected/
REGRESS = extension register badinput nontransactional validate health history upgrade downgrade \
	branches downgrade_order stamp guc_isolation privileges hostile_search_path hidden_sql \
	step_diagnostics stepwise plan lint timeouts deferred_constraints
REGRESS_OPTS = --inputdir=. --load-extension=pgcrypto

# isolation tester: specs in specs/, expected output in expected/
ISOLATION = concurrent_upgrade upgrade_vs_downgrade register_vs_upgrade \
	seed_concurrent lock_timeout run_lock_timeout reads_dont_block \
	run_lock_unprivileged snapshot_reads lock_retry
ISOLATION_OPTS = --inputdir=.

EXTRA_CLEAN = output_iso tmp_check

PG_CPPFLAGS = -I$(srcdir)/src -DDBMIGRATE_VERSION=\"$(EXTVERSION)\"
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

ifeq ($(shell test $(VERSION_NUM) -lt 130000 && echo old),old)
$(error dbmigrate requires PostgreSQL 13 or later)
endif

# The command-line client (cli/): a C99 libpq program, built by "make" and
# installed by "make install" into PostgreSQL's bindir (CLI_BINDIR overrides).
# It includes no server header and uses its own flags, not the server's.
CLI = cli/dbmigrate
CLI_OBJS = cli/main.o cli/output.o cli/migfile.o cli/graph.o cli/db.o \
	cli/cmd_files.o cli/cmd_run.o cli/cmd_read.o cli/cmd_alembic.o \
	cli/fleet.o cli/replicas.o
CLI_CFLAGS = -std=c99 -D_POSIX_C_SOURCE=200809L -O2 -g -Wall -Wextra $(COPT)
CLI_BINDIR ?= $(bindir)
EXTRA_CLEAN += $(CLI) $(CLI_OBJS)

all: $(CLI)

cli/%.o: cli/%.c cli/dbmigrate.h
	$(CC) $(CLI_CFLAGS) -I'$(includedir)' -DDBMIGRATE_VERSION=\"$(EXTVERSION)\" -c -o $@ $<

$(CLI): $(CLI_OBJS)
	$(CC) $(CLI_CFLAGS) -o $@ $(CLI_OBJS) -L'$(libdir)' -lpq

.PHONY: install-cli uninstall-cli
install: install-cli
install-cli: $(CLI)
	$(MKDIR_P) '$(DESTDIR)$(CLI_BINDIR)'
	$(INSTALL_PROGRAM) $(CLI) '$(DESTDIR)$(CLI_BINDIR)/dbmigrate'

uninstall: uninstall-cli
uninstall-cli:
	rm -f '$(DESTDIR)$(CLI_BINDIR)/dbmigrate'

# The three places the version lives must agree (control, META.json, library).
.PHONY: versioncheck prove bench valgrind-check dist
versioncheck:
	@/usr/bin/python3 -c 'import json, sys; m = json.load(open("META.json")); \
	missing = [k for k in ("name", "abstract", "version", "maintainer", "license", "provides", "meta-spec") if k not in m]; \
	bad = [n for n, p in m["provides"].items() if not {"file", "version"} <= set(p)]; \
	sys.exit("META.json lacks %s" % (missing + bad)) if missing or bad else None' || exit 1
	@v='$(EXTVERSION)'; \
	grep -q "\"version\": \"$$v\"" META.json || { echo "META.json version differs from control ($$v)"; exit 1; }; \
	test "$$(grep -c "\"version\": \"$$v\"" META.json)" -ge 2 || { echo "META.json provides.dbmigrate.version differs from control ($$v)"; exit 1; }; \
	ls $(EXTENSION)--$$v.sql $(EXTENSION)--*--$$v.sql 2>/dev/null | grep -q . || { echo "no install or update script for $$v"; exit 1; }; \
	for f in $(EXTENSION)--*.sql; do echo " $(DATA) " | grep -q " $$f " || { echo "$$f is not in DATA"; exit 1; }; done; \
	echo "version $$v: control, META.json and install/update scripts agree"

# pgTAP suite (needs a running server: PGHOST/PGPORT/PGUSER/PGDATABASE)
prove:
	pg_prove --ext .sql -v test/

valgrind-check:
	scripts/valgrind.sh

bench:
	bench/run.sh

installcheck: versioncheck

# SQL-level fuzz test of every text / text[] argument (test/fuzz/fuzz.py):
# 100,000 calls against the server in PGHOST/PGPORT/PGUSER (a superuser; the
# extension installed). FUZZ_CALLS, FUZZ_SEED and FUZZ_ARGS override.
# test/shell/fuzz.sh is the bounded CI sample.
FUZZ_CALLS ?= 100000
.PHONY: fuzz
fuzz:
	/usr/bin/python3 test/fuzz/fuzz.py --calls $(FUZZ_CALLS) --progress 10000 $(if $(FUZZ_SEED),--seed $(FUZZ_SEED)) $(FUZZ_ARGS)

# Differential test against Alembic's RevisionMap (test/differential/): random
# revision graphs against the server given by the PG* environment, in a
# database of its own.  Prints how many graphs and targets agreed.
# Override: DIFF_GRAPHS (10000), DIFF_JOBS (2), DIFF_SEED (random; printed),
# DIFF_MAX_SIZE (5000).
DIFF_GRAPHS ?= 10000
DIFF_JOBS ?= 2
DIFF_MAX_SIZE ?= 5000
.PHONY: differential
differential:
	@db=dbm_differential_$$$$; \
	trap 'dropdb --if-exists "$$db" >/dev/null 2>&1' EXIT; trap 'exit 130' INT TERM; \
	createdb "$$db" || exit 1; \
	/usr/bin/python3 test/differential/differential.py --graphs $(DIFF_GRAPHS) \
		--jobs $(DIFF_JOBS) --min-size 10 --max-size $(DIFF_MAX_SIZE) \
		$(if $(DIFF_SEED),--seed $(DIFF_SEED)) --dsn "dbname=$$db"

# PGXN distribution: the committed tree at HEAD, as dbmigrate-<version>.zip
dist: versioncheck
	git archive --format zip --prefix=$(EXTENSION)-$(EXTVERSION)/ -o $(EXTENSION)-$(EXTVERSION).zip HEAD
	@echo "$(EXTENSION)-$(EXTVERSION).zip"
