/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The rootless sandbox: runs one command (a Dockerfile RUN step, or `hoist
 * run`) in new user, mount, PID, UTS and IPC namespaces (and a network
 * namespace for HOIST_NET_NONE), in a root filesystem made by stacking an
 * image's unpacked layers under an overlayfs upper directory, and can turn
 * that upper directory into one OCI layer afterwards.
 *
 *   ROOT/rootfs/<idmode>/<diffid-hex>/  one layer unpacked with real
 *                                       ownership (for that identity mode),
 *                                       whiteouts as overlay whiteouts;
 *                                       reused by every chain that holds it
 *   ROOT/cachemounts/<id>/              RUN --mount=type=cache directories
 *   ROOT/tmp/run-XXXXXX/                one run: upper, work, merged, hosts
 *
 * Identity modes (see docs/sandbox.md):
 *   root    real root: no user namespace, ids are themselves
 *   subuid  the user has /etc/subuid and /etc/subgid ranges and newuidmap /
 *           newgidmap exist: container 0 = the user, 1..65536 = the range
 *   single  container 0 = the user and nothing else; a seccomp filter makes
 *           the chown-, setuid- and setgroups-family calls succeed as no-ops
 *
 * The process must be single-threaded when calling hoist_sandbox_run() and
 * the rootfs/layer functions (they fork): no libcurl transfer may be running.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "hoist/error.h"
#include "hoist/layer.h"
#include "hoist/oci.h"
#include "hoist/store.h"

enum hoist_idmode {
	HOIST_IDMODE_AUTO = 0, /* root if euid 0, else subuid if possible, else single */
	HOIST_IDMODE_ROOT,
	HOIST_IDMODE_SUBUID,
	HOIST_IDMODE_SINGLE,
};

/* The identity mapping in use; filled by hoist_idmap_detect(). */
struct hoist_idmap {
	enum hoist_idmode mode;
	uid_t uid; /* the host user (container root in subuid/single mode) */
	gid_t gid;
	uid_t subuid; /* subuid mode: first id of the range, container 1 */
	gid_t subgid;
	uint32_t count; /* subuid mode: ids mapped after 0 (65536) */
	/* subuid mode as root without CAP_SYS_ADMIN (isolation rung 2): the
	 * maps are written directly ("0 0 1", "1 1 65536": the container's own
	 * ids), not by newuidmap/newgidmap. */
	bool direct;
};

/* "root", "subuid", "single" (or "auto"). */
const char *hoist_idmode_name(enum hoist_idmode mode);
/* Parse a mode name; -EINVAL when unknown. */
int hoist_idmode_parse(const char *s, enum hoist_idmode *ret);

/*
 * Pick the identity mode: `want` (HOIST_IDMODE_AUTO: the best available) for
 * the current user. Fails with a message when `want` is not possible (root
 * without euid 0, subuid without a range of 65536 ids or newuidmap).
 */
int hoist_idmap_detect(enum hoist_idmode want, struct hoist_idmap *ret, struct hoist_error *err);

/* ---- isolation ladder (isolation.c, docs/sandbox.md) ----------------- */

/*
 * How much of the sandbox a RUN gets, from most to least isolated. A CI
 * container (docker/containerd default seccomp, no CAP_SYS_ADMIN, masked
 * /proc) refuses the upper rungs; `auto` takes the first that works.
 */
enum hoist_isolation {
	HOIST_ISOLATION_AUTO = 0,
	HOIST_ISOLATION_SANDBOX, /* namespaces, fresh /proc (rung 1; rung 2: root in a userns) */
	HOIST_ISOLATION_SHARED_PROC, /* namespaces, but the container's /proc bound, no PID ns */
	HOIST_ISOLATION_IN_PLACE,    /* no namespaces: the stage's root unpacked into '/' */
};

/* "auto", "sandbox", "userns-shared-proc", "in-place". */
const char *hoist_isolation_name(enum hoist_isolation i);
/* Parse a rung name; NULL or "": $HOIST_ISOLATION, else auto. -EINVAL with a message. */
int hoist_isolation_parse(const char *s, enum hoist_isolation *ret, struct hoist_error *err);

