/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Which snapshotter a run uses: overlayfs (the upper directory is the
 * change set, diff.c) or the full-tree comparison fallback (snapcopy.c).
 * HOIST_SNAPSHOTTER=overlay|copy forces one; auto (the default) mounts a
 * throwaway overlay once per process and identity mode, in a forked child
 * with its own mount (and, rootless, user) namespace, on the store's
 * filesystem: the upper directory must live there, and some filesystems
 * refuse to be one (an overlay upper on overlayfs, NFS, ...).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include "hoist/util.h"
#include "sandbox-private.h"

/* Exit codes of the probe child above any errno: the probe itself could not
 * be set up, which says nothing about overlayfs (the run will fail on its own). */
#define PROBE_INCONCLUSIVE 250

static int probe_cache[4]; /* per idmode: 0 unknown, 1 works, -errno refused */
static bool reported;

static int write_self(const char *file, const char *data)
{
	_cleanup_close_ int fd = open(file, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, data, strlen(data)) < 0)
		return -1;
	return 0;
}

/* The probe child: its own namespaces, then the overlay with the options
 * the run uses, and a deletion of a lower directory (EIO where overlayfs
 * cannot write its whiteout xattrs). Leaves with _exit(). */
static __attribute__((noreturn)) void probe_child(const struct hoist_idmap *m, const char *dir,
						  uid_t uid, gid_t gid)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (m->mode == HOIST_IDMODE_ROOT) {
		if (unshare(CLONE_NEWNS) < 0)
			_exit(PROBE_INCONCLUSIVE);
	} else {
		/* A single-id map of our own is enough to ask the kernel, and
		 * cheaper than newuidmap; overlayfs does not care about the range. */
		char map[64];
		if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
			_exit(PROBE_INCONCLUSIVE);
		(void)write_self("/proc/self/setgroups", "deny");
		snprintf(map, sizeof(map), "0 %lu 1\n", (unsigned long)uid);
		if (write_self("/proc/self/uid_map", map) < 0)
			_exit(PROBE_INCONCLUSIVE);
		snprintf(map, sizeof(map), "0 %lu 1\n", (unsigned long)gid);
		if (write_self("/proc/self/gid_map", map) < 0)
			_exit(PROBE_INCONCLUSIVE);
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 || chdir(dir) < 0)
		_exit(PROBE_INCONCLUSIVE);
	/* Relative paths: the store path may hold ',' or ':'. */
	const char *opts = m->mode == HOIST_IDMODE_ROOT
			       ? "lowerdir=l,upperdir=u,workdir=w"
			       : "lowerdir=l,upperdir=u,workdir=w,userxattr";
	if (mount("overlay", "m", "overlay", 0, opts) < 0)
		_exit(errno > 0 && errno < PROBE_INCONCLUSIVE ? errno : EINVAL);
	int fd = open("m/f", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		_exit(errno > 0 && errno < PROBE_INCONCLUSIVE ? errno : EIO);
	close(fd);
	if (rmdir("m/d") < 0)
		_exit(errno > 0 && errno < PROBE_INCONCLUSIVE ? errno : EIO);
	_exit(0);
}

/* 1: overlayfs works; -errno: refused; 0: could not tell. */
static int probe(const char *tmpbase, const struct hoist_idmap *m)
{
	_cleanup_free_ char *dir = hoist_xasprintf("%s/probe-XXXXXX", tmpbase);
	if (!mkdtemp(dir))
		return 0;
	int r = 0;
	static const char *const sub[] = {"l", "l/d", "u", "w", "m"};
	for (size_t i = 0; i < ARRAY_SIZE(sub); i++) {
		_cleanup_free_ char *p = hoist_xasprintf("%s/%s", dir, sub[i]);
		if (mkdir(p, 0755) < 0)
			goto out;
	}
	uid_t uid = geteuid();
	gid_t gid = getegid();
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		goto out;
	if (pid == 0)
		probe_child(m, dir, uid, gid);
	int st = wait_pid(pid);
	if (st >= 0 && WIFEXITED(st)) {
		int code = WEXITSTATUS(st);
		r = code == 0 ? 1 : code == PROBE_INCONCLUSIVE ? 0 : -code;
	}
out:
	/* Everything in it is ours (single map or real root): no helper needed. */
	(void)hoist_rm_rf_at(AT_FDCWD, dir);
	return r;
}

static void reason_of(const struct hoist_idmap *m, int e, char *buf, size_t size)
{
	if (e == ENODEV)
		snprintf(buf, size, "overlayfs unavailable: the kernel has no overlay filesystem");
	else if (e == EINVAL && m->mode != HOIST_IDMODE_ROOT)
		snprintf(buf, size,
			 "overlayfs unavailable: refused on the store's filesystem or without "
			 "userxattr (Linux 5.11): %s",
			 strerror(e));
	else
		snprintf(buf, size, "overlayfs unavailable: refused on the store's filesystem: %s",
			 strerror(e));
}

int snap_pick(const char *tmpbase, const struct hoist_idmap *m, struct snap_choice *ret,
	      struct hoist_error *err)
{
	const char *env = getenv("HOIST_SNAPSHOTTER");
	memset(ret, 0, sizeof(*ret));
	if (env && *env && strcmp(env, "auto") != 0) {
		if (strcmp(env, "overlay") == 0)
			return 0;
		if (strcmp(env, "copy") != 0)
			return hoist_error_set(err, -EINVAL,
					       "HOIST_SNAPSHOTTER='%s': expected 'auto', 'overlay' "
					       "or 'copy'",
					       env);
		ret->copy = true;
		snprintf(ret->reason, sizeof(ret->reason), "HOIST_SNAPSHOTTER=copy");
	} else {
		ret->fallback_ok = true;
		int *c = &probe_cache[m->mode & 3];
		if (*c == 0)
			*c = probe(tmpbase, m);
		if (*c < 0) {
			ret->copy = true;
			reason_of(m, -*c, ret->reason, sizeof(ret->reason));
		}
	}
	if (ret->copy && !reported) {
		reported = true;
		ret->report = true;
	}
	return 0;
}

void snap_overlay_failed(const struct hoist_idmap *m, int e, struct snap_choice *sc)
{
	probe_cache[m->mode & 3] = e > 0 ? -e : -EINVAL;
	sc->copy = true;
	reason_of(m, e > 0 ? e : EINVAL, sc->reason, sizeof(sc->reason));
	sc->report = !reported;
	reported = true;
}
