#!/bin/sh
# Auth: htpasswd Basic (login/logout writing the Docker config, a credential
# helper) and the Bearer token flow against the tests' own token server.
# The password never shows in any output.
. "${HOIST_SRCDIR:?}/tests/registry/lib.sh"
$PY -c 'import jwt, cryptography' 2>/dev/null || skip_all "python3-jwt and python3-cryptography are needed"

SK="skopeo --policy /etc/containers/policy.json"
BP=$(free_port)
start_registry "$T/basic" htpasswd "$BP" || skip_all "docker-registry (htpasswd) did not start"
B=127.0.0.1:$BP
mklayer "$T/l1.tgz" 128
D=$("$MK" "$T/a" "$B/auth/app:1" linux/amd64 "$T/l1.tgz")
export HOIST_ROOT="$T/a"

"$H" push --progress quiet "$B/auth/app:1" >/dev/null 2>"$T/err"
check "basic: anonymous push is refused" [ $? -eq 1 ]
check "basic: the error says so" grep -qiE "401|unauthorized" "$T/err"

echo wrongpass | "$H" login -u test --password-stdin "$B" >"$T/out" 2>"$T/err"
check "basic: a wrong password fails login" [ $? -eq 1 ]
check "basic: and writes no config" [ ! -f "$DOCKER_CONFIG/config.json" ]
echo testpass | "$H" login -u test --password-stdin "$B" >"$T/out" 2>"$T/err"
check "basic: login succeeds" [ $? -eq 0 ]
check "basic: config.json is mode 0600" [ "$(stat -c %a "$DOCKER_CONFIG/config.json")" = 600 ]
check "basic: it holds a base64 auth entry" grep -q "$(printf test:testpass | base64)" "$DOCKER_CONFIG/config.json"
out=$("$H" push --progress plain "$B/auth/app:1" 2>>"$T/err")
check "basic: push with stored credentials" [ "$out" = "$D" ]
out=$(HOIST_ROOT="$T/b" "$H" pull --progress plain "$B/auth/app:1" 2>>"$T/err")
check "basic: pull with stored credentials" [ "$out" = "$D" ]
"$H" logout "$B" >/dev/null 2>&1
check "basic: logout" [ $? -eq 0 ]
check "basic: the entry is gone" sh -c "! grep -q '$B' '$DOCKER_CONFIG/config.json'"
"$H" manifest exists "$B/auth/app:1" >/dev/null 2>&1
check "basic: logged out, the registry refuses again" [ $? -eq 1 ]

# A credential helper named by credHelpers, run as docker-credential-NAME get.
mkdir -p "$T/bin"
cat > "$T/bin/docker-credential-hoisttest" <<'EOH'
#!/bin/sh
read -r server
[ "$1" = get ] || exit 1
echo "$server" >> "$(dirname "$0")/asked"
printf '{"ServerURL":"%s","Username":"test","Secret":"testpass"}\n' "$server"
EOH
chmod +x "$T/bin/docker-credential-hoisttest"
printf '{"credHelpers": {"%s": "hoisttest"}}\n' "$B" > "$DOCKER_CONFIG/config.json"
out=$(PATH="$T/bin:$PATH" HOIST_ROOT="$T/c" "$H" pull --progress quiet "$B/auth/app:1" 2>"$T/err")
check "helper: pull with credentials from docker-credential-hoisttest" [ "$out" = "$D" ]
check "helper: it was asked for this registry" grep -qx "$B" "$T/bin/asked"
rm -f "$DOCKER_CONFIG/config.json"

# Bearer tokens.
TP=$(free_port); RP=$(free_port)
start_registry "$T/tok" token "$RP" "$TP" || skip_all "docker-registry (token) did not start"
R=127.0.0.1:$RP
D2=$("$MK" "$T/a" "$R/tok/app:1" linux/amd64 "$T/l1.tgz")
"$H" push --progress quiet "$R/tok/app:1" >/dev/null 2>"$T/err"
check "bearer: anonymous push is refused" [ $? -eq 1 ]
echo testpass | "$H" login -u test --password-stdin "$R" >/dev/null 2>"$T/err"
check "bearer: login through the token server" [ $? -eq 0 ]
: > "$T/tok/token.log"
out=$("$H" push --progress plain "$R/tok/app:1" 2>>"$T/err")
check "bearer: push with a token" [ "$out" = "$D2" ]
ntok=$(wc -l < "$T/tok/token.log")
check "bearer: the token is reused across requests ($ntok token requests)" [ "$ntok" -le 2 ]
rm -f "$DOCKER_CONFIG/config.json"
out=$(HOIST_ROOT="$T/d" "$H" pull --progress quiet "$R/tok/app:1" 2>"$T/err")
check "bearer: anonymous pull with a pull-only token" [ "$out" = "$D2" ]
raw=$($SK inspect --raw --tls-verify=false --creds test:testpass "docker://$R/tok/app:1" 2>/dev/null | sha256sum | cut -d' ' -f1)
check "bearer: skopeo agrees" [ "sha256:$raw" = "$D2" ]
"$H" login -u test --password-stdin "$R" >/dev/null 2>"$T/err" <<EOP
nottherightone
EOP
check "bearer: a wrong password fails login" [ $? -eq 1 ]

# No output of any command above held the password.
check "the password never appears in output" sh -c "! grep -rq testpass '$T/err' '$T/out'"
finish
