/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The isolation ladder (issue 18): what a RUN can get where hoist runs.
 * CI jobs mostly run in a container with the runtime's default seccomp
 * profile and capabilities: no namespaces at all (docker/containerd:
 * clone3 is ENOSYS, namespace flags EPERM), or a user namespace in which a
 * fresh /proc is refused (podman/runc: masked paths over the container's
 * /proc make the kernel's mnt_already_visible() check fail), or root
 * without CAP_SYS_ADMIN. Each rung is probed in a forked child the way the
 * sandbox would do it, so the answer is the kernel's, not a guess.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hoist/util.h"
#include "run-private.h"
#include "sandbox-private.h"

const char *hoist_isolation_name(enum hoist_isolation i)
{
	switch (i) {
	case HOIST_ISOLATION_SANDBOX:
		return "sandbox";
	case HOIST_ISOLATION_SHARED_PROC:
		return "userns-shared-proc";
	case HOIST_ISOLATION_IN_PLACE:
		return "in-place";
	case HOIST_ISOLATION_AUTO:
		break;
	}
	return "auto";
}

int hoist_isolation_parse(const char *s, enum hoist_isolation *ret, struct hoist_error *err)
{
	bool from_env = !s || !*s;
	if (from_env)
		s = getenv("HOIST_ISOLATION");
	if (!s || !*s) {
		*ret = HOIST_ISOLATION_AUTO;
		return 0;
	}
	static const enum hoist_isolation all[] = {HOIST_ISOLATION_AUTO, HOIST_ISOLATION_SANDBOX,
						   HOIST_ISOLATION_SHARED_PROC,
						   HOIST_ISOLATION_IN_PLACE};
	for (size_t i = 0; i < ARRAY_SIZE(all); i++)
		if (strcmp(s, hoist_isolation_name(all[i])) == 0) {
			*ret = all[i];
			return 0;
		}
	return hoist_error_set(err, -EINVAL,
			       "%sunknown isolation '%s': use auto, sandbox, userns-shared-proc or "
			       "in-place",
			       from_env ? "HOIST_ISOLATION: " : "", s);
}

/* Where a probe stopped. */
enum probe_stage { PROBE_OK, PROBE_CLONE, PROBE_MAPS, PROBE_PRIVATE, PROBE_PROC };

struct probe {
	enum probe_stage stage;
	int err;
};

static int write_self(const char *file, const char *data)
{
	int fd = open(file, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, data, strlen(data));
	close(fd);
	return n < 0 ? -1 : 0;
}

/*
 * What the sandbox's child does first, in a throwaway child: the
 * namespaces (with a user namespace mapping only ourselves when userns),
 * a private mount tree and a fresh proc over /proc (the same check as on
 * the new root's proc: the kernel compares it with the visible /proc).
 */
static void probe_ns(bool userns, struct probe *ret)
{
	int pfd[2];
	memset(ret, 0, sizeof(*ret));
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		ret->stage = PROBE_CLONE;
		ret->err = errno;
		return;
	}
	uid_t uid = geteuid();
	gid_t gid = getegid();
	char umap[32], gmap[32];
	snprintf(umap, sizeof(umap), "0 %lu 1\n", (unsigned long)uid);
	snprintf(gmap, sizeof(gmap), "0 %lu 1\n", (unsigned long)gid);
	uint64_t flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC;
	if (userns)
		flags |= CLONE_NEWUSER;
	fflush(NULL);
	pid_t pid = sandbox_clone(flags);
	if (pid == 0) {
		struct probe p = {PROBE_OK, 0};
		close(pfd[0]);
		if (userns && (write_self("/proc/self/setgroups", "deny") < 0 ||
			       write_self("/proc/self/uid_map", umap) < 0 ||
			       write_self("/proc/self/gid_map", gmap) < 0)) {
			p = (struct probe){PROBE_MAPS, errno};
		} else if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
			p = (struct probe){PROBE_PRIVATE, errno};
		} else if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) <
			   0) {
			p = (struct probe){PROBE_PROC, errno};
		}
		(void)!write(pfd[1], &p, sizeof(p));
		_exit(0);
	}
	close(pfd[1]);
	if (pid < 0) {
		close(pfd[0]);
		ret->stage = PROBE_CLONE;
		ret->err = -pid;
		return;
	}
	ssize_t n;
	do
		n = read(pfd[0], ret, sizeof(*ret));
	while (n < 0 && errno == EINTR);
	close(pfd[0]);
	wait_pid(pid);
	if (n != (ssize_t)sizeof(*ret))
		*ret = (struct probe){PROBE_CLONE, ECHILD};
}

