#!/bin/sh
# Create the unprivileged test users (idempotent; needs root):
#   hoistsub    with a subuid/subgid range of 65536 ids (identity mode subuid)
#   hoistnosub  without one (identity mode single)
# Prints nothing; exits 77 when not root and the users are missing.
set -eu
SUB_START=${HOIST_TEST_SUBID_START:-420000}
have() { id "$1" >/dev/null 2>&1; }
if [ "$(id -u)" != 0 ]; then
	have hoistsub && have hoistnosub && exit 0
	echo "not root and the test users hoistsub/hoistnosub do not exist" >&2
	exit 77
fi
have hoistsub || useradd -m -s /bin/sh hoistsub
have hoistnosub || useradd -m -s /bin/sh hoistnosub
for f in /etc/subuid /etc/subgid; do
	touch "$f"
	grep -q '^hoistsub:' "$f" || echo "hoistsub:$SUB_START:65536" >>"$f"
	# useradd may have given hoistnosub a range: it must have none.
	if grep -q '^hoistnosub:' "$f"; then
		sed -i '/^hoistnosub:/d' "$f"
	fi
done
