/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Internals shared by the store's source files. */

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "hoist/store.h"

#define STORE_LOCK_DEPTH_MAX 32
/* tags.json can list many images, but not without bound. */
#define STORE_MAX_TAGS_FILE ((size_t)32 << 20)
/* Temp files in ROOT/tmp older than this are left over from a crash. */
#define STORE_STALE_TMP_SECONDS (60 * 60)

struct hoist_store {
	char *root;	  /* absolute path */
	int dirfd;	  /* ROOT */
	int blobsfd;	  /* ROOT/blobs/sha256 */
	int tmpfd;	  /* ROOT/tmp */
	int lock_fd;	  /* ROOT/lock */
	int tags_lock_fd; /* ROOT/tags.lock, opened on first use */
	int use_tmpfile;  /* -1 unknown, 0 no, 1 O_TMPFILE + link via /proc works */
	/* Nesting of hoist_store_lock(): true entries are exclusive. */
	bool lock_stack[STORE_LOCK_DEPTH_MAX];
	int lock_depth;
	int lock_held; /* 0, LOCK_SH or LOCK_EX: what ROOT/lock holds now */
};

/* Push/pop a lock level; internal callers always pair them. */
int store_lock_push(struct hoist_store *s, bool exclusive, struct hoist_error *err);
void store_lock_pop(struct hoist_store *s);

/* A random name for a temp file: prefix + 16 hex. */
void store_tmp_name(const char *prefix, char *buf, size_t size);

/*
 * Write data atomically to dirfd/name: temp file in ROOT/tmp, fsync, rename,
 * fsync the directory.
 */
int store_write_atomic(struct hoist_store *s, int dirfd, const char *name, const void *data,
		       size_t len, struct hoist_error *err);

/* Parse the tag index (an empty object when missing). Caller holds a lock. */
int store_tags_read(struct hoist_store *s, json_t **ret, struct hoist_error *err);

/* Cache record path "cache/<2>/<62>" for a "sha256:<hex>" key, or NULL. */
char *store_cache_path(const char *key);

/* Read and parse a JSON blob bounded by HOIST_MAX_JSON_BLOB (verifies digest). */
int store_blob_json(struct hoist_store *s, const char *digest, json_t **ret,
		    struct hoist_error *err);

/* Remove a directory tree relative to dirfd, fixing permissions on the way. */
int store_rm_rf_at(int dirfd, const char *name);
