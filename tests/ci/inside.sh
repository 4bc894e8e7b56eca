#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# What a CI job does, run inside a container of hoist's own image by
# tests/ci/containers.sh: import a base, build the no-RUN and the reference
# multi-stage Dockerfile (pushing both with --push), a build whose RUN fails,
# then the reference build again. Each step's exit status, output and image
# digest go to /out (STEP.rc, STEP.log, STEP.iid) for the host to check.
# After the first build only shell builtins and hoist are used: the in-place
# rung replaces the container's '/' (hoist keeps /opt/hoist).
# With a third argument "apt": then hoist load of the Debian base and the
# build of ctx-apt/ (apt-get install from a local repository), saved to
# /out/apt.tar for the host to compare file by file.
# Usage: sh /in/inside.sh REGISTRY CASE [apt]
#   /in   read-only: bb.tar (the base), ctx/ (the Dockerfiles), secret,
#         debian.tar and ctx-apt/ (with apt)
#   /out  writable
set -u
reg=$1
case=$2
export SOURCE_DATE_EPOCH=1700000000
step() {
	s=$1
	shift
	"$@" >"/out/$s.log" 2>&1
	echo $? >"/out/$s.rc"
}
step whoami sh -c 'echo "$(id -u):$(id -g)"'
step import hoist import /in/bb.tar ci-base/bb:1
step norun hoist build --progress plain --iidfile /out/norun.iid \
	-t "$reg/ci/norun-$case:1" --push -f /in/ctx/Dockerfile.norun /in/ctx
step run hoist build --progress plain --secret id=tok,src=/in/secret --iidfile /out/run.iid \
	-t "$reg/ci/run-$case:1" --push -f /in/ctx/Dockerfile.run /in/ctx
step fail hoist build --progress plain -f /in/ctx/Dockerfile.fail /in/ctx
if [ -e /ci-fail-marker ]; then echo present; else echo absent; fi >/out/marker
step again hoist build --progress plain --secret id=tok,src=/in/secret \
	--iidfile /out/again.iid -f /in/ctx/Dockerfile.run /in/ctx
if [ "${3:-}" = apt ]; then
	step load-debian hoist load -q -i /in/debian.tar
	step apt hoist build --progress plain --iidfile /out/apt.iid -t ci/apt:1 /in/ctx-apt
	step apt-save hoist save -o /out/apt.tar ci/apt:1
fi
echo finished >/out/done
