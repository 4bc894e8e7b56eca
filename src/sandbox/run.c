/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hoist_sandbox_run(): everything the child needs (strings, paths, fds) is
 * prepared here in the parent; between clone() and execve() the child only
 * makes system calls (no malloc, no stdio) and leaves with _exit(), so that
 * it cannot deadlock on a lock another thread held at clone time.
 * The child steps are in child.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <string.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hoist/util.h"
#include "run-private.h"
#include "sandbox-private.h"

void hoist_sandbox_opts_init(struct hoist_sandbox_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->stdin_fd = o->stdout_fd = o->stderr_fd = -1;
	o->layer_opts.source_date_epoch = -1;
}

void sandbox_say(const struct hoist_sandbox_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void sandbox_say(const struct hoist_sandbox_opts *o, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (o->log)
		o->log(msg, o->log_userdata);
	else
		hoist_log(1, "%s", msg);
}

bool sandbox_exists_in_lowers(const struct hoist_rootfs *r, const char *rel)
{
	for (size_t i = 0; i < r->n; i++) {
		_cleanup_free_ char *p = hoist_xasprintf("%s/%s", r->paths[i], rel);
		struct stat st;
		if (lstat(p, &st) == 0)
			return true;
	}
	return false;
}

/* Record target (relative) and its ancestors as stubs when the image lacks them. */
void sandbox_add_stub(struct hoist_strv *stubs, const struct hoist_rootfs *r, const char *rel)
{
	_cleanup_free_ char *p = hoist_xstrdup(rel);
	for (;;) {
		if (!*p || sandbox_exists_in_lowers(r, p))
			return;
		bool dup = false;
		for (size_t i = 0; i < stubs->n; i++)
			dup |= strcmp(stubs->v[i], p) == 0;
		if (!dup)
			hoist_strv_push(stubs, p);
		char *slash = strrchr(p, '/');
		if (!slash)
			return;
		*slash = '\0';
	}
}

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

static const char *rel_of(const char *abs)
{
	while (*abs == '/')
		abs++;
	return abs;
}

static int write_small(const char *path, const char *data, struct hoist_error *err)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	/* Bound into the container, where 0644 is what it sees whatever our umask. */
	if (fd < 0 || fchmod(fd, 0644) < 0 || hoist_write_all(fd, data, strlen(data)) < 0)
		return hoist_error_set(err, -errno, "writing '%s': %s", path, strerror(errno));
	return 0;
}

struct cache_dir_args {
	const char *tmp, *path;
	uid_t uid;
	gid_t gid;
	mode_t mode;
	bool single;
};

static int cache_dir_fn(void *arg, void *out, struct hoist_error *err)
{
	const struct cache_dir_args *a = arg;
	(void)out;
	/* A single-uid namespace maps root alone: other owners cannot be. */
	if (chown(a->tmp, a->single ? 0 : a->uid, a->single ? 0 : a->gid) < 0)
		return hoist_error_set(err, -errno, "cache mount owner %u:%u: %s", (unsigned)a->uid,
				       (unsigned)a->gid, strerror(errno));
	/* After chown, which clears set-id bits; explicit, whatever our umask. */
	if (chmod(a->tmp, a->mode) < 0)
		return hoist_error_set(err, -errno, "cache mount mode %o: %s", (unsigned)a->mode,
				       strerror(errno));
	/* A concurrent build may have made it first: its directory stays. */
	if (rename(a->tmp, a->path) < 0 && errno != EEXIST && errno != ENOTEMPTY)
		return hoist_error_set(err, -errno, "renaming '%s': %s", a->tmp, strerror(errno));
	return 0;
}

/*
 * A new cache mount directory with the owner and mode RUN --mount asked for
 * (BuildKit's defaults: 0:0, 0755), as the container sees them: set inside
 * the run's user namespace, on a temporary name renamed into place, so that
 * no build ever sees a directory with the wrong owner.
 */
