/* SPDX-License-Identifier: Apache-2.0 */
/*
 * isolation in-place (issue 18, Kaniko's model): where no namespace can be
 * made (docker/containerd default seccomp), the RUN step runs in the
 * container hoist itself runs in. Every run: '/' is emptied but for the
 * kept paths (every mount point, hoist's binary and store, the paths the
 * caller and $HOIST_IN_PLACE_KEEP name), the image's lowers are copied in
 * (snapcopy.c, skipping the kept paths), RUN --mount targets are placed as
 * plain directories and files, the tree is recorded, the command is forked
 * and exec'd as the image's user, the mounts are taken away again, and the
 * full-tree comparison writes the layer. Each run starts from a clean
 * root, so a failed one leaves nothing for the next.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hoist/util.h"
#include "run-private.h"
#include "sandbox-private.h"

/* Paths of this system in-place never touches, besides every mount point. */
static const char *const always_kept[] = {
    "proc", "sys", "dev", "etc/hosts", "etc/resolv.conf", "etc/hostname"};

/* The signs by which the next hoist knows it is in a container
 * (isolation.c): deleting them would make it refuse in-place. */
static const char *const markers[] = {"/.dockerenv", "/run/.containerenv"};

static void keep_add(struct hoist_strv *keep, const char *path)
{
	char real[PATH_MAX];
	if (!path || !*path)
		return;
	if (realpath(path, real))
		path = real;
	else if (path[0] != '/')
		return; /* relative and missing: nothing of ours to keep */
	_cleanup_free_ char *p = hoist_xstrdup(path);
	size_t n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
	const char *rel = p;
	while (*rel == '/')
		rel++;
	for (size_t i = 0; i < keep->n; i++)
		if (strcmp(keep->v[i], rel) == 0)
			return;
	hoist_strv_push(keep, rel);
}

/* mountinfo's mount point field: octal escapes (\040 for a space). */
static void unescape(char *s)
{
	char *w = s;
	for (char *r = s; *r;) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 4;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
}

static void keep_mounts(struct hoist_strv *keep)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[8192];
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		/* id parent major:minor root mountpoint ... */
		char *tok = line;
		for (int i = 0; tok && i < 4; i++)
			if ((tok = strchr(tok, ' ')))
				tok++;
		char *end = tok ? strchr(tok, ' ') : NULL;
		if (!end)
			continue;
		*end = '\0';
		unescape(tok);
		if (strcmp(tok, "/") != 0)
			keep_add(keep, tok);
	}
	fclose(f);
}

/* An error of the command's child before exec. */
struct ip_err {
	int err;
	char what[256];
};

static __attribute__((noreturn)) void ip_fail(int fd, int e, const char *what)
{
	struct ip_err ie = {.err = e ? e : EIO};
	snprintf(ie.what, sizeof(ie.what), "%s", what);
	(void)!write(fd, &ie, sizeof(ie));
	_exit(125);
}

static int mkdir_p_abs(const char *path, mode_t mode)
{
	_cleanup_free_ char *p = hoist_xstrdup(path);
	for (char *s = p + 1;; s++) {
		bool last = *s == '\0';
		if (*s != '/' && !last)
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return -errno;
		if (last)
			return 0;
		*s = '/';
	}
}

