/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The content-addressed store on disk. The store owns every area under its
 * root (enum hoist_store_area); other modules get an area's directory from
 * hoist_store_area_fd() / hoist_store_area_path() instead of spelling paths:
 *
 *   ROOT/blobs/sha256/<hex>        blobs (layers, configs, manifests, indexes)
 *   ROOT/tags.json                 tag index: normalized name -> manifest/index digest
 *   ROOT/cache/<k[0:2]>/<key-hex>  build cache records (small JSON values)
 *   ROOT/snapshots/<diffid-hex>/   unpacked layers (see hoist/layer.h)
 *   ROOT/rootfs/<mode>/<diffid-hex>/  layers unpacked for RUN, per identity mode
 *                                  (see hoist/sandbox.h), with <hex>.seal beside
 *   ROOT/statcache/                context stat caches (see hoist/build.h)
 *   ROOT/cachemounts/<id-hex>/     RUN --mount=type=cache directories
 *   ROOT/logs/                     logs of stack builds
 *   ROOT/tmp/<lease>.lease         a running command's lease (flock'd, see below)
 *   ROOT/tmp/<lease>/              that command's temporary files and directories
 *   ROOT/lock                      flock(2): shared for writers and readers that
 *                                  must not see gc, exclusive for gc
 *   ROOT/tags.lock                 serializes tags.json writers that already
 *                                  hold ROOT/lock shared (see hoist_store_lock)
 *   ROOT/origins/<hex>             where a pulled tag came from (hoist_store_origin_set)
 *
 * Every blob write goes to the lease's temp directory, is hashed while
 * written, verified against the expected digest, fsync'd, then renamed into
 * place (and the directory fsync'd): a crash or a bad input never leaves a
 * torn blob. Every command that writes holds ROOT/lock shared from its first
 * write until its tags and records are written; gc takes it exclusively. A
 * command's temporary files live under its lease, which it holds (flock) for
 * as long as it runs: the next command removes the leases nobody holds any
 * more, so a killed command leaves nothing behind past the next one, and
 * nothing that is in use is ever taken for a leftover. Concurrent hoist
 * processes on one store are safe.
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

/* ---- areas ----------------------------------------------------------- */

/* What the store keeps under its root; see the table at the top. */
enum hoist_store_area {
	HOIST_STORE_BLOBS,	 /* blobs/sha256 */
	HOIST_STORE_TAGS,	 /* tags.json (a file) */
	HOIST_STORE_CACHE,	 /* cache */
	HOIST_STORE_SNAPSHOTS,	 /* snapshots */
	HOIST_STORE_ROOTFS,	 /* rootfs */
	HOIST_STORE_STATCACHE,	 /* statcache */
	HOIST_STORE_CACHEMOUNTS, /* cachemounts */
	HOIST_STORE_LOGS,	 /* logs */
	HOIST_STORE_TMP,	 /* tmp: leases and their temporary files */
	HOIST_STORE_AREA_COUNT
};

/* The area's path relative to the root ("blobs/sha256", "tags.json", ...). */
const char *hoist_store_area_name(enum hoist_store_area area);

/*
 * Directory fd of an area, created (0755; tmp 0700) and opened on first use
 * and owned by the store (do not close it). -ENOTDIR for HOIST_STORE_TAGS.
 */
int hoist_store_area_fd(struct hoist_store *s, enum hoist_store_area area, struct hoist_error *err);

/*
 * Absolute path of an area, or of `sub` inside it when sub is non-NULL
 * (a relative name: "amd64", "<hex>"). New string; nothing is created.
 */
char *hoist_store_area_path(struct hoist_store *s, enum hoist_store_area area, const char *sub);

/* ---- leases and temporary files -------------------------------------- */

/*
 * This process's lease on the store: ROOT/tmp/<id>.lease, flock'd for as
 * long as the handle lives (the flock belongs to the open file, so forked
 * children share it and an exec'd program does not), and its directory
 * ROOT/tmp/<id>/ for temporary files. Taken on first use by anything that
 * writes; idempotent. The lease file only ever gets its name already
 * locked (O_TMPFILE, flock, linkat), so a lease that can be locked by
 * someone else belongs to a process that has exited: hoist_store_reap()
 * removes it with its directory. gc also keeps every blob younger than the
 * oldest live lease (a command's writes are its own until it tags them or
 * exits). Returns the directory's fd (owned by the store).
 */
int hoist_store_lease_fd(struct hoist_store *s, struct hoist_error *err);
/* Absolute path of the lease directory (owned by the store), taking the lease. */
const char *hoist_store_lease_path(struct hoist_store *s, struct hoist_error *err);

/*
 * Make a new directory "<prefix>XXXXXX" in the lease directory; the path is
 * new. It goes with the lease: removed by the next command once this
 * process has exited, whatever killed it.
 */
int hoist_store_tmpdir(struct hoist_store *s, const char *prefix, char **ret_path,
		       struct hoist_error *err);

struct hoist_reap_stats {
	uint64_t leases; /* dead leases removed */
	uint64_t legacy; /* older temporary entries (see hoist_store_reap) removed */
};

/*
 * Remove what processes that have exited left behind: every lease in
 * ROOT/tmp that is not held, with its directory, and temporary entries of
 * older hoist versions that carry their own flock (ROOT/tmp/run-*), once
 * unlocked. A tree the store cannot remove (files of other users in a
 * rootless sandbox's run directory) is passed to `remove` when non-NULL
 * (the sandbox removes it from inside its user namespace), else left for a
 * later command. Called by hoist_store_open() for a writable store (with no
 * remover); cheap when there is nothing to do (one readdir).
 */
int hoist_store_reap(struct hoist_store *s, int (*remove)(void *arg, const char *path), void *arg,
		     struct hoist_reap_stats *ret);

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

/* ---- where pulled images came from ------------------------------------ */

struct hoist_origin {
	char source[512]; /* the reference actually fetched: a mirror or rewritten location */
	bool mirror;	  /* source was a registries.conf mirror */
	int64_t time;	  /* when it was pulled (seconds since the epoch) */
};

/*
 * Record that tag `name` (any spelling; normalized) was set to `digest` by
 * a pull from `source`. Written atomically, one record per tag; a record
 * only counts while the tag names that digest.
 */
int hoist_store_origin_set(struct hoist_store *s, const char *name, const char *digest,
			   const char *source, bool mirror, struct hoist_error *err);
/* The origin of tag `name` now naming `digest`; -ENOENT when none applies. */
int hoist_store_origin_get(struct hoist_store *s, const char *name, const char *digest,
			   struct hoist_origin *ret);

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
	uint64_t rootfs_removed; /* ROOT/rootfs/<mode>/<hex> trees */
};

/*
 * Garbage-collect every area: with all=false, remove blobs, snapshots and
 * rootfs trees that no tag and no cache record reaches (manifests/indexes
 * are walked to their configs and layers; configs' rootfs.diff_ids keep
 * their snapshots and rootfs trees); with all=true, also drop every cache
 * record, stat cache and cache mount first. Every string in a cache record
 * that is a sha256 digest keeps the blob (walked like a tag) and the
 * snapshot of that name. Blobs younger than the oldest live lease of
 * another process stay (that command may not have tagged them yet). Leases
 * of processes that have exited go with their temporary files, whatever
 * their age; names in ROOT/tmp, ROOT/snapshots and ROOT/rootfs/<mode> that
 * are neither leases nor digests come from hoist before leases and are
 * removed once older than an hour. Takes the exclusive lock (waits for
 * running writers).
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
 * or "parent" (any case: diffIDs, cache keys). ROOT/tmp is not damage: live
 * leases are in use and not reported; what is left of processes that have
 * exited (not removable by this user) and entries of older hoist versions
 * are reported as "leftover: ..." lines that do not make the store unsound.
 * The trees under ROOT/rootfs are the sandbox's to check
 * (hoist_rootfs_verify in hoist/sandbox.h).
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
