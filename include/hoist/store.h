/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The content-addressed store on disk:
 *
 *   ROOT/blobs/sha256/<hex>        blobs (layers, configs, manifests, indexes)
 *   ROOT/tags.json                 tag index: normalized name -> manifest/index digest
 *   ROOT/cache/<k[0:2]>/<key-hex>  build cache records (small JSON values)
 *   ROOT/snapshots/<diffid-hex>/   unpacked layers (see hoist/layer.h)
 *   ROOT/statcache/                context stat caches (see hoist/build.h)
 *   ROOT/tmp/                      temporary files, same filesystem as blobs
 *   ROOT/lock                      flock(2): shared for readers, exclusive for
 *                                  writers of tags.json and for gc
 *   ROOT/tags.lock                 serializes tags.json writers that already
 *                                  hold ROOT/lock shared (see hoist_store_lock)
 *
 * Every blob write goes to ROOT/tmp, is hashed while written, verified
 * against the expected digest, fsync'd, then renamed into place (and the
 * directory fsync'd): a crash or a bad input never leaves a torn blob.
 * Blob writes need no lock (rename is atomic and content-addressed); tag
 * updates and gc take the exclusive lock. Concurrent hoist processes on one
 * store are safe.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hoist/error.h"
#include "hoist/limits.h"
#include "hoist/util.h"

struct hoist_store;

/* Limit on what the store accepts as a JSON document (untrusted input):
 * HOIST_LIMIT_JSON_SIZE, 4 MiB by default (include/hoist/limits.h). */
#define HOIST_MAX_JSON_BLOB ((size_t)hoist_limits()->json_size)

/*
 * Resolve the store root: `root` if non-NULL, else $HOIST_ROOT, else
 * /var/lib/hoist as root, else $XDG_DATA_HOME/hoist (~/.local/share/hoist).
 * Returns a new string.
 */
char *hoist_store_default_root(const char *root);

/* Open (creating if needed) the store at root. *ret is new (hoist_store_free()). */
int hoist_store_open(const char *root, struct hoist_store **ret, struct hoist_error *err);
void hoist_store_free(struct hoist_store *s);

const char *hoist_store_root(const struct hoist_store *s);
/* Directory fd of the root (owned by the store). */
int hoist_store_dirfd(const struct hoist_store *s);

/* ---- blobs ----------------------------------------------------------- */

bool hoist_store_blob_exists(struct hoist_store *s, const char *digest);
/* Size of a blob, or negative errno (-ENOENT). */
int64_t hoist_store_blob_size(struct hoist_store *s, const char *digest);
/* Open a blob read-only (O_CLOEXEC). Returns an fd or negative errno. */
int hoist_store_blob_open(struct hoist_store *s, const char *digest, struct hoist_error *err);
/* Absolute path of a blob (new string); the blob need not exist. */
char *hoist_store_blob_path(struct hoist_store *s, const char *digest);
/* Read a whole (small) blob into memory, bounded by max. Verifies the digest. */
int hoist_store_blob_read(struct hoist_store *s, const char *digest, size_t max, char **ret,
			  size_t *ret_len, struct hoist_error *err);
/* Store bytes; writes the digest to ret_digest (may be NULL). Idempotent. */
int hoist_store_blob_put(struct hoist_store *s, const void *data, size_t len,
			 char ret_digest[HOIST_DIGEST_MAX], struct hoist_error *err);

/*
 * Streaming blob writer. begin() opens a temp file under ROOT/tmp; write()
 * appends and hashes; commit() checks the digest (when expected_digest is
 * non-NULL it must match, else -EBADMSG and nothing enters the store),
 * fsyncs and renames into place, and frees the writer; abort() unlinks the
 * temp file and frees. Exactly one of commit/abort must be called.
 */
struct hoist_blob_writer;
int hoist_store_blob_begin(struct hoist_store *s, struct hoist_blob_writer **ret,
			   struct hoist_error *err);
int hoist_blob_writer_write(struct hoist_blob_writer *w, const void *data, size_t len,
			    struct hoist_error *err);
/* Bytes written so far. */
uint64_t hoist_blob_writer_size(const struct hoist_blob_writer *w);
int hoist_blob_writer_commit(struct hoist_blob_writer *w, const char *expected_digest,
			     char ret_digest[HOIST_DIGEST_MAX], struct hoist_error *err);
void hoist_blob_writer_abort(struct hoist_blob_writer *w);

/* ---- tags ------------------------------------------------------------ */

/*
 * Tags map a normalized reference string ("docker.io/library/busybox:latest")
 * to the digest of a manifest or index held in the store. Updates are
 * atomic (write temp + rename under the exclusive lock). `name` may be any
 * spelling hoist_ref_parse() accepts ("busybox" means
 * "docker.io/library/busybox:latest"); -EINVAL when it is not a reference.
 * tag_set fails with -ENOENT when the digest's blob is not in the store.
 */