static int cache_dir_create(const struct hoist_idmap *m, const char *path,
			    const struct hoist_sandbox_mount *mt, struct hoist_error *err)
{
	_cleanup_free_ char *tmp = hoist_xasprintf("%s.new-%d", path, (int)getpid());
	struct cache_dir_args a = {.tmp = tmp,
				   .path = path,
				   .uid = mt->uid,
				   .gid = mt->gid,
				   .mode = mt->mode ? mt->mode & 07777 : 0755,
				   .single = m->mode == HOIST_IDMODE_SINGLE};
	int r = sandbox_mkdir_p(tmp, 0700);
	if (r < 0)
		return hoist_error_set(err, r, "creating cache dir '%s': %s", tmp, strerror(-r));
	r = userns_call(m, cache_dir_fn, &a, NULL, 0, err);
	struct stat st;
	if (lstat(tmp, &st) == 0)
		sandbox_remove_tree(m, tmp, NULL);
	return r < 0 ? hoist_error_prefix(err, "cache dir '%s'", path) : 0;
}

static bool path_ok(const char *p)
{
	/* Mount targets must be absolute and free of ".." (resolved in the root anyway). */
	if (p[0] != '/' || strlen(p) >= CHILD_PATH_MAX)
		return false;
	for (const char *s = p; (s = strstr(s, "..")); s += 2)
		if ((s == p || s[-1] == '/') && (s[2] == '/' || s[2] == '\0'))
			return false;
	return true;
}

static const char *step_name(int step)
{
	static const char *const names[] = {
	    [CSTEP_SYNC] = "waiting for the user namespace maps",
	    [CSTEP_IDS] = "becoming root in the user namespace",
	    [CSTEP_PRIVATE] = "making mounts private",
	    [CSTEP_OVERLAY] = "mounting the overlay root filesystem",
	    [CSTEP_SECRETS] = "preparing secrets",
	    [CSTEP_MOUNTPOINT] = "creating a mount point",
	    [CSTEP_PROC] = "mounting /proc",
	    [CSTEP_DEV] = "setting up /dev",
	    [CSTEP_SYS] = "mounting /sys",
	    [CSTEP_BIND] = "mounting",
	    [CSTEP_PIVOT] = "pivot_root",
	    [CSTEP_HOSTNAME] = "setting the hostname",
	    [CSTEP_NET] = "bringing up loopback",
	    [CSTEP_SECCOMP] = "installing the seccomp filter",
	    [CSTEP_FORK] = "forking the command",
	    [CSTEP_USER] = "switching user",
	    [CSTEP_CWD] = "changing to the working directory",
	    [CSTEP_EXEC] = "executing",
	    [CSTEP_USERNS] = "making the user namespace for binfmt_misc",
	    [CSTEP_BINFMT] = "registering the qemu interpreter in a private binfmt_misc",
	};
	if (step >= 0 && (size_t)step < ARRAY_SIZE(names) && names[step])
		return names[step];
	return "setting up the sandbox";
}

/*
 * What killed hoist processes left in the store (their leases' run
 * directories): the store removes what it can; files of other ids (subuid
 * mode) go from inside our user namespace (a different identity mode's
 * leftovers fail quietly and stay for a command in that mode).
 */
struct reap_ctx {
	const struct hoist_sandbox_opts *o;
};

static int reap_remove(void *arg, const char *path)
{
	struct reap_ctx *c = arg;
	int r = sandbox_remove_tree(c->o->idmap, path, NULL);
	if (r == 0)
		sandbox_say(c->o, "sandbox: removed '%s' left by an earlier run", path);
	return r;
}

static void remove_stale_runs(struct hoist_store *s, const struct hoist_sandbox_opts *o)
{
	struct reap_ctx c = {o};
	(void)hoist_store_reap(s, reap_remove, &c, NULL);
}

/* The run directory: as the plain user when nothing in it belongs to
 * another id (the common case, no fork), else from a user namespace. */
static int remove_rundir(const struct hoist_idmap *m, const char *rundir, struct hoist_error *err)
{
	int r = hoist_rm_rf_at(AT_FDCWD, rundir);
	if (r == 0)
		return 0;
	if (m->mode == HOIST_IDMODE_ROOT)
		return hoist_error_set(err, r, "removing '%s': %s", rundir, strerror(-r));
	return sandbox_remove_tree(m, rundir, err);
}