struct hoist_isolation_choice {
	enum hoist_isolation rung; /* never AUTO */
	char reason[640];	   /* why, for "isolation: RUNG (REASON)" */
	bool in_container;	   /* hoist detected a container around it */
};

/*
 * Walk the ladder: probe (in forked children: the process must be
 * single-threaded) what this process may do — namespaces as root, a user
 * namespace, a fresh /proc in it — and whether it runs inside a container,
 * then take `want` (AUTO: the first rung that works) and the identity
 * mapping for it (`idwant` as hoist_idmap_detect; root without
 * CAP_SYS_ADMIN gets a user namespace with the container's ids). A forced
 * rung that cannot work, or no rung at all, fails with a message naming
 * what is missing. in-place refuses unless hoist is inside a container or
 * `want` is IN_PLACE.
 */
int hoist_isolation_pick(enum hoist_isolation want, enum hoist_idmode idwant,
			 struct hoist_isolation_choice *ret, struct hoist_idmap *ret_idmap,
			 struct hoist_error *err);

/* ---- root filesystems ------------------------------------------------ */

/*
 * The lower directories of an image's layer chain, unpacked (once, then
 * reused) under ROOT/rootfs/<idmode>/. paths[0] is the bottom layer. Free
 * with hoist_rootfs_release().
 */
struct hoist_rootfs {
	char **paths; /* absolute, NULL-terminated */
	size_t n;
};

/*
 * Make sure each layer (layers[i] with diff_ids[i], bottom first, blobs in
 * the store) is unpacked for `idmap`'s mode, and list the directories.
 * Unpacking goes through the validating tar reader and never follows a
 * symlink; in subuid mode it runs inside a user namespace with the same
 * mapping so that ownership is real. Each directory is built under a
 * temporary name and renamed when complete. Safe to call concurrently.
 */
int hoist_rootfs_prepare(struct hoist_store *s, const struct hoist_idmap *idmap,
			 const struct hoist_descriptor *layers, const char *const *diff_ids,
			 size_t n, struct hoist_rootfs *ret, struct hoist_error *err);
void hoist_rootfs_release(struct hoist_rootfs *r);

/*
 * `cache verify` for ROOT/rootfs: every unpacked tree is checked against the
 * seal written when it was unpacked (a digest of every entry's metadata,
 * ctime included: see src/sandbox/rootfs-seal.c); a tree that differs, or
 * has no seal, is reported in `report` (one line each), counted in
 * *ret_problems and discarded, to be unpacked again when a RUN needs it.
 * Trees of an identity mode this user cannot take are listed as
 * "leftover:" lines. Forks (user namespaces): no libcurl transfer may run.
 */
int hoist_rootfs_verify(struct hoist_store *s, struct hoist_buf *report, size_t *ret_problems,
			struct hoist_error *err);

/*
 * Read a file (e.g. "etc/passwd") as the merged image sees it: the top-most
 * lower that has it, stopping at whiteouts and opaque directories. -ENOENT
 * when absent. *ret is NUL-terminated, caller frees.
 */
int hoist_rootfs_read_file(const struct hoist_rootfs *r, const char *path, size_t max, char **ret,
			   size_t *ret_len, struct hoist_error *err);

/* ---- users ----------------------------------------------------------- */

struct hoist_user {
	uid_t uid;
	gid_t gid;
	gid_t groups[64]; /* supplementary groups (from /etc/group) */
	size_t n_groups;
	char home[256]; /* from /etc/passwd, "/" when unknown */
};

/*
 * Resolve a Docker USER string ("name", "uid", "name:group", "uid:gid", ""
 * = root) against the image's /etc/passwd and /etc/group. A numeric uid
 * that is not in passwd is fine (gid 0, as Docker); an unknown name is an
 * error.
 */
int hoist_user_resolve(const struct hoist_rootfs *r, const char *user, struct hoist_user *ret,
		       struct hoist_error *err);

