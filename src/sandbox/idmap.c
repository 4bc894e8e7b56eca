/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Identity modes: which one the user can have, writing the maps of a
 * user-namespaced child, and running library code inside such a namespace.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hoist/util.h"
#include "run-private.h"
#include "sandbox-private.h"

#define SUBID_RANGE 65536u

static const char *const newuidmap_paths[] = {"/usr/bin/newuidmap", "/bin/newuidmap"};
static const char *const newgidmap_paths[] = {"/usr/bin/newgidmap", "/bin/newgidmap"};

const char *hoist_idmode_name(enum hoist_idmode mode)
{
	switch (mode) {
	case HOIST_IDMODE_ROOT:
		return "root";
	case HOIST_IDMODE_SUBUID:
		return "subuid";
	case HOIST_IDMODE_SINGLE:
		return "single";
	case HOIST_IDMODE_AUTO:
		break;
	}
	return "auto";
}

int hoist_idmode_parse(const char *s, enum hoist_idmode *ret)
{
	static const enum hoist_idmode all[] = {HOIST_IDMODE_AUTO, HOIST_IDMODE_ROOT,
						HOIST_IDMODE_SUBUID, HOIST_IDMODE_SINGLE};
	for (size_t i = 0; i < ARRAY_SIZE(all); i++)
		if (strcmp(s, hoist_idmode_name(all[i])) == 0) {
			*ret = all[i];
			return 0;
		}
	return -EINVAL;
}

static const char *find_exe(const char *const *paths, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (access(paths[i], X_OK) == 0)
			return paths[i];
	return NULL;
}

/*
 * Find the first range of at least SUBID_RANGE ids for the user in an
 * /etc/subuid-style file (lines "name-or-id:start:count").
 */
