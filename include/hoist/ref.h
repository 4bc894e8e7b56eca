/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Image references, parsed like Docker's (distribution/reference):
 * `name`, `name:tag`, `name@sha256:...`, `name:tag@sha256:...`,
 * `host[:port]/path/name:tag`; a first component with a '.' or ':' or equal
 * to "localhost" is a registry host; otherwise docker.io, and single-name
 * repositories get "library/". Names are lower-case.
 */

#include "hoist/error.h"
#include "hoist/util.h"

struct hoist_ref {
	char *domain; /* "docker.io", "127.0.0.1:5000" */
	char *path;   /* "library/busybox" */
	char *tag;    /* "latest" when neither tag nor digest was given; NULL with a digest only */
	char *digest; /* "sha256:..." or NULL */
};

/* Parse s into r (hoist_ref_release() frees the fields). -EINVAL with a message. */
int hoist_ref_parse(const char *s, struct hoist_ref *r, struct hoist_error *err);
void hoist_ref_release(struct hoist_ref *r);

/* "docker.io/library/busybox:latest" (tag and/or @digest). New string. */
char *hoist_ref_string(const struct hoist_ref *r);
/* The familiar form "busybox:latest" as Docker prints it. New string. */
char *hoist_ref_familiar(const struct hoist_ref *r);
/* "domain/path" without tag/digest. New string. */
char *hoist_ref_repository(const struct hoist_ref *r);
