/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Layers: writing OCI layer blobs (PAX tar, gzip) in one streaming pass that
 * computes the diffID (uncompressed sha256) and the digest (compressed
 * sha256) while the blob goes to the store; reading any layer or rootfs tar
 * (plain/gzip/bzip2/xz/zstd) safely; and unpacking layers into snapshots
 * (ROOT/snapshots/<diffid-hex>/ plus a metadata index), which the build
 * engine reads to see an image's files without root.
 *
 * Memory is bounded whatever the layer size: nothing holds a layer in memory.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "hoist/error.h"
#include "hoist/limits.h"
#include "hoist/oci.h"
#include "hoist/store.h"

/* Limits on untrusted tar input. Entries: HOIST_LIMIT_LAYER_ENTRIES
 * (include/hoist/limits.h, 2,000,000 by default). */
#define HOIST_TAR_MAX_ENTRIES (hoist_limits()->layer_entries)
#define HOIST_TAR_MAX_PATH 4096
#define HOIST_TAR_MAX_XATTRS 64

enum hoist_entry_type {
	HOIST_ENTRY_FILE,
	HOIST_ENTRY_DIR,
	HOIST_ENTRY_SYMLINK,
	HOIST_ENTRY_HARDLINK,
	HOIST_ENTRY_CHAR,
	HOIST_ENTRY_BLOCK,
	HOIST_ENTRY_FIFO,
};

struct hoist_xattr {
	char *name;
	char *value;
	size_t len;
};

/*
 * One filesystem entry. path is relative to the root, cleaned, no leading
 * "/" or "./", never containing "..": readers reject entries that would
 * escape. For hardlinks, linkname is the (cleaned) path of the target.
 */
struct hoist_entry {
	char *path;
	enum hoist_entry_type type;
	uint32_t mode; /* permission bits incl. setuid/setgid/sticky (07777) */
	uint32_t uid, gid;
	int64_t mtime; /* seconds */
	uint64_t size; /* regular files */
	char *linkname;
	uint32_t devmajor, devminor;
	struct hoist_xattr *xattrs;
	size_t n_xattrs;
};

void hoist_entry_release(struct hoist_entry *e);
void hoist_entry_copy(struct hoist_entry *dst, const struct hoist_entry *src);

/* ---- writing a layer ------------------------------------------------- */

enum hoist_layer_compression {
	HOIST_LAYER_GZIP = 0,	  /* application/vnd.oci.image.layer.v1.tar+gzip */
	HOIST_LAYER_ZSTD,	  /* application/vnd.oci.image.layer.v1.tar+zstd */
	HOIST_LAYER_UNCOMPRESSED, /* ...v1.tar: read, never written */
};

/* Most compression threads a writer uses when neither opts nor env say. */
#define HOIST_LAYER_MAX_THREADS 8

struct hoist_layer_opts {
	int gzip_level;		   /* 1..9; 0 means the default (6, as Docker) */
	int64_t source_date_epoch; /* < 0: none; else clamp every mtime to it */
	/* Added later; zero-initialised callers get gzip as before. */
	enum hoist_layer_compression compression;
	int zstd_level; /* 1..19; 0 means the default (3, as zstd's CLI) */
	/*
	 * Compression threads: 0 means $HOIST_COMPRESS_THREADS, else the online
	 * CPUs (at most HOIST_LAYER_MAX_THREADS). For gzip, 1 compresses in
	 * the calling thread and never starts one; zstd always runs at least one
	 * libzstd worker (nbWorkers 0 would cut the stream differently). The
	 * blob is byte-identical whatever the count: gzip layers are cut into
	 * fixed 1 MiB blocks (pigz's scheme), zstd layers use libzstd's workers
	 * with a fixed job size (checked on libzstd 1.5.4). Threads are
	 * started only once a layer passes one block and are all joined before
	 * hoist_layer_writer_finish() or _abort() returns.
	 */
	int threads;
};

/*
 * Parse "gzip" or "zstd" into *ret; -EINVAL for anything else. For the CLI
 * options of `hoist build` and `hoist import`.
 */
int hoist_layer_compression_parse(const char *s, enum hoist_layer_compression *ret);

struct hoist_layer_writer;

int hoist_layer_writer_new(struct hoist_store *s, const struct hoist_layer_opts *opts,
			   struct hoist_layer_writer **ret, struct hoist_error *err);