static void probe_describe(const struct probe *p, bool userns, char *buf, size_t size)
{
	const char *what = "";
	switch (p->stage) {
	case PROBE_OK:
		snprintf(buf, size, "works");
		return;
	case PROBE_CLONE:
		what = userns ? "clone(CLONE_NEWUSER|CLONE_NEWNS|CLONE_NEWPID)"
			      : "clone(CLONE_NEWNS|CLONE_NEWPID)";
		break;
	case PROBE_MAPS:
		what = "writing the user namespace's uid_map";
		break;
	case PROBE_PRIVATE:
		what = "making the mounts private";
		break;
	case PROBE_PROC:
		what = "mounting a fresh /proc";
		break;
	}
	snprintf(buf, size, "%s: %s", what, strerror(p->err));
}

static bool has_cap(int cap)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2];
	memset(d, 0, sizeof(d));
	if (syscall(SYS_capget, &h, d) < 0)
		return false;
	return (d[cap / 32].effective >> (cap % 32)) & 1;
}

/* The first size-1 bytes of a small /proc file, NUL-terminated; false
 * when it cannot be read or is empty. */
static bool read_small(const char *path, char *buf, size_t size)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, size - 1);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return true;
}

static bool file_has(const char *path, const char *const *needles, const char **which)
{
	char buf[16384];
	if (!read_small(path, buf, sizeof(buf)))
		return false;
	for (size_t i = 0; needles[i]; i++)
		if (strstr(buf, needles[i])) {
			*which = needles[i];
			return true;
		}
	return false;
}

/* Whether hoist runs in a container, and the hint that says so. */
static bool detect_container(char *why, size_t size)
{
	static const char *const cg[] = {"docker", "kubepods", "containerd", "libpod",
					 "lxc",	   "crio",     NULL};
	const char *env = getenv("container");
	const char *hit = NULL;
	struct stat st;
	if (stat("/.dockerenv", &st) == 0)
		snprintf(why, size, "/.dockerenv exists");
	else if (stat("/run/.containerenv", &st) == 0)
		snprintf(why, size, "/run/.containerenv exists");
	else if (env && *env)
		snprintf(why, size, "container=%s in the environment", env);
	else if (file_has("/proc/1/cgroup", cg, &hit))
		snprintf(why, size, "/proc/1/cgroup names '%s'", hit);
	else
		return false;
	return true;
}

/* Mounts over paths below /proc (runc's masked paths): why a fresh proc is refused. */
static bool proc_masked(void)
{
	static const char *const masks[] = {" /proc/", NULL};
	const char *hit = NULL;
	return file_has("/proc/self/mountinfo", masks, &hit);
}