/* The command's child: the image's user, working directory and environment. */
static __attribute__((noreturn)) void ip_child(const struct hoist_sandbox_opts *o, int efd)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	umask(022);
	for (int sig = 1; sig < 65; sig++)
		signal(sig, SIG_DFL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	int fds[3] = {o->stdin_fd, o->stdout_fd, o->stderr_fd}, hi[3];
	for (int i = 0; i < 3; i++) {
		hi[i] = fds[i] >= 0 ? fcntl(fds[i], F_DUPFD_CLOEXEC, 10) : -1;
		if (fds[i] >= 0 && hi[i] < 0)
			ip_fail(efd, errno, "stdio");
	}
	for (int i = 0; i < 3; i++) {
		if (hi[i] >= 0 && dup2(hi[i], i) < 0)
			ip_fail(efd, errno, "stdio");
		if (hi[i] < 0 && i == 0) {
			int nul = open("/dev/null", O_RDONLY);
			if (nul < 0 || (nul != 0 && dup2(nul, 0) < 0))
				ip_fail(efd, errno, "/dev/null");
		}
	}
	const char *cwd = o->cwd && *o->cwd ? o->cwd : "/";
	if (mkdir_p_abs(cwd, 0755) < 0)
		ip_fail(efd, errno, cwd);
	/* setgroups may be denied (a user namespace made with setgroups=deny):
	 * harmless when root keeps no supplementary group. */
	if (setgroups(o->n_groups, o->groups) < 0 && !(errno == EPERM && o->n_groups == 0))
		ip_fail(efd, errno, "setgroups");
	if (setresgid(o->gid, o->gid, o->gid) < 0 || setresuid(o->uid, o->uid, o->uid) < 0)
		ip_fail(efd, errno, "switching user");
	if (chdir(cwd) < 0)
		ip_fail(efd, errno, cwd);
	if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		for (int fd = 3; fd < 65536; fd++)
			(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	const char *file = o->argv[0];
	const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	for (const char *const *e = o->env; e && *e; e++)
		if (hoist_startswith(*e, "PATH="))
			path = *e + 5;
	if (strchr(file, '/')) {
		execve(file, (char *const *)o->argv, (char *const *)o->env);
		ip_fail(efd, errno, file);
	}
	int saved = ENOENT;
	char buf[PATH_MAX];
	for (const char *p = path;;) {
		const char *colon = strchr(p, ':');
		int dlen = colon ? (int)(colon - p) : (int)strlen(p);
		if (snprintf(buf, sizeof(buf), "%.*s/%s", dlen, dlen ? p : ".", file) <
		    (int)sizeof(buf)) {
			execve(buf, (char *const *)o->argv, (char *const *)o->env);
			if (errno != ENOENT && errno != ENOTDIR)
				saved = errno;
		}
		if (!colon)
			break;
		p = colon + 1;
	}
	ip_fail(efd, saved, file);
}

/* One RUN --mount, placed as a plain directory or file. */
struct placed {
	const struct hoist_sandbox_mount *mt;
	char *target;	  /* absolute */
	char *cache;	  /* CACHE: the store's directory */
	bool cache_moved; /* renamed into place (else copied) */
};

static int copy_tree(const char *from, const char *to, struct hoist_error *err)
{
	const char *lowers[] = {from, NULL};
	struct hoist_idmap root = {.mode = HOIST_IDMODE_ROOT};
	struct snap_copy_args ca = {.idmap = &root, .lowers = lowers, .root = to};
	struct snap_copy_out co;
	return snap_materialize_fn(&ca, &co, err);
}

static int copy_file(const char *from, const char *to, mode_t mode, uid_t uid, gid_t gid,
		     struct hoist_error *err)
{
	_cleanup_close_ int in = open(from, O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int out = -1;
	if (in < 0)
		return hoist_error_set(err, -errno, "opening '%s': %s", from, strerror(errno));
	out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0)
		return hoist_error_set(err, -errno, "creating '%s': %s", to, strerror(errno));
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (hoist_write_all(out, buf, (size_t)n) < 0)
			return hoist_error_set(err, -errno, "writing '%s': %s", to,
					       strerror(errno));
	if (n < 0 || fchown(out, uid, gid) < 0 || fchmod(out, mode) < 0)
		return hoist_error_set(err, -errno, "'%s': %s", to, strerror(errno));
	return 0;
}

static int place(struct hoist_store *s, struct placed *p, struct hoist_error *err)
{
	const struct hoist_sandbox_mount *mt = p->mt;
	int r;
	_cleanup_free_ char *parent = hoist_xstrdup(p->target);
	*strrchr(parent, '/') = '\0';
	if (parent[0] && (r = mkdir_p_abs(parent, 0755)) < 0)
		return hoist_error_set(err, r, "creating '%s': %s", parent, strerror(-r));
	(void)hoist_rm_rf_at(AT_FDCWD, p->target);
	switch (mt->type) {
	case HOIST_MOUNT_TMPFS:
		if (mkdir(p->target, 01777) < 0 || chmod(p->target, 01777) < 0)
			return hoist_error_set(err, -errno, "creating '%s': %s", p->target,
					       strerror(errno));
		return 0;
	case HOIST_MOUNT_SECRET:
		return copy_file(mt->source, p->target, mt->mode ? mt->mode & 07777 : 0400, mt->uid,
				 mt->gid, err);
	case HOIST_MOUNT_BIND: {
		struct stat st;
		if (!mt->source || stat(mt->source, &st) < 0)
			return hoist_error_set(err, -errno, "bind source '%s': %s",
					       mt->source ? mt->source : "", strerror(errno));
		if (!S_ISDIR(st.st_mode))
			return copy_file(mt->source, p->target, st.st_mode & 07777, st.st_uid,
					 st.st_gid, err);
		if (mkdir(p->target, 0755) < 0)
			return hoist_error_set(err, -errno, "creating '%s': %s", p->target,
					       strerror(errno));
		return copy_tree(mt->source, p->target, err);
	}
	case HOIST_MOUNT_CACHE: {
		char dg[HOIST_DIGEST_MAX];
		const char *id = mt->source && *mt->source ? mt->source : mt->target;
		hoist_sha256_digest(id, strlen(id), dg);
		p->cache = hoist_store_area_path(s, HOIST_STORE_CACHEMOUNTS, dg + 7);
		struct stat st;
		if (stat(p->cache, &st) < 0) {
			if ((r = sandbox_mkdir_p(p->cache, 0755)) < 0)
				return hoist_error_set(err, r, "creating '%s': %s", p->cache,
						       strerror(-r));
			if (chown(p->cache, mt->uid, mt->gid) < 0 ||
			    chmod(p->cache, mt->mode ? mt->mode & 07777 : 0755) < 0)
				return hoist_error_set(err, -errno, "cache dir '%s': %s", p->cache,
						       strerror(errno));
		}
		if (rename(p->cache, p->target) == 0) {
			p->cache_moved = true;
			return 0;
		}
		if (errno != EXDEV)
			return hoist_error_set(err, -errno, "moving '%s' to '%s': %s", p->cache,
					       p->target, strerror(errno));
		if (mkdir(p->target, 0755) < 0)
			return hoist_error_set(err, -errno, "creating '%s': %s", p->target,
					       strerror(errno));
		return copy_tree(p->cache, p->target, err);
	}
	}
	return 0;
}

/* Take a placed mount away again; a cache goes back to the store. */
static int unplace(struct placed *p, struct hoist_error *err)
{
	int r = 0;
	if (p->mt->type == HOIST_MOUNT_CACHE && p->cache) {
		struct stat st;
		if (p->cache_moved) {
			if (rename(p->target, p->cache) < 0)
				return hoist_error_set(err, -errno, "moving '%s' back: %s",
						       p->target, strerror(errno));
			return 0;
		}
		if (lstat(p->target, &st) == 0 && S_ISDIR(st.st_mode)) {
			_cleanup_free_ char *tmp =
			    hoist_xasprintf("%s.new-%d", p->cache, (int)getpid());
			(void)hoist_rm_rf_at(AT_FDCWD, tmp);
			if (mkdir(tmp, 0755) < 0 || (r = copy_tree(p->target, tmp, err)) < 0 ||
			    hoist_rm_rf_at(AT_FDCWD, p->cache) < 0 || rename(tmp, p->cache) < 0)
				return r < 0 ? r
					     : hoist_error_set(err, -errno, "cache '%s': %s",
							       p->cache, strerror(errno));
		}
	}
	r = hoist_rm_rf_at(AT_FDCWD, p->target);
	if (r < 0 && r != -ENOENT)
		return hoist_error_set(err, r, "removing '%s': %s", p->target, strerror(-r));
	return 0;
}

/* '/' back to the lowers alone (after a failed RUN): best effort. */
static int restore(const struct hoist_sandbox_opts *o, const char *const *keep)
{
	struct hoist_error e2 = {0};
	struct snap_copy_out co;
	_cleanup_close_ int rootfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0 || snap_clear_except(rootfd, "", keep, 1, &e2) < 0)
		return -EIO;
	struct snap_copy_args ca = {.idmap = o->idmap,
				    .lowers = (const char *const *)o->rootfs->paths,
				    .root = "/",
				    .skip = keep};
	return snap_materialize_fn(&ca, &co, &e2);
}

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

