# ctlua — build, run, test. `make run` and `make test` install what is missing first.

PREFIX    ?= /usr/local
DESTDIR   ?=
# sbin and section 8, where conntrack, conntrackd and nft are.
SBINDIR    = $(PREFIX)/sbin
SHAREDIR   = $(PREFIX)/share/ctlua
MANDIR     = $(PREFIX)/share/man
UNITDIR   ?= $(PREFIX)/lib/systemd/system
COMPDIR   ?= $(PREFIX)/share/bash-completion/completions
# /etc whatever the prefix: the unit reads /etc/ctlua and /etc/default/ctlua.
SYSCONFDIR ?= /etc

CC        ?= cc
PKGS       = lua5.4 libmnl libnetfilter_conntrack libuv libcap-ng libnftables
# pkg-config runs once, on first use, not at parse time: on a fresh machine `deps`
# installs it first (the targets that install build in a sub-make).
PKG_CFLAGS = $(eval PKG_CFLAGS := $$(shell pkg-config --cflags $(PKGS) 2>/dev/null))$(PKG_CFLAGS)
PKG_LIBS   = $(eval PKG_LIBS := $$(shell pkg-config --libs $(PKGS) 2>/dev/null))$(PKG_LIBS)
CFLAGS    ?= -O2 -g
CFLAGS    += -std=gnu11 -Wall -Wextra $(PKG_CFLAGS) \
             -DCTLUA_LUADIR='"$(SHAREDIR)/lua"' -DCTLUA_SCRIPTDIR='"$(SHAREDIR)/scripts"'
LDLIBS    += $(PKG_LIBS) -lm