/*
 * Add an entry. For a regular file, content is read from content_fd (exactly
 * e->size bytes, else -EIO); for others content_fd is -1. uname/gname are not
 * written; atime/ctime never; mtime is clamped to the epoch when set. The
 * caller adds entries in the order they should appear (sorted, parents first).
 */
int hoist_layer_add(struct hoist_layer_writer *w, const struct hoist_entry *e, int content_fd,
		    struct hoist_error *err);
/*
 * Whiteout for path (writes "<dir>/.wh.<name>"), and the opaque marker for
 * dir ("" for the root). Both are empty regular files, mode 0, uid/gid 0,
 * mtime SOURCE_DATE_EPOCH or 0.
 */
int hoist_layer_add_whiteout(struct hoist_layer_writer *w, const char *path,
			     struct hoist_error *err);
int hoist_layer_add_opaque(struct hoist_layer_writer *w, const char *dir, struct hoist_error *err);
/*
 * Finish the tar and the compressed stream, commit the blob to the store,
 * and return its descriptor (media type HOIST_MT_OCI_LAYER_GZIP, or
 * HOIST_MT_OCI_LAYER_ZSTD for zstd) and diffID. Frees the writer; no
 * compression thread outlives the call.
 */
int hoist_layer_writer_finish(struct hoist_layer_writer *w, struct hoist_descriptor *ret_desc,
			      char ret_diff_id[HOIST_DIGEST_MAX], struct hoist_error *err);
void hoist_layer_writer_abort(struct hoist_layer_writer *w);

/* ---- one layer in another compression --------------------------------- */

/* "gzip-6", "zstd-3", "zstd-19": a compression and its level. */
#define HOIST_LAYER_VARIANT_MAX 16

/*
 * The variant a writer with `opts` makes (levels resolved: 0 is the
 * default's number), the name a blob of one layer per compression is
 * remembered under. -EINVAL for an unknown compression.
 */
int hoist_layer_variant(const struct hoist_layer_opts *opts, char buf[HOIST_LAYER_VARIANT_MAX],
			struct hoist_error *err);

/*
 * The compression of a layer media type (OCI or Docker): HOIST_LAYER_GZIP,
 * _ZSTD or _UNCOMPRESSED; -EMEDIUMTYPE for anything else (foreign layers).
 */
int hoist_layer_media_compression(const char *media_type);

/*
 * Write layer `src` (a blob in the store, gzip, zstd or a plain tar, told
 * by its bytes) again compressed as `opts` say, and return the new blob's
 * descriptor. The tar bytes go through the writer's compressor with its
 * fixed block sizes, so the blob is the one hoist_layer_writer_finish()
 * gives for the same layer and opts (tests/build/compression.sh checks it).
 * The decompressed bytes must hash to `diff_id` (-EBADMSG otherwise); the
 * blob is committed only then. Nothing is taken over.
 */
int hoist_layer_recompress(struct hoist_store *s, const struct hoist_descriptor *src,
			   const char *diff_id, const struct hoist_layer_opts *opts,
			   struct hoist_descriptor *ret, struct hoist_error *err);

/* ---- reading tars ---------------------------------------------------- */

struct hoist_tar_reader;

/*
 * Read a tar stream from fd (not taken over), gzip (zlib, trailers checked)
 * or any compression libarchive knows. name is for error messages. An
 * empty input (0 bytes, or nothing once decompressed) is -EBADMSG: even a
 * tar without entries has its end-of-archive blocks. The decompressed
 * size is bounded (include/hoist/limits.h): -EFBIG past it.
 */
int hoist_tar_reader_open(int fd, const char *name, struct hoist_tar_reader **ret,
			  struct hoist_error *err);
/*
 * Next entry into *e (released by the caller, or on the next call). An entry
 * naming the root itself ("./", "/") is skipped: it has no path to give.
 * Returns 1 with an entry, 0 at the end, negative errno on a corrupt or
 * unsafe archive (path escaping the root, too many entries, ...).
 */
int hoist_tar_reader_next(struct hoist_tar_reader *r, struct hoist_entry *e,
			  struct hoist_error *err);
/* Read the current entry's content. Returns bytes read, 0 at its end, or < 0. */
ssize_t hoist_tar_reader_read(struct hoist_tar_reader *r, void *buf, size_t len,
			      struct hoist_error *err);