static int run_command(const struct hoist_sandbox_opts *o, struct hoist_sandbox_result *ret,
		       struct hoist_error *err)
{
	int ep[2];
	if (pipe2(ep, O_CLOEXEC) < 0)
		return hoist_error_set(err, -errno, "pipe: %s", strerror(errno));
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		close(ep[0]);
		ip_child(o, ep[1]);
	}
	close(ep[1]);
	if (pid < 0) {
		close(ep[0]);
		return hoist_error_set(err, -errno, "fork: %s", strerror(errno));
	}
	struct sigaction ign = {.sa_handler = SIG_IGN}, old_int, old_quit;
	sigaction(SIGINT, &ign, &old_int);
	sigaction(SIGQUIT, &ign, &old_quit);
	struct ip_err ie;
	ssize_t n;
	do
		n = read(ep[0], &ie, sizeof(ie));
	while (n < 0 && errno == EINTR);
	close(ep[0]);
	int st = wait_pid(pid);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGQUIT, &old_quit, NULL);
	if (n == (ssize_t)sizeof(ie)) {
		ie.what[sizeof(ie.what) - 1] = '\0';
		return hoist_error_set(err, -ie.err, "in-place: '%s': %s", ie.what,
				       ie.err == ENOENT ? "executable file not found in $PATH"
							: strerror(ie.err));
	}
	if (st < 0)
		return hoist_error_set(err, st, "waiting for the command: %s", strerror(-st));
	ret->exit_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	ret->term_signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
	return 0;
}

