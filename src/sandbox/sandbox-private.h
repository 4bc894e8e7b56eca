/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Private to src/sandbox: helpers the rootfs, run and diff code share. */

#include <sys/types.h>
#include <sys/stat.h>

#include "hoist/sandbox.h"

/*
 * Write the uid/gid maps of the user-namespaced process `pid` for m's mode
 * (newuidmap/newgidmap in subuid mode; setgroups=deny + "0 UID 1" in single
 * mode). Nothing to do in root mode.
 */
int idmap_write(const struct hoist_idmap *m, pid_t pid, struct hoist_error *err);

/*
 * Run fn(arg, err) in a forked child that is root of a user namespace with
 * m's mapping (so it may chown to the mapped ids, and read and delete files
 * they own); in root mode fn runs in this process. The child is a fork of
 * this single-threaded process, never exec'ing, so it may use the whole
 * library (malloc included). fn's return value and err come back through a
 * pipe. Anything else the child computes must travel through `out` (a
 * buffer of out_len bytes that fn fills and that is copied back).
 */
typedef int (*userns_fn)(void *arg, void *out, struct hoist_error *err);
int userns_call(const struct hoist_idmap *m, userns_fn fn, void *arg, void *out, size_t out_len,
		struct hoist_error *err);

/* Store-relative directories. Create ROOT/<sub> (mode 0700) if missing. */
int sandbox_mkdir_p(const char *path, mode_t mode);

/* Wait for pid, retrying on EINTR. Returns the wait status or -errno. */
int wait_pid(pid_t pid);

/* Upper directory -> layer (diff.c). Runs inside userns_call. */
struct upper_diff_args {
	struct hoist_store *store;
	const struct hoist_idmap *idmap;
	const char *upper;	   /* absolute path of the upper dir */
	const char *const *lowers; /* NULL-terminated, bottom first */
	const char *const *stubs;  /* mount points we created, sorted, relative */
	const char *hidden;	   /* one of stubs that is hoist's own (see layer_emit) */
	const struct hoist_layer_opts *layer_opts;
};
struct upper_diff_out {
	struct hoist_descriptor desc;
	char diff_id[HOIST_DIGEST_MAX];
	bool empty;
};
int upper_diff_fn(void *arg, void *out, struct hoist_error *err);
/*
 * Writing a RUN's change set as a layer, shared by the overlay diff
 * (diff.c) and the full-tree comparison (snapcopy.c): the writer, the
 * directories held back until something below them is written (mount-point
 * stubs, unchanged parents), hard links seen so far, and the count of
 * entries written (none: the layer is empty).
 */
#define EMIT_MAX_DEPTH 256
struct emit_link {
	dev_t dev;
	ino_t ino;
	char *path;
};
struct layer_emit {
	struct hoist_layer_writer *w;
	const char *const *stubs; /* mount points we created, relative */
	/* A stub of hoist's own with no BuildKit counterpart (single mode's
	 * etc/apt/apt.conf.d/zz-hoist-sandbox), or NULL. */
	const char *hidden;
	enum hoist_idmode mode;
	struct hoist_entry pending[EMIT_MAX_DEPTH];
	size_t n_pending;
	struct emit_link *links;
	size_t n_links;
	size_t n_written;
};
bool emit_is_stub(const struct layer_emit *em, const char *path);
/* Whether path is a directory above em->hidden that is not also the parent
 * of another stub. Making a stub changes its directory's times (and
 * overlayfs copies it up); BuildKit's layers show that for its own stubs
 * (Docker 20.10: the directory of /etc/hosts), so hoist's do too, but the
 * hidden stub has no BuildKit counterpart and must leave no trace. */
bool emit_is_hidden_parent(const struct layer_emit *em, const char *path);
/* path, mode, mtime and owner (as seen inside the container) from st. */
void emit_entry_init(const struct layer_emit *em, const struct stat *st, const char *path,
		     struct hoist_entry *e);
int emit_flush_pending(struct layer_emit *em, struct hoist_error *err);
/* A directory: written now (after the held-back ones), with an opaque marker
 * when asked; or held back when hold is set and there is room. */
int emit_dir(struct layer_emit *em, struct hoist_entry *e, bool hold, bool opaque,
	     struct hoist_error *err);
/* Drop held-back directories above mark (nothing below them was written). */
void emit_drop_pending(struct layer_emit *em, size_t mark);
int emit_whiteout(struct layer_emit *em, const char *path, struct hoist_error *err);
/* Anything but a directory, from dfd/name: file (content, capabilities, hard
 * links), symlink (target: read here when NULL), fifo, device, a 0/0 char
 * device as a whiteout; sockets have no tar form and are left out. */
int emit_nondir(struct layer_emit *em, int dfd, const char *name, const struct stat *st,
		struct hoist_entry *e, const char *target, struct hoist_error *err);
void emit_release(struct layer_emit *em);