/*
 * Lower the entry-count limit (default HOIST_TAR_MAX_ENTRIES) for this
 * reader, e.g. for tests or for inputs with a tighter budget. Call before
 * the first hoist_tar_reader_next().
 */
void hoist_tar_reader_set_max_entries(struct hoist_tar_reader *r, uint64_t max);
/*
 * Change the bound on the stream's decompressed bytes (default
 * HOIST_LIMIT_LAYER_SIZE; 0: none), e.g. for an archive of many layers.
 * The ratio rule (HOIST_LIMIT_LAYER_RATIO past
 * HOIST_LIMIT_LAYER_RATIO_FROM) always holds. Call before reading.
 */
void hoist_tar_reader_set_max_size(struct hoist_tar_reader *r, uint64_t max);
void hoist_tar_reader_free(struct hoist_tar_reader *r);

/*
 * Make a layer from a root filesystem tar (any compression), as `hoist
 * import` does: every entry is validated and rewritten as PAX in the order
 * given, with uname/gname dropped and mtimes clamped per opts.
 */
int hoist_layer_from_tar(struct hoist_store *s, int fd, const char *name,
			 const struct hoist_layer_opts *opts, struct hoist_descriptor *ret_desc,
			 char ret_diff_id[HOIST_DIGEST_MAX], struct hoist_error *err);

/* ---- unpacking -------------------------------------------------------- */

/* What a layer entry is, by the OCI whiteout rules. */
enum hoist_whiteout {
	HOIST_WHITEOUT_NONE = 0, /* an ordinary entry */
	HOIST_WHITEOUT_FILE,	 /* ".wh.NAME": NAME (a sibling) is deleted */
	HOIST_WHITEOUT_OPAQUE,	 /* ".wh..wh..opq": its directory hides lower layers' content */
	HOIST_WHITEOUT_META,	 /* another ".wh..wh." name (AUFS metadata): ignored */
};

/*
 * Classify the cleaned entry path `path` (as hoist_tar_reader_next gives
 * it). Returns the kind (>= 0) and, in *ret_target (new string, caller
 * frees; NULL for NONE and META; ret_target may be NULL), the path the
 * whiteout deletes or the directory the opaque marker names ("" for the
 * root). -EBADMSG for a whiteout that names nothing (".wh."), "." or "..",
 * and for a path with a directory named like a whiteout on the way
 * ("a/.wh.b/c"). One rule set for every reader: the unpacker applies it
 * before any file system call, the index pass and `hoist import` too.
 */
int hoist_whiteout_parse(const char *path, char **ret_target, struct hoist_error *err);

enum hoist_unpack_flags {
	HOIST_UNPACK_OWNERSHIP = 1 << 0,    /* chown to the entry's ids (unmapped ids: left) */
	HOIST_UNPACK_EXACT_MODES = 1 << 1,  /* modes as in the layer, set-id bits included;
					     * else files u+rw, directories u+rwx, no set-id */
	HOIST_UNPACK_FIFOS = 1 << 2,	    /* make fifos (else: index only) */
	HOIST_UNPACK_DEVICES = 1 << 3,	    /* make device nodes (needs real root) */
	HOIST_UNPACK_XATTRS = 1 << 4,	    /* set xattrs, never trusted.*, system.*,
					     * user.overlay.* (a layer must not forge overlay's) */
	HOIST_UNPACK_ALL_TIMES = 1 << 5,    /* mtimes of directories and symlinks too */
	HOIST_UNPACK_STRICT_LINKS = 1 << 6, /* a hard link whose target is not on disk is an
					     * error (else: left out, e.g. a skipped device) */
};

/*
 * What the caller adds to hoist_layer_unpack(). Every hook gets ctx and
 * returns >= 0 or a negative errno with err set. whiteout: make the
 * whiteout for `name` in the directory dirfd (the unpacker has removed what
 * this layer put there; the name is checked: never "", "." or ".."); NULL:
 * whiteouts leave nothing on disk. opaque: mark dirfd opaque; NULL: nothing.
 * entry: called for every entry after it was made (with rootfd < 0: after
 * it was checked, and the hook may read a file's content from r), whiteouts
 * and opaque markers included (e->path as in the tar, `target` as from
 * hoist_whiteout_parse); AUFS metadata entries are skipped.
 */