/* ---- running --------------------------------------------------------- */

enum hoist_net_mode {
	HOIST_NET_HOST = 0, /* share the host's network (default, as rootless buildah) */
	HOIST_NET_NONE,	    /* a private network namespace with only loopback */
};

enum hoist_mount_type {
	HOIST_MOUNT_BIND,   /* source: host path; read-only unless rw */
	HOIST_MOUNT_TMPFS,  /* source unused */
	HOIST_MOUNT_CACHE,  /* source: cache id; ROOT/cachemounts/<sha256(id)>, always rw */
	HOIST_MOUNT_SECRET, /* source: host file; copied to a tmpfs, bind-mounted read-only */
};

struct hoist_sandbox_mount {
	enum hoist_mount_type type;
	const char *source;
	const char *target; /* absolute path inside the container */
	bool rw;
	uint32_t mode; /* cache dir / secret file mode; 0: 0755 / 0400 */
	uid_t uid;     /* owner of a new cache dir / secret inside the container */
	gid_t gid;
};

typedef void (*hoist_sandbox_log_fn)(const char *msg, void *userdata);

/* ---- foreign platforms (qemu-user) ------------------------------------ */

/* How a run's binaries are executed (see docs/multiarch.md, "the three qemu paths"). */
enum hoist_emulation {
	HOIST_EMUL_NATIVE = 0,	   /* the host's own architecture */
	HOIST_EMUL_NATIVE32,	   /* linux/386 on amd64: native, 32-bit personality */
	HOIST_EMUL_HOST_BINFMT,	   /* (1) a host binfmt_misc entry with the F flag */
	HOIST_EMUL_PRIVATE_BINFMT, /* (2) a binfmt_misc instance in the run's user namespace */
};

struct hoist_emulator {
	enum hoist_emulation path;
	char name[64];	       /* binfmt entry, e.g. "qemu-aarch64"; "" when native */
	char interpreter[256]; /* host path of the interpreter; "" when native */
};

/* "native", "host binfmt_misc", "private binfmt_misc", ... */
const char *hoist_emulation_name(enum hoist_emulation e);

/*
 * Which way binaries of platform p (NULL: the host's) would run here,
 * without running anything. Fails (path 3) with a message naming what to
 * install or enable: -ENOEXEC when neither a host F entry nor a private
 * binfmt_misc (Linux >= 6.7 plus Debian's qemu-user-static) is available.
 */
int hoist_sandbox_emulator(const struct hoist_platform *p, struct hoist_emulator *ret,
			   struct hoist_error *err);

struct hoist_sandbox_opts {
	/* Root filesystem: the lower directories, bottom first (hoist_rootfs_prepare). */
	const struct hoist_rootfs *rootfs;
	const struct hoist_idmap *idmap; /* from hoist_idmap_detect() */

	const char *const *argv; /* NULL-terminated; argv[0] is looked up in env's PATH */
	const char *const *env;	 /* NULL-terminated "K=V": exactly the environment */
	const char *cwd;	 /* absolute; created when missing; NULL: "/" */
	uid_t uid;		 /* user inside the container */
	gid_t gid;
	const gid_t *groups; /* supplementary groups, may be NULL */
	size_t n_groups;

	enum hoist_net_mode net;
	const char *hostname; /* NULL: a random 12-hex name */
	const struct hoist_sandbox_mount *mounts;
	size_t n_mounts;

	/* stdio for the command; -1 means /dev/null (stdin) or inherit (out/err). */
	int stdin_fd, stdout_fd, stderr_fd;

	/* Write the upper directory as a layer (an empty one when nothing changed). */
	bool want_layer;
	struct hoist_layer_opts layer_opts;

	hoist_sandbox_log_fn log; /* progress lines ("sandbox: subuid mode ..."), may be NULL */
	void *log_userdata;

	/* The platform of the root filesystem's binaries; NULL or the host's:
	 * native. Otherwise the run goes through qemu-user (hoist_sandbox_emulator:
	 * the path taken is reported through log). Unpacking and the layer are
	 * native either way. */
	const struct hoist_platform *platform;

