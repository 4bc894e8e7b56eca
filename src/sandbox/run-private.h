/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * What the sandbox child gets from the parent: every string and path it
 * needs, ready-made, so that the child never allocates (STYLE rule 11).
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "hoist/sandbox.h"

/* Single mode's apt configuration, bind-mounted read-only; never in a layer. */
#define APT_FAKE_STUB "etc/apt/apt.conf.d/zz-hoist-sandbox"

#define CHILD_PATH_MAX 1024
#define CHILD_MAX_MOUNTS 64
#define CHILD_MAX_LOWERS 500 /* overlayfs' own limit */
#define CHILD_MAX_GROUPS 64

enum child_step {
	CSTEP_SYNC,
	CSTEP_IDS,
	CSTEP_PRIVATE,
	CSTEP_OVERLAY,
	CSTEP_SECRETS,
	CSTEP_MOUNTPOINT,
	CSTEP_PROC,
	CSTEP_DEV,
	CSTEP_SYS,
	CSTEP_BIND,
	CSTEP_PIVOT,
	CSTEP_HOSTNAME,
	CSTEP_NET,
	CSTEP_SECCOMP,
	CSTEP_FORK,
	CSTEP_USER,
	CSTEP_CWD,
	CSTEP_EXEC,
	CSTEP_USERNS, /* root mode, private binfmt_misc: the late user namespace */
	CSTEP_BINFMT, /* mounting binfmt_misc and registering the interpreter */
	CSTEP_DONE,   /* not an error: the init's last record, with the command's status */
};

/* Reported by the child on its error pipe (fixed size, no formatting). */
struct child_err {
	int step;
	int err;
	int wait_status; /* CSTEP_DONE: the command's waitpid status */
	char what[256];
};

struct child_mount {
	enum hoist_mount_type type;
	char source[CHILD_PATH_MAX]; /* host path (bind, cache), tmpfs copy (secret) */
	char target[CHILD_PATH_MAX]; /* relative to the new root */
	bool rw, is_dir;
	int src_fd; /* secret: the host file */
	uint32_t mode;
	uid_t uid;
	gid_t gid;
};

struct child_ctx {
	enum hoist_idmode mode;
	bool net_none;
	bool apt_fake; /* bind APT_FAKE_STUB (single mode, the image has apt.conf.d) */
	pid_t parent_pid;
	int sync_fd, err_fd;
	int sync_wr_fd; /* the parent's end, closed first so that its death reads as EOF */
	/* >= 0: the process's shared user namespace (idmap_userns) to join
	 * instead of making one; its maps are already written. */
	int userns_fd;
	int stdio[3];
	uid_t uid;
	gid_t gid;
	gid_t groups[CHILD_MAX_GROUPS];
	size_t n_groups;
	char *const *argv;
	char *const *envp;
	char path_env[4096];
	char cwd[CHILD_PATH_MAX];
	char hostname[64];
	char upper[CHILD_PATH_MAX], work[CHILD_PATH_MAX], merged[CHILD_PATH_MAX];
	char secrets[CHILD_PATH_MAX], hosts[CHILD_PATH_MAX], hostname_file[CHILD_PATH_MAX];
	char aptconf[CHILD_PATH_MAX];
	const char *overlay_opts;	      /* for mount(2), when the new mount API is missing */
	const char *lowers[CHILD_MAX_LOWERS]; /* top first */
	size_t n_lowers;
	struct child_mount mounts[CHILD_MAX_MOUNTS];
	size_t n_mounts;
	/* Foreign platforms: a private binfmt_misc rule to register (""), and
	 * in root mode the user namespace that owns it, made after pivot_root
	 * with the parent writing its identity maps (map_req/map_ack). */
	char binfmt_rule[1024];
	bool late_userns;
	int map_req_fd, map_ack_fd;
	bool personality32;
	/* No overlayfs: merged is the run's private copy of the image
	 * (snapcopy.c), bind-mounted onto itself to become the new root. */
	bool snap_copy;
	/* userns-shared-proc: no PID namespace, /proc is the container's, bound. */
	bool shared_proc;
};

/*
 * confine.c, called in the sandbox child (no malloc, no stdio).
 * confine_init: the init closes every fd but c's error pipe and stdio and
 * becomes non-dumpable. confine_drop_bounding (before the command's ids
 * are set) and confine_caps (after, when it stays root): Docker's default
 * capability set only. confine_seccomp: the filter (fake_ids: single
 * mode's id calls succeed without effect), installed while the child still
 * holds CAP_SYS_ADMIN in its namespace, so that no_new_privs is set only
 * when nnp (the command runs as root). -errno.
 */
void confine_init(const struct child_ctx *c);
int confine_drop_bounding(void);
int confine_caps(void);
int confine_seccomp(bool fake_ids, bool nnp);

/* clone3() without a new stack: returns like fork(). -errno on failure. */
pid_t sandbox_clone(uint64_t flags);

/* The sandbox child: sets up the root and runs the command. Never returns. */
__attribute__((noreturn)) void child_main(const struct child_ctx *c);

/*
 * Start child_main(c) in new namespaces (flags: clone3 CLONE_NEW*) and
 * return its pid, a child of this process, or -errno. With c->userns_fd
 * >= 0, CLONE_NEWUSER in flags is replaced by joining that namespace: a
 * short-lived helper (reaped here) calls setns() and clones the child with
 * CLONE_PARENT, because the other namespaces must be owned by the joined
 * one and a new PID namespace only applies to children.
 */
pid_t child_start(const struct child_ctx *c, uint64_t flags);

/*
 * The user namespace with m's mapping that every sandbox and userns_call()
 * of this process shares (subuid mode: newuidmap/newgidmap run once per
 * process and mapping instead of once per namespace). Made on first use by
 * a holder child that exits as soon as the maps are written; the namespace
 * lives on through the fd, which stays owned by the cache (O_CLOEXEC, never
 * reaches a container command) until hoist_sandbox_cleanup() or exit.
 * *ret_fd is -1 when m's mode does not share (root, single).
 */
int idmap_userns(const struct hoist_idmap *m, int *ret_fd, struct hoist_error *err);
