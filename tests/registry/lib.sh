# Shared by the registry tests: the TAP helpers of tests/lib/tap.sh, free
# ports, and real servers on 127.0.0.1 (Debian's docker-registry, the tests'
# token server and fault proxy), all stopped on exit. Source it; it sets $H,
# $MK, $T.
set -u
H=${HOIST_BIN:?}
MK=${HOIST_MKIMAGE:?}
SRC=${HOIST_SRCDIR:?}/tests/registry
PY=/usr/bin/python3
. "$HOIST_SRCDIR/tests/lib/tap.sh"
tmpdir T /tmp/hoist-regtest.XXXXXX
PIDS=""
at_exit 'for p in $PIDS; do kill "$p" 2>/dev/null; done; for p in $PIDS; do wait "$p" 2>/dev/null; done'

# No credentials or settings of the user running the tests leak in.
export DOCKER_CONFIG="$T/docker"
export REGISTRY_AUTH_FILE="$T/skopeo-auth.json"
export HOIST_CERTS_DIR="$T/certs.d"
unset HOIST_INSECURE_REGISTRIES
export HOIST_ROOT="$T/store"

need() {
	for c in "$@"; do command -v "$c" >/dev/null 2>&1 || skip_all "'$c' is not installed"; done
}
need docker-registry openssl skopeo curl
[ -x $PY ] || skip_all "$PY is missing"

# The password of user "test" on the htpasswd and token registries.
REGPASS=${HOIST_TEST_REGPASS:-testpass}

free_port() {
	$PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_url() { # URL [curl args]
	url=$1; shift
	for _ in $(seq 1 100); do
		curl -s -o /dev/null "$@" "$url" && return 0
		sleep 0.1
	done
	echo "# $url did not come up" >&2
	return 1
}

# start_registry DIR MODE PORT [TOKEN_PORT]: MODE is plain, tls, htpasswd or token.
start_registry() {
	d=$1 mode=$2 port=$3
	mkdir -p "$d/data"
	tls="" auth="" scheme=http
	if [ "$mode" = tls ]; then
		openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=hoist test CA" \
			-addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
			-keyout "$d/key.pem" -out "$d/cert.pem" 2>/dev/null
		tls="  tls:
    certificate: $d/cert.pem
    key: $d/key.pem"
		scheme=https
	fi
	if [ "$mode" = htpasswd ]; then
		# The registry wants bcrypt entries; glibc's crypt makes them.
		HOIST_TEST_REGPASS=$REGPASS $PY -W ignore -c 'import crypt,os; print("test:" + crypt.crypt(os.environ["HOIST_TEST_REGPASS"], crypt.mksalt(crypt.METHOD_BLOWFISH)))' > "$d/htpasswd"
		auth="auth:
  htpasswd:
    realm: hoist-test
    path: $d/htpasswd"
	fi
	if [ "$mode" = token ]; then
		openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=hoist token" \
			-keyout "$d/tok-key.pem" -out "$d/tok-cert.pem" 2>/dev/null
		auth="auth:
  token:
    realm: http://127.0.0.1:$4/token
    service: hoist-test-registry
    issuer: hoist-test-issuer
    rootcertbundle: $d/tok-cert.pem"
		HOIST_TEST_REGPASS=$REGPASS $PY "$SRC/tokenserver.py" "$4" "$d/tok-key.pem" \
			"$d/tok-cert.pem" "$d/token.log" 2>"$d/token.err" &
		PIDS="$PIDS $!"
		wait_url "http://127.0.0.1:$4/token" || return 1
	fi
	cat > "$d/config.yml" <<EOC
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $d/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  secret: hoist-test-secret
$tls
$auth
EOC
	# REGISTRY_* variables are config overrides for the registry: keep ours out.
	env -u REGISTRY_AUTH_FILE docker-registry serve "$d/config.yml" >"$d/registry.log" 2>&1 &
	PIDS="$PIDS $!"
	wait_url "$scheme://127.0.0.1:$port/v2/" -k
}

# start_proxy DIR PORT UPSTREAM_PORT: faults in DIR/faults.json, log in DIR/proxy.log
start_proxy() {
	echo '{}' > "$1/faults.json"
	: > "$1/proxy.log"
	$PY "$SRC/faultproxy.py" "$2" "127.0.0.1:$3" "$1/faults.json" "$1/proxy.log" \
		2>"$1/proxy.err" &
	PIDS="$PIDS $!"
	wait_url "http://127.0.0.1:$2/v2/"
}

# mklayer OUT.tar.gz KIB: a layer with KIB of random data and a small file
mklayer() {
	ld=$(mktemp -d "$T/layer.XXXXXX")
	mkdir -p "$ld/data"
	head -c $(($2 * 1024)) /dev/urandom > "$ld/data/blob"
	echo "hello from $(basename "$1")" > "$ld/data/hello.txt"
	tar -C "$ld" -czf "$1" data
	rm -rf "$ld"
}

# Requests that carried a blob body (uploads), from a proxy log.
blob_bodies() { awk '$2 ~ /\/blobs\/uploads\// && $3 > 0' "$1" | wc -l; }