/* Whether ids 0..65536 are all mapped in our own user namespace. */
static bool ids_mapped(const char *file)
{
	char buf[4096];
	if (!read_small(file, buf, sizeof(buf)))
		return false;
	/* The ranges may be split over several lines: rootless podman maps 0
	 * to the user and 1..65536 to its subordinate ids (340 lines at most). */
	unsigned long lo[340], len[340];
	size_t nr = 0;
	for (char *line = buf; line && *line && nr < 340;) {
		unsigned long in, out, count;
		if (sscanf(line, "%lu %lu %lu", &in, &out, &count) == 3) {
			lo[nr] = in;
			len[nr++] = count;
		}
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	unsigned long cur = 0;
	for (bool moved = true; cur < 65537 && moved;) {
		moved = false;
		for (size_t i = 0; i < nr; i++)
			if (lo[i] <= cur && cur - lo[i] < len[i]) {
				cur = lo[i] + len[i];
				moved = true;
			}
	}
	return cur >= 65537;
}

/*
 * Rung 2: root without CAP_SYS_ADMIN maps container root to itself in a
 * user namespace, with the ids 1..65536 of the container as well when
 * they are mapped here and we hold CAP_SETUID/CAP_SETGID (a root in a
 * default docker or podman container does), else root alone (single).
 */
static void root_userns_idmap(enum hoist_idmode idwant, struct hoist_idmap *m)
{
	memset(m, 0, sizeof(*m));
	m->uid = 0;
	m->gid = 0;
	if (idwant != HOIST_IDMODE_SINGLE && has_cap(CAP_SETUID) && has_cap(CAP_SETGID) &&
	    ids_mapped("/proc/self/uid_map") && ids_mapped("/proc/self/gid_map")) {
		m->mode = HOIST_IDMODE_SUBUID;
		m->subuid = 1;
		m->subgid = 1;
		m->count = 65536;
		m->direct = true;
		return;
	}
	m->mode = HOIST_IDMODE_SINGLE;
}

enum ns_level { NS_NONE, NS_NOPROC, NS_FULL };

int hoist_isolation_pick(enum hoist_isolation want, enum hoist_idmode idwant,
			 struct hoist_isolation_choice *ret, struct hoist_idmap *ret_idmap,
			 struct hoist_error *err)
{
	struct hoist_isolation_choice ch;
	struct hoist_idmap m;
	char hint[160] = "", d_root[160] = "", d_user[160] = "", how[320] = "";
	bool root = geteuid() == 0;
	int r;

	memset(&ch, 0, sizeof(ch));
	ch.in_container = detect_container(hint, sizeof(hint));
	if (idwant == HOIST_IDMODE_ROOT && !root)
		return hoist_idmap_detect(idwant, &m, err); /* "needs to run as root" */

	if (want == HOIST_ISOLATION_IN_PLACE) {
		if (!root)
			return hoist_error_set(
			    err, -EPERM,
			    "isolation 'in-place' needs root (it unpacks the "
			    "image into '/'): run hoist as root in the container");
		if ((r = hoist_idmap_detect(HOIST_IDMODE_ROOT, &m, err)) < 0)
			return r;
		ch.rung = want;
		snprintf(ch.reason, sizeof(ch.reason), "forced; %s",
			 ch.in_container ? hint
					 : "not inside a container: this system's '/' is replaced");
		*ret = ch;
		*ret_idmap = m;
		return 0;
	}

	/* What namespaces give here, best first. */
	enum ns_level level = NS_NONE;
	struct probe p;
	if (root && (idwant == HOIST_IDMODE_AUTO || idwant == HOIST_IDMODE_ROOT)) {
		probe_ns(false, &p);
		probe_describe(&p, false, d_root, sizeof(d_root));
		if (p.stage == PROBE_OK || p.stage == PROBE_PROC) {
			level = p.stage == PROBE_OK ? NS_FULL : NS_NOPROC;
			hoist_idmap_detect(HOIST_IDMODE_ROOT, &m, NULL);
			snprintf(how, sizeof(how), "namespaces as root");
		}
	}
	if (level == NS_NONE && !(root && idwant == HOIST_IDMODE_ROOT)) {
		probe_ns(true, &p);
		probe_describe(&p, true, d_user, sizeof(d_user));
		if (p.stage == PROBE_OK || p.stage == PROBE_PROC) {
			level = p.stage == PROBE_OK ? NS_FULL : NS_NOPROC;
			if (root) {
				root_userns_idmap(idwant, &m);
				snprintf(
				    how, sizeof(how),
				    "root without namespaces of its own (%s): a user namespace "
				    "mapping %s",
				    d_root, m.direct ? "the container's ids 0-65536" : "root only");
			} else {
				if ((r = hoist_idmap_detect(idwant, &m, err)) < 0)
					return r;
				snprintf(how, sizeof(how), "a user namespace");
			}
		}
	}
	const char *mask = proc_masked() ? ": masked paths in the container's /proc" : "";

	char missing[400];
	snprintf(missing, sizeof(missing), "%s%s%s%s%s", d_root[0] ? "as root, " : "", d_root,
		 d_root[0] && d_user[0] ? "; " : "", d_user[0] ? "user namespace, " : "", d_user);

	switch (want) {
	case HOIST_ISOLATION_SANDBOX:
		if (level != NS_FULL)
			return hoist_error_set(err, -EPERM,
					       "isolation 'sandbox' cannot work here (%s%s): try "
					       "--isolation auto",
					       missing, level == NS_NOPROC ? mask : "");
		ch.rung = want;
		snprintf(ch.reason, sizeof(ch.reason), "forced; %s", how);
		break;
	case HOIST_ISOLATION_SHARED_PROC:
		if (level == NS_NONE)
			return hoist_error_set(err, -EPERM,
					       "isolation 'userns-shared-proc' needs a mount "
					       "namespace (%s): try --isolation in-place",
					       missing);
		ch.rung = want;
		snprintf(ch.reason, sizeof(ch.reason), "forced; %s", how);
		break;
	default:
		if (level == NS_FULL) {
			ch.rung = HOIST_ISOLATION_SANDBOX;
			snprintf(ch.reason, sizeof(ch.reason), "%s, fresh /proc", how);
		} else if (level == NS_NOPROC) {
			ch.rung = HOIST_ISOLATION_SHARED_PROC;
			snprintf(ch.reason, sizeof(ch.reason),
				 "a fresh /proc is refused%s; %s, the container's /proc bound, no "
				 "PID namespace",
				 mask, how);
		} else if (!ch.in_container) {
			return hoist_error_set(
			    err, -EPERM,
			    "no isolation works here (%s) and hoist found no sign of a container "
			    "(/.dockerenv, /run/.containerenv, container=, /proc/1/cgroup), so it "
			    "will not unpack images over this system's '/': pass --isolation "
			    "in-place if that is what you want",
			    missing);
		} else if (!root) {
			return hoist_error_set(err, -EPERM,
					       "no isolation works here (%s): in-place needs root "
					       "in the container",
					       missing);
		} else {
			if ((r = hoist_idmap_detect(HOIST_IDMODE_ROOT, &m, err)) < 0)
				return r;
			ch.rung = HOIST_ISOLATION_IN_PLACE;
			snprintf(ch.reason, sizeof(ch.reason),
				 "no namespaces: %s; inside a container: %s", missing, hint);
		}
		break;
	}
	*ret = ch;
	*ret_idmap = m;
	return 0;
}