SRCS       = $(wildcard src/*.c)
OBJS       = $(SRCS:src/%.c=build/%.o)
# Header dependencies come from the compiler: build/*.d, build-asan/*.d, build-fuzz/*.d.
DEPFLAGS   = -MMD -MP

# Debian 12 packages: build, run, test.
DEBS_BUILD = gcc make pkg-config liblua5.4-dev libmnl-dev libnetfilter-conntrack-dev libuv1-dev libcap-ng-dev \
             libnftables-dev
DEBS_RUN   = lua-cjson libnftables1
# `make deb` only: building the Debian package and checking it.
DEBS_DEB   = debhelper dpkg-dev fakeroot lintian
DEBS_TEST  = conntrack nftables iproute2 perl util-linux lua5.4 tmux mandoc groff man-db systemd \
             prometheus curl jq socat nfdump valgrind bc

.PHONY: all deps run demo test test-unit bench fuzz soak docs install uninstall deb clean FORCE

# What a user runs; the tests' programs are built by `make test`.
all: ctlua
TEST_BINS  = ctlua ctlua-asan tests/tgen tests/nlcapture

ctlua: $(OBJS)
	$(CC) $(LDFLAGS) -o $@ $(OBJS) $(LDLIBS)

build/%.o: src/%.c | build
	$(CC) $(CFLAGS) $(DEPFLAGS) -c -o $@ $<

# main.c has the install paths compiled in: rebuild it when PREFIX changes.
build/main.o: build/prefix
build/prefix: FORCE | build
	@echo '$(SHAREDIR)' | cmp -s - $@ || echo '$(SHAREDIR)' > $@

build:
	mkdir -p build

# The same program built with AddressSanitizer and UBSan, for the unprivileged tests.
ASAN_FLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer
ASAN_OBJS  = $(SRCS:src/%.c=build-asan/%.o)
build-asan/%.o: src/%.c | build-asan
	$(CC) $(CFLAGS) $(DEPFLAGS) $(ASAN_FLAGS) -c -o $@ $<
build-asan/main.o: build/prefix
build-asan:
	mkdir -p build-asan
ctlua-asan: $(ASAN_OBJS)
	$(CC) $(ASAN_FLAGS) -o $@ $(ASAN_OBJS) $(LDLIBS)

tests/tgen: tests/tgen.c
	$(CC) -O2 -Wall -Wextra -o $@ $<

tests/nlcapture: tests/nlcapture.c
	$(CC) $(CFLAGS) -o $@ $< $(LDLIBS)

# Installs the Debian packages that are missing; a no-op when all are present.
deps:
	@missing=$$(for p in $(DEBS_BUILD) $(DEBS_RUN) $(DEBS_TEST); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  if [ "$$(id -u)" != 0 ]; then echo "make deps: need root to install:" $$missing >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# Running needs the build and run packages only, not the test tools.
run:
	$(MAKE) --no-print-directory deps DEBS_TEST=
	$(MAKE) --no-print-directory ctlua
	./ctlua

# The demo needs a namespace, a rule and the traffic generator: no test tools.
DEBS_DEMO  = nftables iproute2 util-linux
demo:
	$(MAKE) --no-print-directory deps DEBS_TEST="$(DEBS_DEMO)"
	$(MAKE) --no-print-directory ctlua tests/tgen
	sh tests/demo.sh

test: deps
	$(MAKE) --no-print-directory $(TEST_BINS)
	prove -v -f tests/unit/*.t tests/priv/*.t
	@echo "--- every test again, on the ASan+UBSan build ---"
	CTLUA=$(CURDIR)/ctlua-asan ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		prove -f tests/unit/*.t tests/priv/*.t

# A valgrind-clean soak (never part of make test: minutes): SOAK_EVENTS events made
# of the captured kernel messages, through conversion, dispatch, formatting and JSON.
SOAK_EVENTS ?= 1000000
soak: deps
	$(MAKE) --no-print-directory ctlua
	$(MAKE) --no-print-directory deps DEBS_TEST=valgrind
	lua5.4 tests/data/repeat-nl.lua $(SOAK_EVENTS) tests/data/ipv4.nl tests/data/ipv6.nl > build/soak.nl
	valgrind --error-exitcode=9 --leak-check=full --show-leak-kinds=definite,indirect \
		--errors-for-leak-kinds=definite,indirect ./ctlua --netlink-file build/soak.nl tests/data/soak.lua

test-unit: $(TEST_BINS)
	prove -f tests/unit/*.t

# Benchmark (never part of make test, about 10 minutes): ctlua against conntrack -E and
# a bare receiver; BENCH_ARGS="COUNT RATE", BENCH_QUICK=1 for a short run, the other
# settings (RUNS, ROWS, SEARCH, MEM_EVENTS...) at the top of bench/run.sh.
BENCH_BINS = bench/loadgen bench/floor bench/measure
bench/%: bench/%.c
	$(CC) -O2 -Wall -Wextra -o $@ $< $(shell pkg-config --cflags --libs libmnl 2>/dev/null)

bench: deps
	$(MAKE) --no-print-directory ctlua $(BENCH_BINS)
	bash bench/run.sh $(BENCH_ARGS)

# Fuzzing (never part of make test): libFuzzer targets built by clang with ASan and
# UBSan, seeded from the test captures; each runs FUZZ_RUNS inputs or FUZZ_TIME
# seconds, whichever comes first. Crashes land in build-fuzz/; a fixed one goes
# into fuzz/regress/<target>/, which tests/unit/fuzz.t replays on every make test.
FUZZ_RUNS ?= 10000000
FUZZ_TARGETS ?= convert replay
FUZZ_TIME ?= 3600
FUZZ_CC    = clang
FUZZ_FLAGS = -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined
# The base and the event path: the fuzz targets link nothing else (no socket, no loop).
FUZZ_SRCS  = runtime decode names format convert
FUZZ_OBJS  = $(FUZZ_SRCS:%=build-fuzz/%.o)
DEBS_FUZZ  = clang libclang-rt-14-dev
build-fuzz/%.o: src/%.c | build-fuzz
	$(FUZZ_CC) $(CFLAGS) $(DEPFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<
build-fuzz:
	mkdir -p build-fuzz
build-fuzz/fuzz-convert: fuzz/convert.c $(FUZZ_OBJS)
	$(FUZZ_CC) $(CFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer -DFUZZ_LUADIR='"$(CURDIR)/lua"' -o $@ $< $(FUZZ_OBJS) $(LDLIBS)
build-fuzz/fuzz-replay: fuzz/replay.c $(FUZZ_OBJS)
	$(FUZZ_CC) $(CFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer -DFUZZ_LUADIR='"$(CURDIR)/lua"' -o $@ $< $(FUZZ_OBJS) $(LDLIBS)

fuzz: deps
	$(MAKE) --no-print-directory deps DEBS_TEST="$(DEBS_FUZZ)"
	$(MAKE) --no-print-directory build-fuzz/fuzz-convert build-fuzz/fuzz-replay
	lua5.4 fuzz/seed.lua build-fuzz/corpus tests/data
	@for t in $(FUZZ_TARGETS); do \
	  echo "--- fuzz $$t: $(FUZZ_RUNS) runs or $(FUZZ_TIME) s ---"; \
	  mkdir -p fuzz/regress/$$t; \
	  ASAN_OPTIONS=quarantine_size_mb=16 ./build-fuzz/fuzz-$$t -runs=$(FUZZ_RUNS) \
	    -max_total_time=$(FUZZ_TIME) -max_len=1024 -rss_limit_mb=4096 \
	    -print_final_stats=1 -artifact_prefix=build-fuzz/crash-$$t- \
	    build-fuzz/corpus/$$t fuzz/regress/$$t 2>&1 | tee build-fuzz/$$t.log | grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|==[0-9]+==|SUMMARY|fuzz:)' || true; \
	  if grep -q '^SUMMARY: libFuzzer' build-fuzz/$$t.log; then echo "fuzz $$t: crash, see build-fuzz/$$t.log"; exit 1; fi; \
	done

# Regenerates the README's field reference from the field list (src/fields.h).
docs: ctlua
	./ctlua --fields > build/fields.md
	awk 'FNR == NR { f = f $$0 "\n"; next } /^<!-- fields:end -->/ { printf "%s", f; skip = 0 } \
	     !skip { print } /^<!-- fields:begin -->/ { skip = 1 }' build/fields.md README.md > build/README.md
	mv build/README.md README.md

# Paths in the unit and the man page become this install's. /etc/ctlua is created,
# empty; /etc/default/ctlua and the logrotate snippet are installed when absent
# (they are the admin's once there). The Debian package ships an example rule.
SUBST = sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SHAREDIR@|$(SHAREDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g'
ETC_FILES = default/ctlua logrotate.d/ctlua
install: ctlua
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(SHAREDIR)/lua/ctlua $(DESTDIR)$(SHAREDIR)/scripts \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(UNITDIR) $(DESTDIR)$(COMPDIR) \
		$(DESTDIR)$(SYSCONFDIR)/ctlua $(DESTDIR)$(SYSCONFDIR)/default $(DESTDIR)$(SYSCONFDIR)/logrotate.d
	install -m 755 ctlua $(DESTDIR)$(SBINDIR)/ctlua
	install -m 644 lua/ctlua.lua $(DESTDIR)$(SHAREDIR)/lua/
	install -m 644 lua/ctlua/*.lua $(DESTDIR)$(SHAREDIR)/lua/ctlua/
	install -m 644 scripts/*.lua $(DESTDIR)$(SHAREDIR)/scripts/
	sed 's|/usr/local|$(PREFIX)|g' man/ctlua.8 > $(DESTDIR)$(MANDIR)/man8/ctlua.8
	$(SUBST) systemd/ctlua@.service > $(DESTDIR)$(UNITDIR)/ctlua@.service
	$(SUBST) etc/bash-completion/ctlua > $(DESTDIR)$(COMPDIR)/ctlua
	chmod 644 $(DESTDIR)$(MANDIR)/man8/ctlua.8 $(DESTDIR)$(UNITDIR)/ctlua@.service $(DESTDIR)$(COMPDIR)/ctlua
	for f in $(ETC_FILES); do [ -e $(DESTDIR)$(SYSCONFDIR)/$$f ] || \
		install -m 644 etc/$$f $(DESTDIR)$(SYSCONFDIR)/$$f; done

# Removes what install put there; the /etc files only when unchanged, /etc/ctlua
# only when empty (the admin's rules stay).
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/ctlua
	rm -rf $(DESTDIR)$(SHAREDIR)
	rm -f $(DESTDIR)$(MANDIR)/man8/ctlua.8
	rm -f $(DESTDIR)$(UNITDIR)/ctlua@.service
	rm -f $(DESTDIR)$(COMPDIR)/ctlua
	for f in $(ETC_FILES); do ! cmp -s etc/$$f $(DESTDIR)$(SYSCONFDIR)/$$f || rm -f $(DESTDIR)$(SYSCONFDIR)/$$f; done
	-rmdir $(DESTDIR)$(SYSCONFDIR)/ctlua 2> /dev/null

# The Debian package (debian/), built in a copy of the tree under build/deb so the
# .deb, .buildinfo and .changes land there: build/deb/ctlua_VERSION_ARCH.deb.
DEB_TREE = Makefile src lua scripts man systemd etc debian LICENSE README.md
deb:
	$(MAKE) --no-print-directory deps DEBS_TEST="$(DEBS_DEB)"
	rm -rf build/deb && mkdir -p build/deb/ctlua
	tar cf - $(DEB_TREE) | (cd build/deb/ctlua && tar xf -)
	cd build/deb/ctlua && dpkg-buildpackage -us -uc -b
	lintian --fail-on error build/deb/*.changes

clean:
	rm -rf build build-asan build-fuzz ctlua ctlua-asan tests/tgen tests/nlcapture $(BENCH_BINS)

-include $(wildcard build/*.d build-asan/*.d build-fuzz/*.d)