/* run.c: helpers the in-place runner shares. */
void sandbox_say(const struct hoist_sandbox_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
bool sandbox_exists_in_lowers(const struct hoist_rootfs *r, const char *rel);
/* Record rel (relative) and its ancestors as stubs when the image lacks them. */
void sandbox_add_stub(struct hoist_strv *stubs, const struct hoist_rootfs *r, const char *rel);

/*
 * isolation in-place (inplace.c): no namespaces; '/' becomes the root
 * filesystem (everything but the kept paths removed, the lowers copied in),
 * the command runs directly, its layer comes from the full-tree comparison.
 */
int inplace_run(struct hoist_store *s, const struct hoist_sandbox_opts *o,
		struct hoist_sandbox_result *ret, struct hoist_error *err);

/* Remove a tree that may hold ids of m's mapping (from inside a userns). */
int sandbox_remove_tree(const struct hoist_idmap *m, const char *path, struct hoist_error *err);

/* Foreign platforms (qemu.c): how the run's binaries get executed. */
struct sandbox_emul {
	enum hoist_emulation path;
	char platform[96];     /* "linux/arm64" when foreign */
	char name[64];	       /* binfmt entry name, "qemu-aarch64" */
	char interpreter[256]; /* host path of the interpreter */
	char host_nof[128];    /* "NAME' why": a matching host entry we ignored, or "" */
	char rule[1024];       /* private path: the line for binfmt_misc/register */
	int interp_fd;	       /* private path: the interpreter, for /proc/self/fd/N */
};

/*
 * Pick the emulation for platform p (NULL: native) in the order of the
 * issue: a host F entry, else a private binfmt_misc rule (Linux 6.7+,
 * Debian's qemu-user-static), else an error naming what to install.
 * Release with sandbox_emul_release() (closes interp_fd).
 */
int sandbox_emul_prepare(const struct hoist_platform *p, bool may_private, struct sandbox_emul *em,
			 struct hoist_error *err);
void sandbox_emul_release(struct sandbox_emul *em);

/* ---- without overlayfs (snapshotter.c, snapcopy.c) -------------------- */

/* Which snapshotter a run uses, and why the fallback when it is that. */
struct snap_choice {
	bool copy;	  /* full-tree comparison instead of overlayfs */
	bool fallback_ok; /* auto: an overlay mount error may still switch to copy */
	bool report;	  /* the first copy run of the process: say so */
	int overlay_err;  /* errno of the run's overlay mount, when it failed */
	char reason[160]; /* "HOIST_SNAPSHOTTER=copy", "overlayfs unavailable: ..." */
};

/*
 * Pick the snapshotter for m's mode: $HOIST_SNAPSHOTTER ("overlay", "copy",
 * "auto" or unset), where auto mounts a throwaway overlay under tmpbase once
 * per process and mode. -EINVAL with a message for another value.
 */
int snap_pick(const char *tmpbase, const struct hoist_idmap *m, struct snap_choice *ret,
	      struct hoist_error *err);
/* The run's overlay mount failed with errno e: copy from now on (auto only). */
void snap_overlay_failed(const struct hoist_idmap *m, int e, struct snap_choice *sc);

/* Materialise the lowers into root and record its entries in index. Runs
 * inside userns_call; out is a struct snap_copy_out. */
struct snap_copy_args {
	const struct hoist_idmap *idmap;
	const char *const *lowers; /* NULL-terminated, bottom first */
	const char *root;	   /* existing empty directory */
	const char *index;	   /* file to write; NULL: none (snap_record later) */
	/* Paths (relative, sorted) neither copied over, recorded nor compared:
	 * in-place's mount points, store and kept paths. NULL: none. */
	const char *const *skip;
};
struct snap_copy_out {
	uint64_t entries, copied, reflinked, bytes;
};
int snap_materialize_fn(void *arg, void *out, struct hoist_error *err);
/* Record root's entries (but skip's) in index, as snap_materialize_fn does. */
int snap_record(const char *root, const char *index, const char *const *skip,
		struct hoist_error *err);
/* Remove everything below dfd (relative path rel, "" for the root) but
 * the paths in skip and the directories above them. */
int snap_clear_except(int dfd, const char *rel, const char *const *skip, unsigned depth,
		      struct hoist_error *err);
/* Whether path (relative) is one of skip (NULL-terminated). */
bool snap_skipped(const char *const *skip, const char *path);

/* Compare root with index and write the change set as a layer (out: struct
 * upper_diff_out), in the order and form upper_diff_fn uses. In userns_call. */
struct snap_diff_args {
	struct hoist_store *store;
	const struct hoist_idmap *idmap;
	const char *root, *index;
	const char *const *skip; /* as snap_copy_args */
	/* in-place: the stubs were made before the index was recorded, so a
	 * recorded stub directory is still held back like a new one. */
	bool stubs_in_index;
	const char *const *stubs; /* as upper_diff_args */
	const char *hidden;
	const struct hoist_layer_opts *layer_opts;
};
int snap_diff_fn(void *arg, void *out, struct hoist_error *err);

/* ---- rootfs-seal.c: seals of the trees under ROOT/rootfs/<mode>/ ---- */

/* Digest of the tree's metadata (see rootfs-seal.c), computed in m's user namespace. */
int rootfs_seal_compute(const struct hoist_idmap *m, const char *dir, char ret[HOIST_DIGEST_MAX],
			struct hoist_error *err);
/* Open and lock (flock, exclusive) "<dir>.seal", creating it empty. */
int rootfs_seal_open(const char *dir, struct hoist_error *err);
/* Whether the seal file records this digest. */
bool rootfs_seal_matches(int seal_fd, const char *digest);
/* Record the digest (fsync'd). */
int rootfs_seal_write(int seal_fd, const char *digest);
