#!/bin/bash
# Build cache and bad inputs of `hoist build`.
set -uo pipefail
: "${HOIST_BIN:?}"
. "${HOIST_SRCDIR:?}/tests/lib/tap.sh"
need_corpora buildkit-differential/base/mkbase.py
mkbase=$HOIST_CORPORA/buildkit-differential/base/mkbase.py
[ -x /bin/busybox ] || skip_all "needs /bin/busybox (busybox-static)"
tmpdir tmp
base=$tmp/busybox-rootfs.tar
python3 "$mkbase" /bin/busybox "$base" >/dev/null || bail "cannot make the base rootfs"
H="$HOIST_BIN --root $tmp/root"
$H import "$base" bb >/dev/null || bail "import failed"
ctx=$tmp/ctx; mkdir -p "$ctx/dir"
echo hello > "$ctx/a.txt"; echo b > "$ctx/dir/b.txt"
cat > "$ctx/Dockerfile" <<'DF'
FROM bb
ARG V=1
COPY a.txt /a.txt
ENV V=$V
COPY dir /d/
DF
export SOURCE_DATE_EPOCH=1700000000
b() { $H build --progress plain "$@" "$ctx" 2>"$tmp/err" >"$tmp/out"; }
b; ok_if $? "first build"; d1=$(tail -1 "$tmp/out")
b; d2=$(tail -1 "$tmp/out"); [ "$d1" = "$d2" ]; ok_if $? "rebuild gives the same digest"
[ "$(grep -c CACHED "$tmp/err")" = 4 ]; ok_if $? "rebuild is all CACHED"
b --no-cache; d3=$(tail -1 "$tmp/out"); [ "$d1" = "$d3" ] && ! grep -q CACHED "$tmp/err"; ok_if $? "--no-cache rebuild is deterministic with SOURCE_DATE_EPOCH"
touch -d '2001-01-01' "$ctx/a.txt"; b; [ "$(tail -1 "$tmp/out")" = "$d1" ] && [ "$(grep -c CACHED "$tmp/err")" = 4 ]; ok_if $? "touch: all CACHED, same digest"
echo b2 > "$ctx/dir/b.txt"; b; [ "$(grep -c CACHED "$tmp/err")" = 3 ] && grep -q "CACHED .*ENV" "$tmp/err"; ok_if $? "one byte changed: only the last COPY misses"
chmod 0600 "$ctx/a.txt"; b; [ "$(grep -c CACHED "$tmp/err")" = 1 ]; ok_if $? "mode change: the COPY and what follows miss"
b --build-arg V=2; [ "$(grep -c CACHED "$tmp/err")" = 2 ] && grep -q "CACHED COPY a.txt" "$tmp/err"; ok_if $? "build-arg change: ENV and after miss"

# COPY features: heredocs, --parents (with a /./ pivot), --link, a symlink
# in the middle of a source path, --exclude, BuildKit's history texts.
fx=$tmp/fx; mkdir -p "$fx/x/y" "$fx/z"; echo a > "$fx/x/y/a.js"; echo b > "$fx/x/b.js"
echo c > "$fx/z/c.txt"; echo m > "$fx/z/skip.md"; chmod 0750 "$fx/x"; ln -s x "$fx/lx"
# Hard links within one source stay hard links, to the first path in the
# layer's order (as BuildKit); two sources are copied apart.
mkdir -p "$fx/hl/sub"; echo h > "$fx/hl/z"; ln "$fx/hl/z" "$fx/hl/sub/b"; ln "$fx/hl/z" "$fx/hl/a-b"
echo h > "$fx/hl/copy"
{
  printf '%s\n' 'FROM bb' 'ARG V=one' 'ENV E=env' 'COPY <<EOF <<-"TWO" /hd/' \
    'hello $V $E "q" \$E' 'EOF'
  printf '\t%s\n' 'tabbed $V' 'TWO'
  printf '%s\n' 'ADD <<EOF /single.txt' 'single' 'EOF' \
    'COPY --parents x/y/*.js z /p/' 'COPY --parents ./x/./y/a.js /piv' \
    'COPY lx/y/a.js /mid/' 'COPY --link x/b.js /lnk/' 'COPY --exclude=*.md z /ex/' \
    'COPY hl /hl/' 'COPY hl/z hl/sub/b /two/' 'EXPOSE 80 8080/udp'
} > "$fx/Dockerfile"
$H build -q --output "type=oci,dest=$tmp/fxout" "$fx" >/dev/null 2>"$tmp/err"; ok_if $? "COPY features build ($(tail -1 "$tmp/err"))"
cat > "$tmp/show.py" <<'PY'
import json, sys, tarfile
o = sys.argv[1]
blob = lambda d: o + '/blobs/sha256/' + d[7:]
idx = json.load(open(o + '/index.json'))
m = json.load(open(blob(idx['manifests'][0]['digest'])))
c = json.load(open(blob(m['config']['digest'])))
for h in c['history']:
    print('H', h.get('created_by', ''))
