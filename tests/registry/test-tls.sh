#!/bin/sh
# A TLS registry with a self-signed CA: verified by default (push fails
# without the CA), trusted through --tls-ca or certs.d/HOST/ca.crt, and
# --insecure-registry skips verification.
. "${HOIST_SRCDIR:?}/tests/registry/lib.sh"

RP=$(free_port)
start_registry "$T/reg" tls "$RP" || skip_all "docker-registry (TLS) did not start"
R=127.0.0.1:$RP
SK="skopeo --policy /etc/containers/policy.json"
mklayer "$T/l1.tgz" 256
D=$("$MK" "$T/a" "$R/tls/app:1" linux/amd64 "$T/l1.tgz")
export HOIST_ROOT="$T/a"
unset SSL_CERT_FILE

"$H" push --progress quiet "$R/tls/app:1" >/dev/null 2>"$T/err"
check "push without the CA fails" [ $? -eq 1 ]
check "with a certificate error" grep -qi "certificate" "$T/err"
diag "$(cat "$T/err")"

out=$("$H" push --progress quiet --tls-ca "$T/reg/cert.pem" "$R/tls/app:1" 2>"$T/err")
check "push with --tls-ca" [ "$out" = "$D" ]
raw=$($SK inspect --raw --tls-verify=false "docker://$R/tls/app:1" | sha256sum | cut -d' ' -f1)
check "skopeo agrees" [ "sha256:$raw" = "$D" ]

mkdir -p "$HOIST_CERTS_DIR/$R"
cp "$T/reg/cert.pem" "$HOIST_CERTS_DIR/$R/ca.crt"
out=$(HOIST_ROOT="$T/b" "$H" pull --progress quiet "$R/tls/app:1" 2>"$T/err")
check "pull trusting certs.d/HOST/ca.crt" [ "$out" = "$D" ]
rm -rf "$HOIST_CERTS_DIR"

# SSL_CERT_FILE names the trust store in place of the system bundle
# (hoist's image sets it to its own copy, which in-place RUNs keep).
out=$(HOIST_ROOT="$T/e" SSL_CERT_FILE="$T/reg/cert.pem" "$H" pull --progress quiet "$R/tls/app:1" 2>"$T/err")
check "pull trusting SSL_CERT_FILE" [ "$out" = "$D" ]
HOIST_ROOT="$T/f" SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt "$H" pull --progress quiet "$R/tls/app:1" >/dev/null 2>"$T/err"
check "an SSL_CERT_FILE without the CA fails" [ $? -eq 1 ]
out=$(HOIST_ROOT="$T/g" SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt "$H" pull --progress quiet \
	--tls-ca "$T/reg/cert.pem" "$R/tls/app:1" 2>"$T/err")
check "... and works with --tls-ca added to it" [ "$out" = "$D" ]

out=$(HOIST_ROOT="$T/c" "$H" pull --progress quiet --insecure-registry "$R" "$R/tls/app:1" 2>"$T/err")
check "pull with --insecure-registry" [ "$out" = "$D" ]
out=$(HOIST_ROOT="$T/d" HOIST_INSECURE_REGISTRIES="$R" "$H" pull --progress quiet "$R/tls/app:1" 2>"$T/err")
check "pull with HOIST_INSECURE_REGISTRIES" [ "$out" = "$D" ]
"$H" manifest exists "$R/tls/app:1" >/dev/null 2>&1
check "manifest exists without the CA fails (not 'absent')" [ $? -eq 1 ]
"$H" manifest exists --tls-ca "$T/reg/cert.pem" "$R/tls/app:1" >/dev/null
check "manifest exists with the CA" [ $? -eq 0 ]
finish
