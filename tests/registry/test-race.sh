#!/bin/sh
# pull, import and load racing `cache prune` on one store (issue #21,
# finding 7): each round untags everything, then runs a pull, an import and a
# load while prune runs in a loop. A command that exits 0 must leave its tag
# with every blob it names; `cache verify` must stay sound. Before the
# writers took the store lock, 19 of 40 pulls and 6 of 40 imports tagged
# images whose blobs prune had just deleted.
. "${HOIST_SRCDIR:?}/tests/registry/lib.sh"
ROUNDS=${HOIST_RACE_ROUNDS:-20}

RP=$(free_port)
start_registry "$T/reg" plain "$RP" || skip_all "docker-registry did not start"
R=127.0.0.1:$RP

# the sources: an image in the registry, a rootfs tar, an archive to load
mklayer "$T/l1.tgz" 2048
mklayer "$T/l2.tgz" 512
"$MK" "$T/src" "$R/race/img:1" linux/amd64 "$T/l1.tgz" "$T/l2.tgz" >/dev/null || bail "mkimage failed"
HOIST_ROOT="$T/src" "$H" push --progress quiet "$R/race/img:1" >/dev/null 2>"$T/err" ||
	bail "push failed: $(cat "$T/err")"
mkdir -p "$T/rootfs/etc"
head -c $((3 << 20)) /dev/urandom >"$T/rootfs/blob"
echo hi >"$T/rootfs/etc/hello"
tar -C "$T/rootfs" -cf "$T/rootfs.tar" .
HOIST_ROOT="$T/src" "$H" save -o "$T/img.tar" "$R/race/img:1" || bail "save failed"

export HOIST_ROOT="$T/store"
"$H" images >/dev/null

# every_blob NAME: the tag (normalized NAME) and its manifest, config and
# layers are all in the store
every_blob() {
	$PY - "$HOIST_ROOT" "$1" <<'EOP'
import json, os, sys
root, name = sys.argv[1], sys.argv[2]
blob = lambda d: os.path.join(root, "blobs/sha256", d.split(":")[1])
m = json.load(open(os.path.join(root, "tags.json"))).get(name)
if not m or not os.path.isfile(blob(m)):
    sys.exit(1)
man = json.load(open(blob(m)))
ds = [man["config"]["digest"]] + [l["digest"] for l in man["layers"]]
sys.exit(0 if all(os.path.isfile(blob(d)) for d in ds) else 1)
EOP
}

ok_pull=0 ok_import=0 ok_load=0 bad=0 prunes=0
for i in $(seq 1 "$ROUNDS"); do
	"$H" rmi "$R/race/img:1" race/imp:1 >/dev/null 2>&1
	(
		n=0
		while [ ! -e "$T/stop" ]; do "$H" cache prune --all >/dev/null 2>&1; n=$((n + 1)); done
		echo $n >"$T/prunes"
	) &
	pp=$!
	"$H" pull --progress quiet "$R/race/img:1" >/dev/null 2>"$T/pull.err" &
	p1=$!
	"$H" import "$T/rootfs.tar" race/imp:1 >/dev/null 2>"$T/import.err" &
	p2=$!
	"$H" load -q -i "$T/img.tar" >/dev/null 2>"$T/load.err" &
	p3=$!
	wait $p1; s1=$?
	wait $p2; s2=$?
	wait $p3; s3=$?
	touch "$T/stop"; wait $pp; rm -f "$T/stop"
	prunes=$((prunes + $(cat "$T/prunes")))
	if [ $s1 -eq 0 ]; then
		ok_pull=$((ok_pull + 1))
		every_blob "$R/race/img:1" || { bad=$((bad + 1)); diag "round $i: pulled image lacks blobs"; }
	fi
	if [ $s2 -eq 0 ]; then
		ok_import=$((ok_import + 1))
		every_blob docker.io/race/imp:1 || { bad=$((bad + 1)); diag "round $i: imported image lacks blobs"; }
	fi
	if [ $s3 -eq 0 ]; then
		ok_load=$((ok_load + 1))
		every_blob "$R/race/img:1" || { bad=$((bad + 1)); diag "round $i: loaded image lacks blobs"; }
	fi
	out=$("$H" cache verify 2>&1) || { bad=$((bad + 1)); diag "round $i: $out"; }
done
diag "$ROUNDS rounds, $prunes prunes: $ok_pull pulls, $ok_import imports, $ok_load loads exited 0"
check "no command that exited 0 left a tag with missing blobs, verify stayed sound" [ $bad -eq 0 ]
check "every pull succeeded" [ $ok_pull -eq "$ROUNDS" ]
check "every import succeeded" [ $ok_import -eq "$ROUNDS" ]
check "every load succeeded" [ $ok_load -eq "$ROUNDS" ]
finish