int inplace_run(struct hoist_store *s, const struct hoist_sandbox_opts *o,
		struct hoist_sandbox_result *ret, struct hoist_error *err)
{
	_cleanup_strv_ struct hoist_strv keep = HOIST_STRV_INIT;
	_cleanup_strv_ struct hoist_strv stubs = HOIST_STRV_INIT;
	_cleanup_free_ char *rundir = NULL, *index = NULL;
	struct placed placed[CHILD_MAX_MOUNTS];
	struct sandbox_emul em = {.interp_fd = -1};
	size_t n_placed = 0, n_alloc = 0;
	bool reset_after = false;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (!o->rootfs || !o->argv || !o->argv[0] || o->rootfs->n == 0)
		return hoist_error_set(err, -EINVAL, "in-place: no root filesystem or command");
	if (geteuid() != 0)
		return hoist_error_set(err, -EPERM, "isolation 'in-place' needs root");
	if (o->net == HOIST_NET_NONE)
		return hoist_error_set(err, -EPERM,
				       "isolation 'in-place' cannot take the network away "
				       "(--network none needs a network namespace)");
	if (o->n_mounts > CHILD_MAX_MOUNTS)
		return hoist_error_set(err, -E2BIG, "too many mounts (at most %d)",
				       CHILD_MAX_MOUNTS);
	/* One in-place run at a time in this root (the workers of a
	 * multi-platform build, other hoist processes): each run resets and
	 * fills '/' itself, so serialising the runs is enough. */
	_cleanup_close_ int lockfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lockfd < 0 || flock(lockfd, LOCK_EX) < 0)
		return hoist_error_set(err, -errno, "in-place: locking '/': %s", strerror(errno));
	if ((r = sandbox_emul_prepare(o->platform, false, &em, err)) < 0)
		return hoist_error_prefix(err, "in-place");
	ret->emulator.path = em.path;
	snprintf(ret->emulator.name, sizeof(ret->emulator.name), "%s", em.name);
	sandbox_emul_release(&em);

	/* What stays: mount points, the store, hoist, the caller's paths. */
	keep_mounts(&keep);
	for (size_t i = 0; i < ARRAY_SIZE(always_kept); i++)
		hoist_strv_push(&keep, always_kept[i]);
	keep_add(&keep, "/proc/self/exe");
	for (size_t i = 0; i < ARRAY_SIZE(markers); i++)
		if (access(markers[i], F_OK) == 0)
			keep_add(&keep, markers[i]);
	keep_add(&keep, hoist_store_root(s));
	for (const char *const *k = o->keep; k && *k; k++)
		keep_add(&keep, *k);
	const char *env = getenv("HOIST_IN_PLACE_KEEP");
	if (env && *env) {
		_cleanup_free_ char *copy = hoist_xstrdup(env);
		for (char *t = copy, *colon; t; t = colon) {
			if ((colon = strchr(t, ':')))
				*colon++ = '\0';
			keep_add(&keep, t);
		}
	}
	for (size_t i = 0; i < o->n_mounts; i++) {
		const struct hoist_sandbox_mount *mt = &o->mounts[i];
		if (!mt->target || mt->target[0] != '/' || !mt->target[1] ||
		    strstr(mt->target, ".."))
			return hoist_error_set(err, -EINVAL,
					       "mount target '%s' must be an absolute path",
					       mt->target ? mt->target : "");
		keep_add(&keep, mt->target);
		if (mt->type == HOIST_MOUNT_SECRET || mt->type == HOIST_MOUNT_BIND)
			keep_add(&keep, mt->source);
	}
	for (size_t i = 0; i < keep.n; i++)
		if (!keep.v[i][0])
			return hoist_error_set(err, -EINVAL,
					       "in-place: cannot keep '/' (a store, binary or kept "
					       "path at the root)");
	if (keep.n > 1)
		qsort(keep.v, keep.n, sizeof(char *), cmp_str);

	for (size_t i = 0; i < ARRAY_SIZE(always_kept); i++)
		sandbox_add_stub(&stubs, o->rootfs, always_kept[i]);
	for (size_t i = 0; i < o->n_mounts; i++)
		sandbox_add_stub(&stubs, o->rootfs, o->mounts[i].target + 1);
	if (stubs.n > 1)
		qsort(stubs.v, stubs.n, sizeof(char *), cmp_str);

	if ((r = hoist_store_tmpdir(s, "run-", &rundir, err)) < 0)
		return r;
	index = hoist_xasprintf("%s/snapshot-index", rundir);

	/* A clean root: the previous run's (or a failed one's) tree goes. */
	reset_after = true;
	{
		_cleanup_close_ int rootfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (rootfd < 0) {
			r = hoist_error_set(err, -errno, "opening '/': %s", strerror(errno));
			goto out;
		}
		if ((r = snap_clear_except(rootfd, "", (const char *const *)keep.v, 1, err)) < 0) {
			hoist_error_prefix(err, "in-place: resetting '/'");
			goto out;
		}
	}
	struct snap_copy_args ca = {.idmap = o->idmap,
				    .lowers = (const char *const *)o->rootfs->paths,
				    .root = "/",
				    .skip = (const char *const *)keep.v};
	struct snap_copy_out co = {0};
	if ((r = snap_materialize_fn(&ca, &co, err)) < 0) {
		hoist_error_prefix(err, "in-place");
		goto out;
	}
	sandbox_say(o,
		    "in-place: '/' is the image (%llu entries, %llu B copied, %llu reflinked); "
		    "%zu paths kept",
		    (unsigned long long)co.entries, (unsigned long long)co.bytes,
		    (unsigned long long)co.reflinked, keep.n);

	for (size_t i = 0; i < o->n_mounts; i++) {
		struct placed *p = &placed[n_placed++];
		*p = (struct placed){.mt = &o->mounts[i],
				     .target = hoist_xstrdup(o->mounts[i].target)};
		n_alloc = n_placed;
		if ((r = place(s, p, err)) < 0) {
			hoist_error_prefix(err, "in-place: RUN --mount at '%s'", p->target);
			goto out;
		}
	}
	if ((r = snap_record("/", index, (const char *const *)keep.v, err)) < 0)
		goto out;
	/* The sandbox makes its mount points in the image's directories,
	 * which changes their times, and the layer shows them (as BuildKit's
	 * do): the same here, so that the layers are the same. */
	for (size_t i = 0; i < stubs.n; i++) {
		_cleanup_free_ char *parent = hoist_xstrdup(stubs.v[i]);
		char *slash = strrchr(parent, '/');
		if (!slash)
			continue;
		*slash = '\0';
		if (!sandbox_exists_in_lowers(o->rootfs, parent))
			continue;
		_cleanup_free_ char *abs = hoist_xasprintf("/%s", parent);
		(void)utimensat(AT_FDCWD, abs, NULL, AT_SYMLINK_NOFOLLOW);
	}

	r = run_command(o, ret, err);
	for (size_t i = n_placed; i-- > 0;) {
		struct hoist_error e2 = {0};
		if (unplace(&placed[i], &e2) < 0 && r == 0)
			r = hoist_error_set(err, e2.code, "in-place: %s", e2.msg);
	}
	n_placed = 0;
	if (r < 0)
		goto out;
	if (o->want_layer && ret->exit_status == 0) {
		struct snap_diff_args sa = {.store = s,
					    .idmap = o->idmap,
					    .root = "/",
					    .index = index,
					    .skip = (const char *const *)keep.v,
					    .stubs = (const char *const *)stubs.v,
					    .stubs_in_index = true,
					    .layer_opts = &o->layer_opts};
		struct upper_diff_out dout = {0};
		if ((r = snap_diff_fn(&sa, &dout, err)) < 0)
			goto out;
		ret->has_layer = true;
		ret->layer = dout.desc;
		memcpy(ret->diff_id, dout.diff_id, sizeof(ret->diff_id));
		ret->layer_empty = dout.empty;
	}
	reset_after = ret->exit_status != 0;
	r = 0;
out:
	for (size_t i = n_placed; i-- > 0;) {
		struct hoist_error e2 = {0};
		(void)unplace(&placed[i], &e2);
	}
	for (size_t i = 0; i < o->n_mounts && i < CHILD_MAX_MOUNTS; i++) {
		if (i >= n_alloc)
			break;
		free(placed[i].target);
		free(placed[i].cache);
	}
	/* The mount points made for the run are no part of the image. */
	for (size_t i = stubs.n; i-- > 0;)
		if (!snap_skipped((const char *const *)keep.v, stubs.v[i])) {
			_cleanup_free_ char *abs = hoist_xasprintf("/%s", stubs.v[i]);
			(void)rmdir(abs);
		}
	/* A failed RUN leaves '/' as the stage was before it. */
	if (reset_after && restore(o, (const char *const *)keep.v) == 0)
		sandbox_say(o, "in-place: '/' reset to the image after the failed RUN");
	if (rundir)
		(void)hoist_rm_rf_at(AT_FDCWD, rundir);
	return r;
}