	/* The rung (hoist_isolation_pick; AUTO: SANDBOX). IN_PLACE replaces
	 * this system's '/' with the root filesystem (inplace.c) and keeps only
	 * mount points, the store, hoist's binary, the paths in `keep`
	 * (absolute, NULL-terminated: the context, the Dockerfile...) and those
	 * in $HOIST_IN_PLACE_KEEP (colon-separated). */
	enum hoist_isolation isolation;
	const char *const *keep;
};

void hoist_sandbox_opts_init(struct hoist_sandbox_opts *o);

struct hoist_sandbox_result {
	/* 0..255 the exit code; a command killed by signal N reports 128+N */
	int exit_status;
	bool has_layer;
	struct hoist_descriptor layer; /* when has_layer */
	char diff_id[HOIST_DIGEST_MAX];
	bool layer_empty; /* the upper dir held no change */
	int term_signal;  /* the command was killed by this signal (exit_status 128+N); 0: it exited
			   */
	struct hoist_emulator emulator; /* how it ran (path HOIST_EMUL_NATIVE: natively) */
};

/*
 * One line for a finished command, for error messages: "exited with status
 * 3", "was killed by signal 9 (Killed)", or under emulation with a crash
 * signal (SEGV, BUS, ILL, ABRT, FPE, TRAP, SYS) "qemu-aarch64 crashed with
 * signal 11 (Segmentation fault) ..." — qemu dies by the same signal
 * whether the emulated program or the emulator itself faulted.
 */
void hoist_sandbox_describe_exit(const struct hoist_sandbox_result *res, char *buf, size_t size);

/*
 * Run opts->argv in the sandbox and wait for it. Returns 0 when the command
 * ran (whatever its exit status, in ret->exit_status), or a negative errno
 * with a message when the sandbox could not be set up or the command could
 * not be executed (-ENOENT / -EACCES for the executable). With want_layer
 * and a zero exit status, the upper directory becomes one layer in the store
 * (ret->layer, ret->diff_id). The upper, work and run directories are
 * removed before returning in every case.
 */
int hoist_sandbox_run(struct hoist_store *s, const struct hoist_sandbox_opts *opts,
		      struct hoist_sandbox_result *ret, struct hoist_error *err);

/*
 * In subuid mode the first run (or layer unpack) of a process makes one
 * user namespace with the mapping, and every later one of the process
 * joins it (newuidmap/newgidmap run once, not per RUN). No process keeps
 * it: this process holds it open through a descriptor. Release that here
 * (idempotent; exit releases it too); a later run makes a new one.
 */
void hoist_sandbox_cleanup(void);

/* ---- running an image as `docker run` does --------------------------- */

/*
 * What `docker run` derives from an image before it starts a command: the
 * lower dirs of its layers, the user (`user` if non-NULL, else the config's
 * User), the environment (the config's Env, then each "K=V" of
 * `env_overrides` replacing or adding, then PATH and HOME defaults as runc
 * gives them) and the working directory (`workdir` if non-NULL, else the
 * config's WorkingDir, else "/"). `hoist run` and `hoist stack info/test`
 * share it. Release with hoist_image_run_release().
 */
struct hoist_image_run {
	struct hoist_rootfs rootfs;
	struct hoist_user user;
	struct hoist_strv env; /* NULL-terminated in env.v */
	char *cwd;
};

int hoist_image_run_prepare(struct hoist_store *s, const struct hoist_idmap *idmap,
			    const struct hoist_image *img, const char *user,
			    const char *const *env_overrides, const char *workdir,
			    struct hoist_image_run *ret, struct hoist_error *err);
/* Point o's rootfs, idmap, env, cwd, uid, gid and groups at ir (borrowed). */
void hoist_image_run_apply(const struct hoist_image_run *ir, const struct hoist_idmap *idmap,
			   struct hoist_sandbox_opts *o);
void hoist_image_run_release(struct hoist_image_run *ir);