struct hoist_unpack_ops {
	unsigned flags; /* enum hoist_unpack_flags */
	int (*whiteout)(void *ctx, int dirfd, const char *name, struct hoist_error *err);
	int (*opaque)(void *ctx, int dirfd, struct hoist_error *err);
	int (*entry)(void *ctx, struct hoist_tar_reader *r, const struct hoist_entry *e,
		     enum hoist_whiteout kind, const char *target, struct hoist_error *err);
	void *ctx;
};

/*
 * Read every entry of r (not taken over) and write it below the directory
 * rootfd, or with rootfd < 0 only check it. Each entry is classified
 * (hoist_whiteout_parse) and checked against the tree so far (no path
 * through a symlink or a non-directory an earlier entry made: -ELOOP)
 * before any file system call. Paths are opened with openat2
 * (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), or one component at a time with
 * O_NOFOLLOW where openat2 is missing. An entry replacing another of this
 * layer replaces it (a directory over a directory keeps its content).
 * Errors name the layer (`name`) and the entry. ops may be NULL. The caller
 * checks the diffID afterwards if it wants to (layer_reader_diff_id).
 */
int hoist_layer_unpack(struct hoist_tar_reader *r, int rootfd, const char *name,
		       const struct hoist_unpack_ops *ops, struct hoist_error *err);

/* ---- snapshots ------------------------------------------------------- */

/*
 * A snapshot is one layer unpacked: ROOT/snapshots/<diffid-hex>/root/ holds
 * the contents of regular files and the directory tree (files readable by
 * the user; ownership and special files are NOT applied there), and an index
 * records every entry of the layer with its real metadata, whiteouts and
 * opaque markers included. Unpacking verifies the diffID and is idempotent;
 * the snapshot appears atomically (built under a temp name, renamed). A
 * snapshot may be index-only (hoist_snapshot_index), its root/ made on
 * first need (hoist_snapshot_materialize).
 */
struct hoist_snapshot_entry {
	struct hoist_entry e;
	bool whiteout; /* e.path names the deleted path (".wh." removed) */
	bool opaque;   /* e.path names the directory made opaque */
};

struct hoist_snapshot {
	char diff_id[HOIST_DIGEST_MAX];
	char *root;			      /* absolute path of the unpacked root directory */
	struct hoist_snapshot_entry *entries; /* in tar order */
	size_t n_entries;
};

/*
 * Unpack `layer` (any compression) unless the snapshot exists with its
 * content (an index-only one gets its root/). Entries are
 * created relative to the root with O_NOFOLLOW one component at a time: a
 * path through a symlink (one the tar planted, too) fails with -ELOOP. On
 * disk: files get u+rw, dirs u+rwx, setuid/setgid bits are dropped, mtimes
 * of files are set; device nodes and fifos are in the index only. A diffID
 * mismatch is -EBADMSG and leaves nothing behind.
 */
int hoist_snapshot_unpack(struct hoist_store *s, const struct hoist_descriptor *layer,
			  const char *diff_id, struct hoist_error *err);
/*
 * Make at least the index of the snapshot: an index-only snapshot when there
 * is none (the layer is read once, streaming, verifying the diffID; nothing
 * of its content is written). Its root/ appears when hoist_snapshot_unpack()
 * or hoist_snapshot_materialize() is called for it. Idempotent; safe against
 * concurrent processes (temp name, rename).
 */
int hoist_snapshot_index(struct hoist_store *s, const struct hoist_descriptor *layer,
			 const char *diff_id, struct hoist_error *err);
/*
 * Make the content (root/) of an existing snapshot, from the layer blob it
 * recorded; 0 at once when it is there. The tree is checked as by
 * hoist_snapshot_unpack() (a path through a symlink is -ELOOP) and appears
 * atomically. -ENOENT when there is no snapshot at all.
 */
int hoist_snapshot_materialize(struct hoist_store *s, const char *diff_id, struct hoist_error *err);
/*
 * If path lies in a snapshot root of store s ("<root>/snapshots/<hex>/root"
 * or below), hoist_snapshot_materialize() that snapshot; else 0. For
 * openers that only have a host path (content paths travel between trees).
 */
int hoist_snapshot_materialize_path(struct hoist_store *s, const char *path,
				    struct hoist_error *err);
/*
 * Load the index of a snapshot, index-only or unpacked (-ENOENT when there
 * is none). snap->root is where the content is or will be.
 */
int hoist_snapshot_load(struct hoist_store *s, const char *diff_id, struct hoist_snapshot *ret,
			struct hoist_error *err);
void hoist_snapshot_release(struct hoist_snapshot *snap);