static bool crash_signal(int sig)
{
	return sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGABRT ||
	       sig == SIGFPE || sig == SIGTRAP || sig == SIGSYS;
}

void hoist_sandbox_describe_exit(const struct hoist_sandbox_result *res, char *buf, size_t size)
{
	int sig = res->term_signal;
	if (sig == 0)
		snprintf(buf, size, "exited with status %d", res->exit_status);
	else if (res->emulator.name[0] && crash_signal(sig))
		snprintf(buf, size,
			 "%s crashed with signal %d (%s): the emulated program faulted or qemu "
			 "cannot emulate it",
			 res->emulator.name, sig, strsignal(sig));
	else
		snprintf(buf, size, "was killed by signal %d (%s)", sig, strsignal(sig));
}

static volatile sig_atomic_t forward_pid;
static void forward_signal(int sig)
{
	if (forward_pid > 0)
		kill((pid_t)forward_pid, sig);
}

static int run_once(struct hoist_store *s, const struct hoist_sandbox_opts *o,
		    struct snap_choice *sc, struct hoist_sandbox_result *ret,
		    struct hoist_error *err)
{
	const struct hoist_idmap *m = o->idmap;
	struct child_ctx *c = NULL;
	struct sandbox_emul em = {.interp_fd = -1};
	int map_req[2] = {-1, -1}, map_ack[2] = {-1, -1};
	_cleanup_free_ char *rundir = NULL, *hosts = NULL, *hn = NULL;
	_cleanup_strv_ struct hoist_strv stubs = HOIST_STRV_INIT;
	_cleanup_strv_ struct hoist_strv keep = HOIST_STRV_INIT; /* strings c points into */
	int r = 0, sync_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
	pid_t pid = -1;

	if (!m || !o->rootfs || !o->argv || !o->argv[0])
		return hoist_error_set(err, -EINVAL,
				       "sandbox: no identity, root filesystem or command");
	if (o->n_mounts > CHILD_MAX_MOUNTS)
		return hoist_error_set(err, -E2BIG, "too many mounts (at most %d)",
				       CHILD_MAX_MOUNTS);
	if (o->rootfs->n == 0)
		return hoist_error_set(err, -EINVAL, "an image with no layers cannot be run");
	memset(ret, 0, sizeof(*ret));

	switch (m->mode) {
	case HOIST_IDMODE_ROOT:
		sandbox_say(
		    o, "sandbox: identity mode root (ids map to themselves, no user namespace)");
		break;
	case HOIST_IDMODE_SUBUID:
		sandbox_say(o, "sandbox: identity mode subuid (0 -> %lu, 1-%u -> %lu-%lu)",
			    (unsigned long)m->uid, m->count, (unsigned long)m->subuid,
			    (unsigned long)m->subuid + m->count - 1);
		break;
	default:
		sandbox_say(
		    o,
		    "sandbox: identity mode single (0 -> %lu only; chown/setuid faked by seccomp)",
		    (unsigned long)m->uid);
		break;
	}

	if ((r = sandbox_emul_prepare(o->platform, true, &em, err)) < 0)
		return r;
	ret->emulator.path = em.path;
	snprintf(ret->emulator.name, sizeof(ret->emulator.name), "%s", em.name);
	snprintf(ret->emulator.interpreter, sizeof(ret->emulator.interpreter), "%s",
		 em.interpreter);
	switch (em.path) {
	case HOIST_EMUL_NATIVE:
		break;
	case HOIST_EMUL_NATIVE32:
		sandbox_say(o, "sandbox: linux/386 runs natively with the 32-bit personality");
		break;
	case HOIST_EMUL_HOST_BINFMT:
		sandbox_say(o, "sandbox: %s through the host's binfmt_misc entry '%s' (%s, flag F)",
			    em.platform, em.name, em.interpreter);
		break;
	case HOIST_EMUL_PRIVATE_BINFMT:
		sandbox_say(
		    o,
		    "sandbox: %s through a private binfmt_misc entry '%s' (%s) in the run's user "
		    "namespace%s%s",
		    em.platform, em.name, em.interpreter,
		    em.host_nof[0] ? "; ignored host entry '" : "", em.host_nof);
		break;
	}