static int subid_lookup(const char *file, const char *name, unsigned long id, uint32_t *ret_start)
{
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	if (hoist_read_file_at(AT_FDCWD, file, 1 << 20, &data, &len, NULL) < 0)
		return -ENOENT;
	char idstr[32];
	snprintf(idstr, sizeof(idstr), "%lu", id);
	for (char *line = data; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		char *c1 = strchr(line, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (c1 && c2 && line[0] != '#') {
			*c1 = *c2 = '\0';
			uint64_t start, count;
			if ((strcmp(line, name) == 0 || strcmp(line, idstr) == 0) &&
			    hoist_parse_u64(c1 + 1, UINT32_MAX, &start) == 0 &&
			    hoist_parse_u64(c2 + 1, UINT32_MAX, &count) == 0 &&
			    count >= SUBID_RANGE && start + SUBID_RANGE <= UINT32_MAX) {
				*ret_start = (uint32_t)start;
				return 0;
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	return -ENOENT;
}

int hoist_idmap_detect(enum hoist_idmode want, struct hoist_idmap *ret, struct hoist_error *err)
{
	struct hoist_idmap m = {.uid = geteuid(), .gid = getegid()};

	if (want == HOIST_IDMODE_ROOT || (want == HOIST_IDMODE_AUTO && m.uid == 0)) {
		if (m.uid != 0)
			return hoist_error_set(err, -EPERM,
					       "identity mode 'root' needs to run as root");
		m.mode = HOIST_IDMODE_ROOT;
		*ret = m;
		return 0;
	}
	if (want == HOIST_IDMODE_SUBUID || want == HOIST_IDMODE_AUTO) {
		struct passwd pw, *pwr = NULL;
		char pwbuf[4096];
		uint32_t su = 0, sg = 0;
		const char *name = "";
		if (getpwuid_r(m.uid, &pw, pwbuf, sizeof(pwbuf), &pwr) == 0 && pwr)
			name = pw.pw_name;
		bool have_tools = find_exe(newuidmap_paths, ARRAY_SIZE(newuidmap_paths)) &&
				  find_exe(newgidmap_paths, ARRAY_SIZE(newgidmap_paths));
		bool have_ranges = subid_lookup("/etc/subuid", name, m.uid, &su) == 0 &&
				   subid_lookup("/etc/subgid", name, m.uid, &sg) == 0;
		if (have_tools && have_ranges) {
			m.mode = HOIST_IDMODE_SUBUID;
			m.subuid = su;
			m.subgid = sg;
			m.count = SUBID_RANGE;
			*ret = m;
			return 0;
		}
		if (want == HOIST_IDMODE_SUBUID)
			return hoist_error_set(
			    err, -EPERM,
			    have_tools ? "identity mode 'subuid': no range of %u ids for '%s' in "
					 "/etc/subuid and /etc/subgid"
				       : "identity mode 'subuid': newuidmap/newgidmap not found "
					 "(install Debian's 'uidmap') %u '%s'",
			    SUBID_RANGE, name);
	}
	m.mode = HOIST_IDMODE_SINGLE;
	*ret = m;
	return 0;
}

static int write_proc(pid_t pid, const char *file, const char *data)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, data, strlen(data)) < 0)
		return -errno;
	return 0;
}

static int run_tool(const char *exe, pid_t pid, unsigned long id, unsigned long sub,
		    struct hoist_error *err)
{
	char spid[32], sid[32], ssub[32], scount[32];
	snprintf(spid, sizeof(spid), "%d", (int)pid);
	snprintf(sid, sizeof(sid), "%lu", id);
	snprintf(ssub, sizeof(ssub), "%lu", sub);
	snprintf(scount, sizeof(scount), "%u", SUBID_RANGE);
	char *const argv[] = {(char *)exe, spid, (char *)"0", sid, (char *)"1",
			      (char *)"1", ssub, scount,      NULL};
	char *const envp[] = {(char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
	pid_t child;
	int r = posix_spawn(&child, exe, NULL, NULL, argv, envp);
	if (r != 0)
		return hoist_error_set(err, -r, "running '%s': %s", exe, strerror(r));
	int st = wait_pid(child);
	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return hoist_error_set(err, -EPERM, "'%s %s 0 %s 1 1 %s %s' failed", exe, spid, sid,
				       ssub, scount);
	return 0;
}

int idmap_write(const struct hoist_idmap *m, pid_t pid, struct hoist_error *err)
{
	char map[64];
	int r;

	switch (m->mode) {
	case HOIST_IDMODE_SUBUID:
		if (m->direct) {
			/* Root of a container (CAP_SETUID/CAP_SETGID, ids mapped
			 * here): no helper needed to map a range. */
			snprintf(map, sizeof(map), "0 %lu 1\n%lu %lu %u\n", (unsigned long)m->uid,
				 1ul, (unsigned long)m->subuid, m->count);
			if ((r = write_proc(pid, "uid_map", map)) < 0)
				return hoist_error_set(err, r, "writing uid_map: %s", strerror(-r));
			snprintf(map, sizeof(map), "0 %lu 1\n%lu %lu %u\n", (unsigned long)m->gid,
				 1ul, (unsigned long)m->subgid, m->count);
			if ((r = write_proc(pid, "gid_map", map)) < 0)
				return hoist_error_set(err, r, "writing gid_map: %s", strerror(-r));
			return 0;
		}
		r = run_tool(find_exe(newuidmap_paths, ARRAY_SIZE(newuidmap_paths)), pid, m->uid,
			     m->subuid, err);
		if (r < 0)
			return r;
		return run_tool(find_exe(newgidmap_paths, ARRAY_SIZE(newgidmap_paths)), pid, m->gid,
				m->subgid, err);
	case HOIST_IDMODE_SINGLE:
		/* Without setgroups=deny an unprivileged writer may not set gid_map. */
		r = write_proc(pid, "setgroups", "deny");
		if (r < 0 && r != -ENOENT)
			return hoist_error_set(err, r, "writing setgroups: %s", strerror(-r));
		snprintf(map, sizeof(map), "0 %lu 1\n", (unsigned long)m->uid);
		r = write_proc(pid, "uid_map", map);
		if (r < 0)
			return hoist_error_set(err, r, "writing uid_map: %s", strerror(-r));
		snprintf(map, sizeof(map), "0 %lu 1\n", (unsigned long)m->gid);
		r = write_proc(pid, "gid_map", map);
		if (r < 0)
			return hoist_error_set(err, r, "writing gid_map: %s", strerror(-r));
		return 0;
	default:
		return 0;
	}
}

/*
 * The shared user namespaces (run-private.h). newuidmap and newgidmap are
 * setuid execs costing several ms each; paying them per RUN (and per
 * unpack, layer and tree removal) was most of the subuid mode's start-up
 * cost (issue 5). A hoist process uses one mapping in practice; a few slots
 * cover library callers that mix them.
 */
#define SHARED_MAX 4
static struct {
	struct hoist_idmap key;
	int fd;
} shared[SHARED_MAX];
static size_t n_shared, next_evict;

static bool same_idmap(const struct hoist_idmap *a, const struct hoist_idmap *b)
{
	return a->mode == b->mode && a->direct == b->direct && a->uid == b->uid &&
	       a->gid == b->gid && a->subuid == b->subuid && a->subgid == b->subgid &&
	       a->count == b->count;
}

/* A new user namespace with m's maps, as an fd to it (no process keeps it). */
static int make_userns(const struct hoist_idmap *m, int *ret_fd, struct hoist_error *err)
{
	int hold[2];
	if (pipe2(hold, O_CLOEXEC) < 0)
		return hoist_error_set(err, -errno, "pipe: %s", strerror(errno));
	/* The holder only waits for EOF: our end closing, or our death. */
	pid_t pid = sandbox_clone(CLONE_NEWUSER);
	if (pid == 0) {
		char c;
		close(hold[1]);
		while (read(hold[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(hold[0]);
	if (pid < 0) {
		close(hold[1]);
		return hoist_error_set(err, pid, "clone(CLONE_NEWUSER): %s", strerror(-pid));
	}
	int fd = -1, r = idmap_write(m, pid, err);
	if (r == 0) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			r = hoist_error_set(err, -errno, "opening '%s': %s", path, strerror(errno));
	}
	close(hold[1]);
	wait_pid(pid);
	if (r < 0)
		return r;
	*ret_fd = fd;
	return 0;
}

int idmap_userns(const struct hoist_idmap *m, int *ret_fd, struct hoist_error *err)
{
	/* Single mode's maps are three small writes: nothing to save there. */
	if (m->mode != HOIST_IDMODE_SUBUID) {
		*ret_fd = -1;
		return 0;
	}
	for (size_t i = 0; i < n_shared; i++)
		if (same_idmap(&shared[i].key, m)) {
			*ret_fd = shared[i].fd;
			return 0;
		}
	int fd = -1, r = make_userns(m, &fd, err);
	if (r < 0)
		return r;
	size_t slot = n_shared;
	if (slot == SHARED_MAX) {
		/* Callers use the fd only until their next call here. */
		slot = next_evict;
		next_evict = (next_evict + 1) % SHARED_MAX;
		close(shared[slot].fd);
	} else {
		n_shared++;
	}
	shared[slot].key = *m;
	shared[slot].fd = fd;
	*ret_fd = fd;
	return 0;
}

void hoist_sandbox_cleanup(void)
{
	for (size_t i = 0; i < n_shared; i++)
		close(shared[i].fd);
	n_shared = next_evict = 0;
}

int wait_pid(pid_t pid)
{
	int st;
	for (;;) {
		if (waitpid(pid, &st, 0) >= 0)
			return st;
		if (errno != EINTR)
			return -errno;
	}
}

static ssize_t read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

struct userns_reply {
	int rc;
	struct hoist_error err;
};

int userns_call(const struct hoist_idmap *m, userns_fn fn, void *arg, void *out, size_t out_len,
		struct hoist_error *err)
{
	if (m->mode == HOIST_IDMODE_ROOT)
		return fn(arg, out, err);

	int ufd, sync[2] = {-1, -1}, reply[2] = {-1, -1};
	int r = idmap_userns(m, &ufd, err);
	if (r < 0)
		return r;
	if (pipe2(sync, O_CLOEXEC) < 0 || pipe2(reply, O_CLOEXEC) < 0) {
		int e = -errno;
		if (sync[0] >= 0) {
			close(sync[0]);
			close(sync[1]);
		}
		return hoist_error_set(err, e, "pipe: %s", strerror(-e));
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		int e = -errno;
		close(sync[0]);
		close(sync[1]);
		close(reply[0]);
		close(reply[1]);
		return hoist_error_set(err, e, "fork: %s", strerror(-e));
	}
	if (pid == 0) {
		struct userns_reply rep = {0};
		char c;
		close(sync[1]);
		close(reply[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (ufd >= 0) {
			/* The maps are there already: no round trip to the parent. */
			if (setns(ufd, CLONE_NEWUSER) < 0) {
				rep.rc = hoist_error_set(&rep.err, -errno,
							 "joining the user namespace: %s",
							 strerror(errno));
				(void)!write(reply[1], "e", 1);
				goto reply;
			}
			if (write(reply[1], "r", 1) != 1)
				_exit(1);
		} else if (unshare(CLONE_NEWUSER) < 0) {
			rep.rc = hoist_error_set(&rep.err, -errno, "unshare(CLONE_NEWUSER): %s",
						 strerror(errno));
			(void)!write(reply[1], "e", 1);
			goto reply;
		} else if (write(reply[1], "r", 1) != 1 || read(sync[0], &c, 1) != 1) {
			/* Ready for our maps; the parent answers with one byte once written. */
			_exit(1);
		}
		if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) {
			rep.rc =
			    hoist_error_set(&rep.err, -errno, "becoming root in the namespace: %s",
					    strerror(errno));
			goto reply;
		}
		rep.rc = fn(arg, out, &rep.err);
	reply:
		if (hoist_write_all(reply[1], &rep, sizeof(rep)) == 0 && out_len > 0)
			hoist_write_all(reply[1], out, out_len);
		_exit(0);
	}
	close(sync[0]);
	close(reply[1]);

	/* The child must have unshared before its maps can be written. */
	char ready = 0;
	if (read_full(reply[0], &ready, 1) != 1)
		r = hoist_error_set(err, -EIO, "helper process died");
	else if (ready != 'r')
		r = -ENOTSUP; /* its reply follows */
	if (r == 0 && ufd < 0)
		r = idmap_write(m, pid, err);
	if (r == 0 && ufd < 0 && write(sync[1], "x", 1) != 1)
		r = hoist_error_set(err, -EPIPE, "helper process died");
	close(sync[1]);

	struct userns_reply rep;
	ssize_t n = r == 0 || r == -ENOTSUP ? read_full(reply[0], &rep, sizeof(rep)) : 0;
	if (r == 0 || r == -ENOTSUP) {
		if (n != (ssize_t)sizeof(rep))
			r = hoist_error_set(err, -EIO, "helper process died");
		else if (rep.rc < 0) {
			if (err)
				*err = rep.err;
			r = rep.rc;
		} else {
			if (out_len > 0 && read_full(reply[0], out, out_len) != (ssize_t)out_len)
				r = hoist_error_set(err, -EIO, "helper process died");
			else
				r = rep.rc;
		}
	}
	close(reply[0]);
	if (r < 0 && r != -EIO)
		kill(pid, SIGKILL);
	wait_pid(pid);
	return r;
}

int sandbox_mkdir_p(const char *path, mode_t mode)
{
	_cleanup_free_ char *p = hoist_xstrdup(path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}