int hoist_store_tag_set(struct hoist_store *s, const char *name, const char *digest,
			struct hoist_error *err);
/* -ENOENT when not tagged. */
int hoist_store_tag_get(struct hoist_store *s, const char *name, char ret_digest[HOIST_DIGEST_MAX],
			struct hoist_error *err);
int hoist_store_tag_remove(struct hoist_store *s, const char *name, struct hoist_error *err);

struct hoist_tag {
	char *name;
	char digest[HOIST_DIGEST_MAX];
};
/* All tags, sorted by name. Free with hoist_store_tags_free(). */
int hoist_store_tag_list(struct hoist_store *s, struct hoist_tag **ret, size_t *ret_n,
			 struct hoist_error *err);
void hoist_store_tags_free(struct hoist_tag *tags, size_t n);

/* ---- build cache records --------------------------------------------- */

/*
 * A cache record maps a cache key ("sha256:<hex>", computed by the build
 * engine) to a small JSON value (the result of that step). Records are
 * written atomically; a missing record is -ENOENT. Values reference blobs by
 * digest; gc keeps every blob a record references.
 */
int hoist_store_cache_get(struct hoist_store *s, const char *key, char **ret_json,
			  struct hoist_error *err);
int hoist_store_cache_put(struct hoist_store *s, const char *key, const char *json,
			  struct hoist_error *err);

struct hoist_cache_entry {
	char key[HOIST_DIGEST_MAX];
	char *json;
	int64_t mtime;
};
int hoist_store_cache_list(struct hoist_store *s, struct hoist_cache_entry **ret, size_t *ret_n,
			   struct hoist_error *err);
void hoist_store_cache_entries_free(struct hoist_cache_entry *e, size_t n);

/* ---- maintenance ----------------------------------------------------- */

struct hoist_gc_stats {
	uint64_t blobs_removed;
	uint64_t bytes_removed;
	uint64_t snapshots_removed;
	uint64_t cache_removed;
};

/*
 * Garbage-collect: with all=false, remove blobs and snapshots that no tag
 * and no cache record reaches (manifests/indexes are walked to their
 * configs and layers; configs' rootfs.diff_ids keep their snapshots); with
 * all=true, also drop every cache record first. Every string in a cache
 * record that is a sha256 digest keeps the blob (walked like a tag) and the
 * snapshot of that name. Snapshot entries are ROOT/snapshots/<hex>[suffix];
 * other names there, and anything in ROOT/tmp, are removed once older than
 * an hour. Takes the exclusive lock.
 */
int hoist_store_gc(struct hoist_store *s, bool all, struct hoist_gc_stats *ret,
		   struct hoist_error *err);

/*
 * Re-hash every blob and check every tag and cache record points at blobs
 * that exist. Problems are appended to `report` one per line; returns 0 when
 * the store is sound, -EBADMSG when something is wrong. Checked: blob names
 * and contents; each tag's blob and, for a manifest, its config and layers
 * (an index may lack other platforms' manifests); in cache records, every
 * digest string must be a blob, except under keys containing "diff", "key"
 * or "parent" (any case: diffIDs, cache keys); leftover entries in ROOT/tmp
 * are reported too.
 */
int hoist_store_verify(struct hoist_store *s, struct hoist_buf *report, struct hoist_error *err);

/*
 * Take / release the store lock explicitly (for multi-step updates). Locks
 * nest (a stack per handle; unlock pops the last one). A build should hold
 * the lock shared from its first blob write until its tags and cache records
 * are written: gc takes it exclusively, so it can never sweep blobs that are
 * written but not yet referenced. Tag updates inside a shared lock are fine
 * (they do not upgrade it). Use one store handle per process: flock locks
 * belong to the open file, so two handles in one process can deadlock.
 */
int hoist_store_lock(struct hoist_store *s, bool exclusive, struct hoist_error *err);
void hoist_store_unlock(struct hoist_store *s);

/* ---- resolving names (additions) ------------------------------------- */

/*
 * Resolve what a user typed to the manifest or index digest it names: a
 * reference ("busybox", "x/y:tag", "name@sha256:..."; tagged names are
 * looked up in the tag index), a full "sha256:<hex>" digest of a blob in the
 * store (an image ID, i.e. a config digest, maps to the tagged manifest that
 * uses it), or a unique hex prefix (with or without "sha256:") of a tagged
 * image's digest or image ID. -ENOENT "no such image", -ENOTUNIQ when a
 * prefix is ambiguous, -EINVAL for junk.
 */
int hoist_store_resolve(struct hoist_store *s, const char *name, char ret_digest[HOIST_DIGEST_MAX],
			struct hoist_error *err);

/*
 * The image ID Docker would show for a manifest or index digest: the config
 * digest of a manifest; for an index, the index digest itself.
 */
int hoist_store_image_id(struct hoist_store *s, const char *digest, char ret_id[HOIST_DIGEST_MAX],
			 struct hoist_error *err);