	remove_stale_runs(s, o);
	/* In our lease's directory: removed by the next command if we die. */
	if ((r = hoist_store_tmpdir(s, "run-", &rundir, err)) < 0)
		goto out;
	chmod(rundir, 0755); /* container root must traverse it in subuid mode */

	c = hoist_xcalloc(1, sizeof(*c));
	c->mode = m->mode;
	c->net_none = o->net == HOIST_NET_NONE;
	c->uid = o->uid;
	c->gid = o->gid;
	c->n_groups = o->n_groups < CHILD_MAX_GROUPS ? o->n_groups : CHILD_MAX_GROUPS;
	for (size_t i = 0; i < c->n_groups; i++)
		c->groups[i] = o->groups[i];
	c->argv = (char *const *)o->argv;
	c->envp = (char *const *)o->env;
	c->parent_pid = getpid();
	c->map_req_fd = c->map_ack_fd = -1;
	c->personality32 = em.path == HOIST_EMUL_NATIVE32;
	if (em.path == HOIST_EMUL_PRIVATE_BINFMT) {
		snprintf(c->binfmt_rule, sizeof(c->binfmt_rule), "%s", em.rule);
		c->late_userns = m->mode == HOIST_IDMODE_ROOT;
	}

	/* PATH for the executable lookup comes from the container env, never ours. */
	snprintf(c->path_env, sizeof(c->path_env), "%s",
		 "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	for (const char *const *e = o->env; e && *e; e++)
		if (hoist_startswith(*e, "PATH="))
			snprintf(c->path_env, sizeof(c->path_env), "%s", *e + 5);
	const char *cwd = o->cwd && *o->cwd ? o->cwd : "/";
	if (cwd[0] != '/' || strlen(cwd) >= CHILD_PATH_MAX) {
		r = hoist_error_set(err, -EINVAL, "working directory '%s' is not absolute", cwd);
		goto out;
	}
	snprintf(c->cwd, sizeof(c->cwd), "%s", cwd);

	if (o->hostname && *o->hostname) {
		snprintf(c->hostname, sizeof(c->hostname), "%s", o->hostname);
	} else {
		unsigned char rnd[6];
		if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
			memset(rnd, 0x5a, sizeof(rnd));
		for (size_t i = 0; i < sizeof(rnd); i++)
			snprintf(c->hostname + 2 * i, 3, "%02x", rnd[i]);
	}

	/* The run directory: upper, work, merged, hosts files, secrets staging. */
	snprintf(c->upper, sizeof(c->upper), "%s/upper", rundir);
	snprintf(c->work, sizeof(c->work), "%s/work", rundir);
	snprintf(c->merged, sizeof(c->merged), "%s/merged", rundir);
	snprintf(c->secrets, sizeof(c->secrets), "%s/secrets", rundir);
	snprintf(c->hosts, sizeof(c->hosts), "%s/hosts", rundir);
	snprintf(c->hostname_file, sizeof(c->hostname_file), "%s/hostname", rundir);
	snprintf(c->aptconf, sizeof(c->aptconf), "%s/apt-sandbox.conf", rundir);
	if (strlen(rundir) + 32 >= CHILD_PATH_MAX) {
		r = hoist_error_set(err, -ENAMETOOLONG, "store path '%s' is too long", rundir);
		goto out;
	}
	/* The upper directory is the container's "/": 0755 whatever our umask
	 * (its mode is what the command sees, and what a copy-up would keep). */
	if (mkdir(c->upper, 0755) < 0 || chmod(c->upper, 0755) < 0 || mkdir(c->work, 0700) < 0 ||
	    mkdir(c->merged, 0755) < 0 || chmod(c->merged, 0755) < 0 ||
	    mkdir(c->secrets, 0700) < 0) {
		r = hoist_error_set(err, -errno, "creating run directories: %s", strerror(errno));
		goto out;
	}
	hosts = hoist_xasprintf(
	    "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	    "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n"
	    "ff02::2\tip6-allrouters\n127.0.1.1\t%s\n",
	    c->hostname);
	hn = hoist_xasprintf("%s\n", c->hostname);
	if ((r = write_small(c->hosts, hosts, err)) < 0 ||
	    (r = write_small(c->hostname_file, hn, err)) < 0 ||
	    (r = write_small(c->aptconf,
			     "// hoist single-uid sandbox: apt cannot switch to '_apt'\n"
			     "APT::Sandbox::User \"root\";\n",
			     err)) < 0)
		goto out;

	/* Overlay lower stack, top first. */
	c->n_lowers = o->rootfs->n < CHILD_MAX_LOWERS ? o->rootfs->n : CHILD_MAX_LOWERS;
	if (o->rootfs->n > CHILD_MAX_LOWERS) {
		r = hoist_error_set(err, -E2BIG, "too many layers (%zu, at most %d)", o->rootfs->n,
				    CHILD_MAX_LOWERS);
		goto out;
	}
	for (size_t i = 0; i < c->n_lowers; i++)
		c->lowers[i] = o->rootfs->paths[o->rootfs->n - 1 - i];
	{
		struct hoist_buf b = HOIST_BUF_INIT;
		hoist_buf_adds(&b, "lowerdir=");
		for (size_t i = 0; i < c->n_lowers; i++)
			hoist_buf_addf(&b, "%s%s", i ? ":" : "", c->lowers[i]);
		hoist_buf_addf(&b, ",upperdir=%s,workdir=%s", c->upper, c->work);
		hoist_buf_adds(&b, m->mode == HOIST_IDMODE_ROOT
				       ? ",redirect_dir=off,metacopy=off,index=off"
				       : ",userxattr");
		c->overlay_opts = hoist_buf_detach(&b, NULL);
		hoist_strv_take(&keep, (char *)c->overlay_opts);
	}

	/* Mount points the sandbox always makes. */
	sandbox_add_stub(&stubs, o->rootfs, "proc");
	sandbox_add_stub(&stubs, o->rootfs, "sys");
	sandbox_add_stub(&stubs, o->rootfs, "dev");
	sandbox_add_stub(&stubs, o->rootfs, "etc/resolv.conf");
	sandbox_add_stub(&stubs, o->rootfs, "etc/hosts");
	sandbox_add_stub(&stubs, o->rootfs, "etc/hostname");
	c->apt_fake = m->mode == HOIST_IDMODE_SINGLE &&
		      sandbox_exists_in_lowers(o->rootfs, "etc/apt/apt.conf.d");
	if (c->apt_fake)
		sandbox_add_stub(&stubs, o->rootfs, APT_FAKE_STUB);

	c->n_mounts = o->n_mounts;
	for (size_t i = 0; i < o->n_mounts; i++) {
		const struct hoist_sandbox_mount *mt = &o->mounts[i];
		struct child_mount *cm = &c->mounts[i];
		cm->type = mt->type;
		cm->rw = mt->rw;
		cm->src_fd = -1;
		if (!mt->target || !path_ok(mt->target) || strcmp(mt->target, "/") == 0) {
			r = hoist_error_set(err, -EINVAL,
					    "mount target '%s' must be an absolute path",
					    mt->target ? mt->target : "");
			goto out;
		}
		snprintf(cm->target, sizeof(cm->target), "%s", rel_of(mt->target));
		sandbox_add_stub(&stubs, o->rootfs, cm->target);
		struct stat st;
		switch (mt->type) {
		case HOIST_MOUNT_BIND:
			if (!mt->source || stat(mt->source, &st) < 0) {
				r = hoist_error_set(err, -errno, "bind source '%s': %s",
						    mt->source ? mt->source : "", strerror(errno));
				goto out;
			}
			snprintf(cm->source, sizeof(cm->source), "%s", mt->source);
			cm->is_dir = S_ISDIR(st.st_mode);
			break;
		case HOIST_MOUNT_TMPFS:
			cm->is_dir = true;
			break;
		case HOIST_MOUNT_CACHE: {
			char dg[HOIST_DIGEST_MAX];
			const char *id = mt->source && *mt->source ? mt->source : mt->target;
			hoist_sha256_digest(id, strlen(id), dg);
			_cleanup_free_ char *src =
			    hoist_store_area_path(s, HOIST_STORE_CACHEMOUNTS, dg + 7);
			snprintf(cm->source, sizeof(cm->source), "%s", src);
			if (stat(cm->source, &st) < 0 &&
			    (r = cache_dir_create(m, cm->source, mt, err)) < 0)
				goto out;
			cm->is_dir = true;
			cm->rw = true;
			break;
		}
		case HOIST_MOUNT_SECRET:
			cm->src_fd = mt->source ? open(mt->source, O_RDONLY | O_CLOEXEC) : -1;
			if (cm->src_fd < 0) {
				r = hoist_error_set(err, -errno, "secret '%s': %s",
						    mt->source ? mt->source : "", strerror(errno));
				goto out;
			}
			if (snprintf(cm->source, sizeof(cm->source), "%s/%zu", c->secrets, i) >=
			    (int)sizeof(cm->source)) {
				r = hoist_error_set(err, -ENAMETOOLONG, "store path too long");
				goto out;
			}
			cm->mode = mt->mode ? mt->mode & 07777 : 0400;
			cm->uid = mt->uid;
			cm->gid = mt->gid;
			cm->is_dir = false;
			cm->rw = false;
			break;
		}
	}
	if (stubs.n > 1)
		qsort(stubs.v, stubs.n, sizeof(char *), cmp_str);

	if (sc->copy) {
		/* No overlayfs: merged becomes a private copy of the image. */
		_cleanup_free_ char *index = hoist_xasprintf("%s/snapshot-index", rundir);
		struct snap_copy_args ca = {.idmap = m,
					    .lowers = (const char *const *)o->rootfs->paths,
					    .root = c->merged,
					    .index = index};
		struct snap_copy_out co = {0};
		if ((r = userns_call(m, snap_materialize_fn, &ca, &co, sizeof(co), err)) < 0)
			goto out;
		c->snap_copy = true;
		hoist_log(1, "snapshot: %llu entries, %llu files reflinked, %llu copied (%llu B)",
			  (unsigned long long)co.entries, (unsigned long long)co.reflinked,
			  (unsigned long long)co.copied, (unsigned long long)co.bytes);
	}

	if (pipe2(sync_pipe, O_CLOEXEC) < 0 || pipe2(err_pipe, O_CLOEXEC) < 0) {
		r = hoist_error_set(err, -errno, "pipe: %s", strerror(errno));
		goto out;
	}
	if (c->late_userns && (pipe2(map_req, O_CLOEXEC) < 0 || pipe2(map_ack, O_CLOEXEC) < 0)) {
		r = hoist_error_set(err, -errno, "pipe: %s", strerror(errno));
		goto out;
	}
	c->map_req_fd = map_req[1];
	c->map_ack_fd = map_ack[0];
	c->sync_fd = sync_pipe[0];
	c->sync_wr_fd = sync_pipe[1];
	c->err_fd = err_pipe[1];
	if ((r = idmap_userns(m, &c->userns_fd, err)) < 0)
		goto out;
	c->stdio[0] = o->stdin_fd;
	c->stdio[1] = o->stdout_fd;
	c->stdio[2] = o->stderr_fd;

	c->shared_proc = o->isolation == HOIST_ISOLATION_SHARED_PROC;
	uint64_t flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC;
	if (!c->shared_proc)
		flags |= CLONE_NEWPID;
	if (m->mode != HOIST_IDMODE_ROOT)
		flags |= CLONE_NEWUSER;
	if (c->net_none)
		flags |= CLONE_NEWNET;
	fflush(NULL);
	pid = child_start(c, flags);
	if (pid < 0) {
		r = hoist_error_set(err, pid, "clone: %s", strerror(-pid));
		goto out;
	}

	close(sync_pipe[0]);
	sync_pipe[0] = -1;
	close(err_pipe[1]);
	err_pipe[1] = -1;
	r = c->userns_fd >= 0 ? 0 : idmap_write(m, pid, err);
	struct sigaction ign_pipe = {.sa_handler = SIG_IGN}, old_pipe;
	sigaction(SIGPIPE, &ign_pipe, &old_pipe);
	if (r == 0 && write(sync_pipe[1], "x", 1) != 1)
		r = hoist_error_set(err, -EPIPE, "sandbox process died");
	sigaction(SIGPIPE, &old_pipe, NULL);
	close(sync_pipe[1]);
	sync_pipe[1] = -1;

	/* As the C library's system does: the terminal's ^C and ^\ reach the command directly;
	 * others we receive are passed on to its init. */
	struct sigaction ign = {.sa_handler = SIG_IGN}, fwd = {.sa_handler = forward_signal},
			 old_int, old_quit, old_term, old_hup;
	forward_pid = pid;
	sigaction(SIGINT, &ign, &old_int);
	sigaction(SIGQUIT, &ign, &old_quit);
	sigaction(SIGTERM, &fwd, &old_term);
	sigaction(SIGHUP, &fwd, &old_hup);

	struct child_err ce;
	ssize_t n;
	int done_status = -1;
	if (r == 0 && c->late_userns) {
		/* The child asks once it has unshared; EOF: it failed before. */
		char ch;
		close(map_req[1]);
		close(map_ack[0]);
		map_req[1] = map_ack[0] = -1;
		do
			n = read(map_req[0], &ch, 1);
		while (n < 0 && errno == EINTR);
		if (n == 1) {
			static const char ident[] = "0 0 4294967295\n";
			char p[64];
			_cleanup_close_ int ufd = -1, gfd = -1;
			snprintf(p, sizeof(p), "/proc/%d/uid_map", (int)pid);
			ufd = open(p, O_WRONLY | O_CLOEXEC);
			snprintf(p, sizeof(p), "/proc/%d/gid_map", (int)pid);
			gfd = open(p, O_WRONLY | O_CLOEXEC);
			if (ufd < 0 || gfd < 0 || write(ufd, ident, strlen(ident)) < 0 ||
			    write(gfd, ident, strlen(ident)) < 0)
				r = hoist_error_set(err, -errno,
						    "writing the maps of the binfmt_misc user "
						    "namespace: %s",
						    strerror(errno));
			else
				(void)!write(map_ack[1], "x", 1);
		}
	}
	while (r == 0) {
		do
			n = read(err_pipe[0], &ce, sizeof(ce));
		while (n < 0 && errno == EINTR);
		if (n == (ssize_t)sizeof(ce) && ce.step == CSTEP_DONE) {
			done_status = ce.wait_status;
			continue;
		}
		if (n == (ssize_t)sizeof(ce)) {
			ce.what[sizeof(ce.what) - 1] = '\0';
			if (ce.step == CSTEP_EXEC)
				r = hoist_error_set(err, -ce.err, "executing '%s': %s", ce.what,
						    ce.err == ENOENT
							? "executable file not found in $PATH"
							: strerror(ce.err));
			else if (ce.step == CSTEP_BINFMT)
				r = hoist_error_set(
				    err, -ce.err,
				    "sandbox: %s: cannot mount a private binfmt_misc (%s; it needs "
				    "Linux 6.7 or later): register %s globally with the F flag "
				    "instead (as root: cat /usr/lib/binfmt.d/%s.conf > "
				    "/proc/sys/fs/binfmt_misc/register)",
				    em.platform, strerror(ce.err), em.name, em.name);
			else if (ce.step == CSTEP_OVERLAY && !sc->copy && sc->fallback_ok &&
				 (ce.err == EPERM || ce.err == ENODEV || ce.err == EINVAL) &&
				 (sc->overlay_err = ce.err))
				r = -EAGAIN; /* hoist_sandbox_run tries the copy */
			else
				r = hoist_error_set(err, -ce.err, "sandbox: %s%s%s%s: %s",
						    step_name(ce.step), ce.what[0] ? " '" : "",
						    ce.what, ce.what[0] ? "'" : "",
						    strerror(ce.err));
			if (ce.step == CSTEP_EXEC && ce.err == ENOEXEC && em.platform[0])
				hoist_error_prefix(err, "%s under %s", em.platform,
						   em.name[0] ? em.name : "no emulator");
		}
		break;
	}
	if (r < 0)
		kill(pid, SIGKILL);
	int st = wait_pid(pid);
	forward_pid = 0;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGQUIT, &old_quit, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
	pid = -1;
	if (r < 0)
		goto out;
	if (st < 0) {
		r = hoist_error_set(err, st, "waiting for the sandbox: %s", strerror(-st));
		goto out;
	}
	ret->exit_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	if (done_status >= 0 && WIFSIGNALED(done_status))
		ret->term_signal = WTERMSIG(done_status);
	if (ret->term_signal && em.name[0] && crash_signal(ret->term_signal)) {
		char what[256];
		hoist_sandbox_describe_exit(ret, what, sizeof(what));
		sandbox_say(o, "sandbox: %s", what);
	}

	if (o->want_layer && ret->exit_status == 0) {
		struct upper_diff_args a = {.store = s,
					    .idmap = m,
					    .upper = c->upper,
					    .lowers = (const char *const *)o->rootfs->paths,
					    .stubs = (const char *const *)stubs.v,
					    .hidden = c->apt_fake ? APT_FAKE_STUB : NULL,
					    .layer_opts = &o->layer_opts};
		struct upper_diff_out out = {0};
		_cleanup_free_ char *index = hoist_xasprintf("%s/snapshot-index", rundir);
		struct snap_diff_args sa = {.store = s,
					    .idmap = m,
					    .root = c->merged,
					    .index = index,
					    .stubs = a.stubs,
					    .hidden = a.hidden,
					    .layer_opts = &o->layer_opts};
		if (sc->copy)
			r = userns_call(m, snap_diff_fn, &sa, &out, sizeof(out), err);
		else
			r = userns_call(m, upper_diff_fn, &a, &out, sizeof(out), err);
		if (r < 0)
			goto out;
		ret->has_layer = true;
		ret->layer = out.desc;
		memcpy(ret->diff_id, out.diff_id, sizeof(ret->diff_id));
		ret->layer_empty = out.empty;
	}
	r = 0;
out:
	for (int i = 0; i < 2; i++) {
		if (sync_pipe[i] >= 0)
			close(sync_pipe[i]);
		if (err_pipe[i] >= 0)
			close(err_pipe[i]);
		if (map_req[i] >= 0)
			close(map_req[i]);
		if (map_ack[i] >= 0)
			close(map_ack[i]);
	}
	sandbox_emul_release(&em);
	if (c)
		for (size_t i = 0; i < c->n_mounts; i++)
			if (c->mounts[i].type == HOIST_MOUNT_SECRET && c->mounts[i].src_fd >= 0)
				close(c->mounts[i].src_fd);
	free(c);
	if (rundir) {
		struct hoist_error rmerr = {0};
		if (remove_rundir(m, rundir, &rmerr) < 0)
			sandbox_say(o, "sandbox: could not remove '%s': %s", rundir, rmerr.msg);
	}
	return r;
}

/*
 * The snapshotter is picked first (snapshotter.c); in auto mode a run whose
 * overlay mount is refused after all (the probe passed, the real lowers did
 * not) is run again with the copy: nothing of the command ran yet.
 */
int hoist_sandbox_run(struct hoist_store *s, const struct hoist_sandbox_opts *o,
		      struct hoist_sandbox_result *ret, struct hoist_error *err)
{
	struct snap_choice sc;
	if (!o->idmap)
		return hoist_error_set(err, -EINVAL, "sandbox: no identity");
	if (o->isolation == HOIST_ISOLATION_IN_PLACE)
		return inplace_run(s, o, ret, err);
	const char *tmpbase = hoist_store_lease_path(s, err);
	if (!tmpbase)
		return err ? err->code : -EIO;
	int r = snap_pick(tmpbase, o->idmap, &sc, err);
	if (r < 0)
		return r;
	if (sc.report)
		sandbox_say(o, "snapshot: full-tree comparison (%s)", sc.reason);
	r = run_once(s, o, &sc, ret, err);
	if (r == -EAGAIN && !sc.copy) {
		snap_overlay_failed(o->idmap, sc.overlay_err, &sc);
		if (sc.report)
			sandbox_say(o, "snapshot: full-tree comparison (%s)", sc.reason);
		hoist_error_clear(err);
		r = run_once(s, o, &sc, ret, err);
	}
	return r;
}