for l in m['layers'][1:]:
    t = tarfile.open(blob(l['digest']))
    for i in t.getmembers():
        data = t.extractfile(i).read().decode() if i.isfile() else ''
        print('F', '%o' % i.mode, i.name, json.dumps(data))
        if i.islnk():
            print('L', i.name, i.linkname)
PY
python3 "$tmp/show.py" "$tmp/fxout" > "$tmp/fx.txt" 2>&1
has() { grep -qxF -- "$1" "$tmp/fx.txt"; }
has 'F 644 hd/EOF "hello one env \"q\" $E\n"' && has 'F 644 hd/TWO "tabbed $V\n"' && has 'F 644 single.txt "single\n"'; ok_if $? "heredocs: expanded (quotes kept) unless the word is quoted, chomped, named after the terminator"
has 'F 750 p/x ""' && has 'F 644 p/x/y/a.js "a\n"' && has 'F 644 p/z/c.txt "c\n"' && ! grep -q "p/x/b.js" "$tmp/fx.txt"; ok_if $? "--parents keeps parent directories"
has 'F 644 piv/y/a.js "a\n"' && ! grep -q "piv/x" "$tmp/fx.txt"; ok_if $? "--parents with a /./ pivot"
has 'F 644 mid/a.js "a\n"'; ok_if $? "a symlink in the middle of a source path resolves in the context"
has 'F 644 lnk/b.js "b\n"'; ok_if $? "--link copies"
has 'F 644 ex/c.txt "c\n"' && ! grep -q "ex/skip.md" "$tmp/fx.txt"; ok_if $? "--exclude"
has 'L hl/sub/b hl/a-b' && has 'L hl/z hl/a-b' && has 'F 644 hl/a-b "h\n"' && has 'F 644 hl/copy "h\n"' && ! grep -q '^L hl/copy' "$tmp/fx.txt" && has 'F 644 two/b "h\n"' && has 'F 644 two/z "h\n"'; ok_if $? "COPY keeps a source's hard links, not across sources"
has 'H COPY <<EOF <<TWO /hd/ # buildkit' && has 'H ADD <<EOF /single.txt # buildkit' && has 'H COPY ./x/./y/a.js /piv # buildkit' && has 'H ARG V=one' && has 'H EXPOSE map[80/tcp:{} 8080/udp:{}]'; ok_if $? "history texts as BuildKit writes them"

# Bad inputs: exit 1, FILE:LINE message, store unchanged.
imgs_before=$($H images 2>&1 | awk '{print $1, $2, $3}')
bad() { # name dockerfile-text [args]
  local name=$1 text=$2; shift 2
  printf '%s\n' "$text" > "$ctx/Dockerfile.bad"
  $H build -f "$ctx/Dockerfile.bad" -t "bad:$name" "$@" "$ctx" >/dev/null 2>"$tmp/err"; local rc=$?
  [ $rc = 1 ] && grep -q "Dockerfile.bad:[0-9]*: " "$tmp/err"; ok_if $? "bad input: $name (rc=$rc: $(tail -1 "$tmp/err"))"
}
bad missing-file $'FROM bb\nCOPY nosuch.txt /'
bad bad-chown $'FROM bb\nCOPY --chown=nosuchuser a.txt /'
bad escape $'FROM bb\nCOPY ../escape /'
ln -sf /etc/hostname "$ctx/outlink"
bad symlink-escape $'FROM bb\nCOPY outlink /'
bad unknown-stage $'FROM bb\nCOPY --from=nosuchstage /x /'
head -c 600 /dev/urandom > "$ctx/corrupt.tar"; printf 'ustar' | dd of="$ctx/corrupt.tar" bs=1 seek=257 conv=notrunc 2>/dev/null
bad corrupt-tar $'FROM bb\nADD corrupt.tar /x/'
bad before-from $'COPY a.txt /\nFROM bb'
bad unknown-flag $'FROM bb\nCOPY --nope a.txt /'
printf 'FROM bb\n' > "$ctx/Dockerfile.bad"
$H build -f "$ctx/Dockerfile.bad" --target nosuch "$ctx" >/dev/null 2>"$tmp/err"; [ $? = 1 ] && grep -q "nosuch" "$tmp/err"; ok_if $? "unknown --target"
[ "$($H images 2>&1 | awk '{print $1, $2, $3}')" = "$imgs_before" ]; ok_if $? "images unchanged after failed builds"
$H cache verify >/dev/null 2>&1; ok_if $? "cache verify is clean"
finish
