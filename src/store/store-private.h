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
/*
 * Entries in ROOT/tmp (and ROOT/snapshots, ROOT/rootfs/<mode>) that belong
 * to no lease were made by hoist versions before leases and carry nothing
 * that tells whether their writer still runs: they go once this old.
 */
#define STORE_STALE_TMP_SECONDS (60 * 60)
/* "p<pid>-<16 hex>" */
#define STORE_LEASE_ID_MAX 40

struct hoist_store {
	char *root;			    /* absolute path */
	int dirfd;			    /* ROOT */
	int blobsfd;			    /* ROOT/blobs/sha256 */
	int tmpfd;			    /* ROOT/tmp */
	int areafd[HOIST_STORE_AREA_COUNT]; /* opened on first use, -1 before */
	int lease_fd;			    /* ROOT/tmp/<lease_id>.lease, flock'd */
	int lease_dirfd;		    /* ROOT/tmp/<lease_id> */
	char lease_id[STORE_LEASE_ID_MAX];
	char *lease_path; /* absolute path of the lease directory */
	pid_t lease_pid;  /* the process that took it */
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

/* Close the lease's fds (hoist_store_free). */
void store_lease_release(struct hoist_store *s);

/*
 * The start time of the oldest lease held by another process (for gc), or
 * -1 when there is none. Sets *ret_live to the number of such leases.
 */
int64_t store_oldest_live_lease(struct hoist_store *s, size_t *ret_live);

/* Whether a top-level name in ROOT/tmp is a lease or its directory. */
bool store_is_lease_name(const char *name, bool *ret_is_file);

/* Whether the lease (file "<id>.lease" in ROOT/tmp) is held by a live process. */
bool store_lease_alive(struct hoist_store *s, const char *id);

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
