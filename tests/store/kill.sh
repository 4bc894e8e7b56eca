#!/bin/sh
# kill -9 of `hoist build` (COPY of a large file, a RUN that writes) and of
# `hoist save -o F` at random moments; after each kill, the next command
# finds the store clean: nothing left in ROOT/tmp (the killed command's lease
# is reaped by whoever opens the store next), `cache verify` sound and with
# no leftover, and no F.tmp-* beside F after the next save. Needs root (RUN).
set -u
. "${HOIST_SRCDIR:?}/tests/lib/tap.sh"
H=${HOIST_BIN:?}
SRC=$HOIST_SRCDIR
ROUNDS=${HOIST_KILL_ROUNDS:-8}
[ "$(id -u)" = 0 ] || skip_all "needs root (RUN in root mode)"
[ -x /bin/busybox ] || skip_all "busybox-static not installed"

tmpdir T /tmp/hoist-kill-test.XXXXXX
export HOIST_ROOT="$T/store"
"$SRC/scripts/mkrootfs-busybox.sh" "$T/bb.tar" || bail "cannot make the busybox rootfs"
"$H" import "$T/bb.tar" bb >/dev/null || bail "import failed"
mkdir -p "$T/ctx"
head -c $((24 << 20)) /dev/urandom >"$T/ctx/big"
cat >"$T/ctx/Dockerfile" <<'EOD'
FROM bb
COPY big /big
RUN dd if=/dev/urandom of=/run.bin bs=1M count=16 2>/dev/null && sleep 1 && cp /big /big2
EOD

# rnd_sleep: 0.0x .. 2.9x seconds
rnd_sleep() { sleep "$(awk -v s="$(od -An -N2 -tu2 /dev/urandom)" 'BEGIN{printf "%.2f", (s % 300) / 100}')"; }

# tmp_entries: what ROOT/tmp holds (leases included)
tmp_entries() { find "$HOIST_ROOT/tmp" -mindepth 1 -maxdepth 1 | wc -l; }

killed=0 seen_tmp=0 dirty=0 verify_bad=0
for i in $(seq 1 "$ROUNDS"); do
	"$H" build --no-cache --progress quiet -t "k:$i" "$T/ctx" >/dev/null 2>&1 &
	pid=$!
	rnd_sleep
	if kill -9 "$pid" 2>/dev/null; then killed=$((killed + 1)); fi
	wait "$pid" 2>/dev/null
	# the sandbox's processes die with hoist (PDEATHSIG); give them a moment
	sleep 0.3
	n=$(tmp_entries)
	[ "$n" -gt 0 ] && seen_tmp=$((seen_tmp + 1))
	"$H" images >/dev/null 2>&1 # the next command, any command
	n=$(tmp_entries)
	if [ "$n" -ne 0 ]; then
		dirty=$((dirty + 1))
		diag "round $i: ROOT/tmp after the next command: $(ls "$HOIST_ROOT/tmp")"
	fi
	out=$("$H" cache verify 2>&1) || { verify_bad=$((verify_bad + 1)); diag "$out"; }
	case $out in *leftover*) verify_bad=$((verify_bad + 1)); diag "$out" ;; esac
done
diag "build: $killed of $ROUNDS builds killed, $seen_tmp left temporary files"
check "killed builds: ROOT/tmp is empty after the next command" [ $dirty -eq 0 ]
check "killed builds: cache verify is sound, with no leftover" [ $verify_bad -eq 0 ]
check "the kills left something to clean up at least once" [ $seen_tmp -gt 0 ]

"$H" build --progress quiet -t big "$T/ctx" >/dev/null 2>&1 || bail "build failed"
check_quiet "a build after the kills succeeds" "$H" cache verify
mkdir -p "$T/out"
killed=0 left=0
for i in $(seq 1 "$ROUNDS"); do
	"$H" save -o "$T/out/img.tar" big >/dev/null 2>&1 &
	pid=$!
	sleep "0.$(od -An -N1 -tu1 /dev/urandom | tr -d ' ' | cut -c1)"
	if kill -9 "$pid" 2>/dev/null; then killed=$((killed + 1)); fi
	wait "$pid" 2>/dev/null
	ls "$T/out" | grep -q 'tmp-' && left=$((left + 1))
done
"$H" save -o "$T/out/img.tar" big; st=$?
check "save after $killed killed saves succeeds" [ $st -eq 0 ]
check "no temp file beside the archive after the next save" [ "$(ls "$T/out")" = img.tar ]
diag "save: $killed of $ROUNDS saves killed, $left left a named temp file for the next save"
check "the archive loads" "$H" load -q -i "$T/out/img.tar"

# subuid mode: a killed RUN leaves files of subordinate ids that the user
# cannot remove outside the sandbox's user namespace. The store lists them
# as a leftover (not damage); the next RUN removes them from inside.
if "$SRC/tests/sandbox/users.sh" 2>/dev/null; then
	U="$T/subuid"
	mkdir -p "$U/ctx" "$U/c2"
	cp "$T/bb.tar" "$U/bb.tar"
	printf 'FROM bb\nRUN mkdir /d && echo x >/d/f && chown -R 5:5 /d && chmod 700 /d && sleep 8\n' >"$U/ctx/Dockerfile"
	printf 'FROM bb\nRUN true\n' >"$U/c2/Dockerfile"
	chmod -R a+rwX "$U"; chmod a+rx "$T"
	runuser -u hoistsub -- env -i PATH=/usr/bin:/bin HOME="$U" HOIST_ROOT="$U/store" H="$H" sh -c '
		$H import "$HOME/bb.tar" bb >/dev/null || exit 3
		$H build --no-cache --progress quiet "$HOME/ctx" >/dev/null 2>&1 & p=$!
		sleep 4; kill -9 $p; wait $p; sleep 0.5
		$H cache verify >"$HOME/verify1" 2>&1 || exit 4
		$H build --no-cache --progress quiet "$HOME/c2" >/dev/null 2>&1 || exit 5
		[ -z "$(ls -A "$HOIST_ROOT/tmp")" ] || exit 6
		$H cache verify >"$HOME/verify2" 2>&1 || exit 7'
	st=$?
	check "subuid: after a killed RUN the next RUN leaves ROOT/tmp empty, verify sound ($st)" [ $st -eq 0 ]
	check "subuid: what only the sandbox can remove was a leftover, not damage" grep -q '^leftover: ' "$U/verify1"
	check "subuid: and is gone after the next RUN" sh -c "! grep -q leftover '$U/verify2'"
else
	skip_or_fail "subuid: the test users cannot be made"
fi
finish
