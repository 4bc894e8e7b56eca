#!/bin/sh
. "${HOIST_SRCDIR:?}/tests/registry/lib.sh"
finish
