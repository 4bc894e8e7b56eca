/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The sandbox child, from clone() to execve(). Only system calls here: no
 * malloc, no stdio, no library state (STYLE rule 11); every string comes
 * ready-made in struct child_ctx, and every exit is _exit(). Mount targets
 * are resolved with openat2(RESOLVE_IN_ROOT) inside the new root, so that a
 * symlink in the image cannot redirect a mount onto a host path (the runc
 * CVE-2019-19921 / CVE-2021-30465 class), and mounted through
 * /proc/self/fd/N.
 *
 * Order (found by experiment): wait for the maps → rprivate → overlay → proc
 * (before the old root goes: afterwards mounting proc gives EPERM) → dev,
 * sys, files, caller mounts → pivot_root + detach → hostname, lo → fork the
 * command and act as its init (reap, forward signals, pass its status on).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run-private.h"

pid_t sandbox_clone(uint64_t flags)
{
	/* clone3 refuses an exit signal with CLONE_PARENT: the child gets
	 * the caller's own (SIGCHLD, ours being a sandbox_clone too). */
	struct clone_args args = {.flags = flags,
				  .exit_signal = flags & CLONE_PARENT ? 0 : SIGCHLD};
	long r = syscall(SYS_clone3, &args, sizeof(args));
	if (r < 0 && errno == ENOSYS) {
		/* Docker's default seccomp profile answers clone3 with ENOSYS
		 * (it cannot inspect its flags) so that libcs fall back to
		 * clone: do the same. No new stack: it returns like fork(). */
		r = syscall(SYS_clone, (unsigned long)flags | args.exit_signal, 0UL, NULL, NULL,
			    0UL);
	}
	if (r < 0)
		return -errno;
	return (pid_t)r;
}

static void scopy(char *dst, size_t size, const char *src)
{
	size_t i = 0;
	for (; src && src[i] && i + 1 < size; i++)
		dst[i] = src[i];
	dst[i] = '\0';
}

static __attribute__((noreturn)) void fail(const struct child_ctx *c, int step, int e,
					   const char *what)
{
	struct child_err ce;
	memset(&ce, 0, sizeof(ce));
	ce.step = step;
	ce.err = e ? e : EIO;
	scopy(ce.what, sizeof(ce.what), what);
	(void)!write(c->err_fd, &ce, sizeof(ce));
	_exit(125);
}

/* "/proc/self/fd/N" without printf. */
static void fd_path(char buf[32], int fd)
{
	char tmp[16];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + fd % 10);
		fd /= 10;
	} while (fd > 0 && n < sizeof(tmp));
	scopy(buf, 32, "/proc/self/fd/");
	size_t l = strlen(buf);
	while (n > 0)
		buf[l++] = tmp[--n];
	buf[l] = '\0';
}

static int openat2_in_root(int rootfd, const char *rel, int flags)
{
	struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC),
			       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
	long r = syscall(SYS_openat2, rootfd, rel[0] ? rel : ".", &how, sizeof(how));
	return r < 0 ? -1 : (int)r;
}

/*
 * Make sure rel exists under the root (creating missing directories, and
 * the last component as a directory or an empty file), and return an
 * O_PATH fd to it, resolved inside the root.
 */
static int mkpath_in_root(int rootfd, const char *rel, bool is_dir)
{
	char p[CHILD_PATH_MAX];
	scopy(p, sizeof(p), rel);
	int fd = openat2_in_root(rootfd, p, O_PATH);
	if (fd >= 0)
		return fd;
	if (errno != ENOENT)
		return -1;
	for (char *s = p;; s++) {
		bool last = *s == '\0';
		if (*s != '/' && !last)
			continue;
		*s = '\0';
		int probe = openat2_in_root(rootfd, p, O_PATH);
		if (probe >= 0) {
			close(probe);
		} else {
			char *slash = strrchr(p, '/');
			const char *name = slash ? slash + 1 : p;
			if (slash)
				*slash = '\0';
			int pfd = openat2_in_root(rootfd, slash ? p : "", O_PATH | O_DIRECTORY);
			if (slash)
				*slash = '/';
			if (pfd < 0)
				return -1;
			int r;
			if (!last || is_dir) {
				r = mkdirat(pfd, name, 0755);
			} else {
				r = openat(pfd, name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
					   0644);
				if (r >= 0)
					close(r);
			}
			int e = errno;
			close(pfd);
			if (r < 0 && e != EEXIST) {
				errno = e;
				return -1;
			}
		}
		if (last)
			break;
		*s = '/';
	}
	return openat2_in_root(rootfd, rel, O_PATH);
}

static void mount_at(const struct child_ctx *c, int rootfd, int step, const char *rel, bool is_dir,
		     const char *src, const char *fstype, unsigned long flags, const char *data)
{
	char fp[32];
	int fd = mkpath_in_root(rootfd, rel, is_dir);
	if (fd < 0)
		fail(c, CSTEP_MOUNTPOINT, errno, rel);
	fd_path(fp, fd);
	if (mount(src, fp, fstype, flags, data) < 0)
		fail(c, step, errno, rel);
	close(fd);
}

static void make_readonly(const struct child_ctx *c, int rootfd, int step, const char *rel)
{
	/* mount_setattr() changes only the bit asked for, so the flags a user
	 * namespace may not clear (nosuid, nodev on the source) stay put. */
	struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
	int fd = openat2_in_root(rootfd, rel, O_PATH);
	if (fd < 0 || mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
		fail(c, step, errno, rel);
	close(fd);
}

static void bind_at(const struct child_ctx *c, int rootfd, int step, const char *rel, bool is_dir,
		    const char *src, bool rw)
{
	mount_at(c, rootfd, step, rel, is_dir, src, NULL, MS_BIND | MS_REC, NULL);
	if (!rw)
		make_readonly(c, rootfd, step, rel);
}

/*
 * The parts of a fresh proc that act on the host, not the namespace:
 * sysctls (kernel.core_pattern runs a host program), sysrq, irq, bus and
 * fs settings. Bound onto themselves read-only, as runc does; with
 * CAP_SYS_ADMIN gone (confine.c), the command cannot undo it.
 */
static void protect_proc(const struct child_ctx *c, int rootfd)
{
	static const char *const ro[] = {"proc/sys", "proc/sysrq-trigger", "proc/irq", "proc/bus",
					 "proc/fs"};
	char fp[32];
	for (size_t i = 0; i < sizeof(ro) / sizeof(ro[0]); i++) {
		int fd = openat2_in_root(rootfd, ro[i], O_PATH);
		if (fd < 0 && errno == ENOENT)
			continue;
		if (fd < 0)
			fail(c, CSTEP_PROC, errno, ro[i]);
		fd_path(fp, fd);
		if (mount(fp, fp, NULL, MS_BIND | MS_REC, NULL) < 0)
			fail(c, CSTEP_PROC, errno, ro[i]);
		close(fd);
		make_readonly(c, rootfd, CSTEP_PROC, ro[i]);
	}
}

static void mount_overlay(const struct child_ctx *c)
{
	int fs = fsopen("overlay", FSOPEN_CLOEXEC);
	bool ok = fs >= 0;
	/* "lowerdir+" (Linux 6.8) takes one layer per call: no page-size limit
	 * on the option string, no escaping of ':' and ','. */
	for (size_t i = 0; ok && i < c->n_lowers; i++)
		ok = fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir+", c->lowers[i], 0) == 0;
	if (ok) {
		if (fsconfig(fs, FSCONFIG_SET_STRING, "upperdir", c->upper, 0) < 0 ||
		    fsconfig(fs, FSCONFIG_SET_STRING, "workdir", c->work, 0) < 0)
			fail(c, CSTEP_OVERLAY, errno, c->upper);
		if (c->mode != HOIST_IDMODE_ROOT) {
			/* Without it, deleting a lower directory in a user
			 * namespace gives EIO (trusted.* is out of reach). */
			if (fsconfig(fs, FSCONFIG_SET_FLAG, "userxattr", NULL, 0) < 0)
				fail(c, CSTEP_OVERLAY, errno, "userxattr");
		} else {
			/* A layer needs real copies, not redirects or metadata-only copies. */
			(void)fsconfig(fs, FSCONFIG_SET_STRING, "redirect_dir", "off", 0);
			(void)fsconfig(fs, FSCONFIG_SET_STRING, "metacopy", "off", 0);
			(void)fsconfig(fs, FSCONFIG_SET_STRING, "index", "off", 0);
		}
		if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
			fail(c, CSTEP_OVERLAY, errno, c->merged);
		int mfd = fsmount(fs, FSMOUNT_CLOEXEC, 0);
		if (mfd < 0 ||
		    move_mount(mfd, "", AT_FDCWD, c->merged, MOVE_MOUNT_F_EMPTY_PATH) < 0)
			fail(c, CSTEP_OVERLAY, errno, c->merged);
		close(mfd);
		close(fs);
		return;
	}
	if (fs >= 0)
		close(fs);
	if (mount("overlay", c->merged, "overlay", 0, c->overlay_opts) < 0)
		fail(c, CSTEP_OVERLAY, errno, c->merged);
}

static void setup_dev(const struct child_ctx *c, int rootfd)
{
	static const char *const devs[] = {"null", "zero", "full", "random", "urandom", "tty"};
	char fp[32], src[32];
	mount_at(c, rootfd, CSTEP_DEV, "dev", true, "tmpfs", "tmpfs", MS_NOSUID | MS_STRICTATIME,
		 "mode=755,size=65536k");
	int dfd = openat2_in_root(rootfd, "dev", O_PATH | O_DIRECTORY);
	if (dfd < 0)
		fail(c, CSTEP_DEV, errno, "dev");
	/* mknod is refused in a user namespace: bind the host's nodes instead. */
	for (size_t i = 0; i < sizeof(devs) / sizeof(devs[0]); i++) {
		int f = openat(dfd, devs[i], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (f < 0)
			fail(c, CSTEP_DEV, errno, devs[i]);
		close(f);
		f = openat(dfd, devs[i], O_PATH | O_NOFOLLOW | O_CLOEXEC);
		scopy(src, sizeof(src), "/dev/");
		scopy(src + 5, sizeof(src) - 5, devs[i]);
		fd_path(fp, f);
		if (f < 0 || mount(src, fp, NULL, MS_BIND, NULL) < 0)
			fail(c, CSTEP_DEV, errno, src);
		close(f);
	}
	if (mkdirat(dfd, "pts", 0755) < 0 || mkdirat(dfd, "shm", 01777) < 0)
		fail(c, CSTEP_DEV, errno, "dev/pts");
	mount_at(c, rootfd, CSTEP_DEV, "dev/pts", true, "devpts", "devpts", MS_NOSUID | MS_NOEXEC,
		 "newinstance,ptmxmode=0666,mode=0620");
	mount_at(c, rootfd, CSTEP_DEV, "dev/shm", true, "shm", "tmpfs",
		 MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k");
	(void)symlinkat("pts/ptmx", dfd, "ptmx");
	(void)symlinkat("/proc/self/fd", dfd, "fd");
	(void)symlinkat("/proc/self/fd/0", dfd, "stdin");
	(void)symlinkat("/proc/self/fd/1", dfd, "stdout");
	(void)symlinkat("/proc/self/fd/2", dfd, "stderr");
	close(dfd);
}

static void setup_secrets(const struct child_ctx *c)
{
	bool any = false;
	for (size_t i = 0; i < c->n_mounts; i++)
		any |= c->mounts[i].type == HOIST_MOUNT_SECRET;
	if (!any)
		return;
	/* A tmpfs in our mount namespace only: the copy never touches a disk
	 * nor the upper directory, and vanishes with the sandbox. */
	if (mount("tmpfs", c->secrets, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "mode=0700,size=16m") < 0)
		fail(c, CSTEP_SECRETS, errno, c->secrets);
	for (size_t i = 0; i < c->n_mounts; i++) {
		const struct child_mount *m = &c->mounts[i];
		if (m->type != HOIST_MOUNT_SECRET)
			continue;
		int out = open(m->source, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (out < 0)
			fail(c, CSTEP_SECRETS, errno, m->target);
		char buf[8192];
		ssize_t n;
		(void)lseek(m->src_fd, 0, SEEK_SET);
		while ((n = read(m->src_fd, buf, sizeof(buf))) > 0)
			if (write(out, buf, (size_t)n) != n)
				fail(c, CSTEP_SECRETS, errno, m->target);
		if (n < 0 || fchown(out, m->uid, m->gid) < 0 || fchmod(out, m->mode) < 0)
			fail(c, CSTEP_SECRETS, errno, m->target);
		close(out);
	}
}

static void setup_mounts(const struct child_ctx *c, int rootfd)
{
	for (size_t i = 0; i < c->n_mounts; i++) {
		const struct child_mount *m = &c->mounts[i];
		switch (m->type) {
		case HOIST_MOUNT_BIND:
		case HOIST_MOUNT_CACHE:
		case HOIST_MOUNT_SECRET:
			bind_at(c, rootfd, CSTEP_BIND, m->target, m->is_dir, m->source, m->rw);
			break;
		case HOIST_MOUNT_TMPFS:
			mount_at(c, rootfd, CSTEP_BIND, m->target, true, "tmpfs", "tmpfs",
				 MS_NOSUID | MS_NODEV, "mode=1777");
			break;
		}
	}
}

static void loopback_up(const struct child_ctx *c)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	scopy(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		fail(c, CSTEP_NET, errno, "lo");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		fail(c, CSTEP_NET, errno, "lo");
	close(s);
}

/*
 * Private binfmt_misc (Linux 6.7+: one instance per user namespace, made by
 * the first mount there; its entries live as long as that mount, which is
 * inside the new root). The rule's interpreter is /proc/self/fd/N, the
 * qemu binary the parent opened, and F makes the kernel open it now, so
 * nothing of qemu needs to be in the image.
 */
static void setup_binfmt(const struct child_ctx *c)
{
	if (!c->binfmt_rule[0])
		return;
	if (c->late_userns) {
		/* Real root has no private instance: binfmt_misc of the initial
		 * user namespace is the host's. A child user namespace with ids
		 * mapped to themselves (written by the parent, which holds
		 * CAP_SETUID there) and a mount namespace it owns get one. The
		 * UTS, network and PID setup above needed the initial one. */
		char ch = 'u';
		if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
			fail(c, CSTEP_USERNS, errno, "");
		if (write(c->map_req_fd, &ch, 1) != 1 || read(c->map_ack_fd, &ch, 1) != 1)
			fail(c, CSTEP_USERNS, EPIPE, "");
		if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
			fail(c, CSTEP_USERNS, errno, "");
	}
	if (mount("binfmt_misc", "/proc/sys/fs/binfmt_misc", "binfmt_misc",
		  MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		fail(c, CSTEP_BINFMT, errno, "/proc/sys/fs/binfmt_misc");
	int fd = open("/proc/sys/fs/binfmt_misc/register", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		fail(c, CSTEP_BINFMT, errno, "/proc/sys/fs/binfmt_misc/register");
	size_t len = strlen(c->binfmt_rule);
	if (write(fd, c->binfmt_rule, len) != (ssize_t)len)
		fail(c, CSTEP_BINFMT, errno, c->binfmt_rule);
	close(fd);
}

static volatile sig_atomic_t cmd_pid;
static void init_forward(int sig)
{
	if (cmd_pid > 0)
		kill((pid_t)cmd_pid, sig);
}

static int make_cwd(const struct child_ctx *c)
{
	int rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return -1;
	int fd = mkpath_in_root(rootfd, c->cwd[1] ? c->cwd + 1 : "", true);
	int e = errno;
	close(rootfd);
	if (fd < 0) {
		errno = e;
		return -1;
	}
	close(fd);
	return 0;
}

static __attribute__((noreturn)) void exec_command(const struct child_ctx *c)
{
	const char *file = c->argv[0];
	char buf[CHILD_PATH_MAX + 256];
	int saved = ENOENT;

	if (strchr(file, '/')) {
		execve(file, c->argv, c->envp);
		fail(c, CSTEP_EXEC, errno, file);
	}
	size_t flen = strlen(file);
	for (const char *p = c->path_env;;) {
		const char *colon = strchr(p, ':');
		size_t dlen = colon ? (size_t)(colon - p) : strlen(p);
		if (dlen + flen + 2 <= sizeof(buf)) {
			memcpy(buf, p, dlen);
			size_t l = dlen;
			if (l == 0)
				buf[l++] = '.';
			buf[l++] = '/';
			memcpy(buf + l, file, flen + 1);
			execve(buf, c->argv, c->envp);
			if (errno == EACCES)
				saved = EACCES;
			else if (errno != ENOENT && errno != ENOTDIR)
				saved = errno;
		}
		if (!colon)
			break;
		p = colon + 1;
	}
	fail(c, CSTEP_EXEC, saved, file);
}

static __attribute__((noreturn)) void run_command(const struct child_ctx *c)
{
	sigset_t all;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	for (int sig = 1; sig < 65; sig++) {
		struct sigaction dfl;
		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		(void)sigaction(sig, &dfl, NULL);
	}
	/* stdio: move the caller's fds out of the way first, then into 0-2. */
	int hi[3];
	for (int i = 0; i < 3; i++) {
		hi[i] = -1;
		if (c->stdio[i] >= 0 && (hi[i] = fcntl(c->stdio[i], F_DUPFD_CLOEXEC, 10)) < 0)
			fail(c, CSTEP_EXEC, errno, "stdio");
	}
	for (int i = 0; i < 3; i++) {
		if (hi[i] >= 0) {
			if (dup2(hi[i], i) < 0)
				fail(c, CSTEP_EXEC, errno, "stdio");
		} else if (i == 0) {
			int nul = open("/dev/null", O_RDONLY);
			if (nul < 0 || (nul != 0 && dup2(nul, 0) < 0))
				fail(c, CSTEP_EXEC, errno, "/dev/null");
			if (nul > 0)
				close(nul);
		}
	}
	if (make_cwd(c) < 0)
		fail(c, CSTEP_CWD, errno, c->cwd);
	int e = confine_drop_bounding();
	if (e < 0)
		fail(c, CSTEP_SECCOMP, -e, "capability bounding set");
	/* The filter comes before the ids change: single mode's filter fakes
	 * the id calls below, and while we are root in our namespace the
	 * kernel takes a filter without no_new_privs, which a non-root USER's
	 * sudo needs (confine.c). */
	bool single = c->mode == HOIST_IDMODE_SINGLE;
	if ((e = confine_seccomp(single, c->uid == 0)) < 0)
		fail(c, CSTEP_SECCOMP, -e, "seccomp filter");
	/* A user namespace around hoist may deny setgroups (setgroups=deny,
	 * as `unshare -r` makes): dropping groups we do not hold is moot. */
	if (c->mode != HOIST_IDMODE_SINGLE && setgroups(c->n_groups, c->groups) < 0 &&
	    !(errno == EPERM && c->n_groups == 0))
		fail(c, CSTEP_USER, errno, "setgroups");
	if (setresgid(c->gid, c->gid, c->gid) < 0 || setresuid(c->uid, c->uid, c->uid) < 0)
		fail(c, CSTEP_USER, errno, "setresuid");
	if (chdir(c->cwd) < 0)
		fail(c, CSTEP_CWD, errno, c->cwd);
	if (c->personality32 && personality(PER_LINUX32) < 0)
		fail(c, CSTEP_EXEC, errno, "personality");
	if (getuid() == 0 && (e = confine_caps()) < 0)
		fail(c, CSTEP_SECCOMP, -e, "capabilities");
	/* Nothing of ours may reach the command (CVE-2024-21626: a leaked fd
	 * to a host directory is a way out). CLOEXEC rather than close, so the
	 * error pipe still works should execve fail. */
	if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
		for (int fd = 3; fd < 65536; fd++)
			(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	exec_command(c);
}

void child_main(const struct child_ctx *c)
{
	char ch;
	/* getppid() is 0 across the PID namespace, so the race of hoist dying
	 * before PDEATHSIG is set is caught by the sync read: EOF then, once
	 * our copy of the write end is gone too. */
	close(c->sync_wr_fd);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (read(c->sync_fd, &ch, 1) != 1)
		_exit(125);
	close(c->sync_fd);
	/* What a container gets from runc and Docker, whatever hoist's caller
	 * had: files a RUN makes (and the mount points and working directory
	 * made here) must not depend on the umask of whoever ran the build. */
	umask(022);
	if (c->mode != HOIST_IDMODE_ROOT && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0))
		fail(c, CSTEP_IDS, errno, "");

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		fail(c, CSTEP_PRIVATE, errno, "/");
	if (c->snap_copy) {
		/* pivot_root needs a mount point: the copy, bound onto itself. */
		if (mount(c->merged, c->merged, NULL, MS_BIND, NULL) < 0)
			fail(c, CSTEP_OVERLAY, errno, c->merged);
	} else {
		mount_overlay(c);
	}
	setup_secrets(c);

	int rootfd = open(c->merged, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		fail(c, CSTEP_OVERLAY, errno, c->merged);
	/* proc first: once the old root is detached the kernel refuses it. */
	if (c->shared_proc) {
		/* userns-shared-proc: a fresh proc is refused (masked paths in
		 * the container's /proc), so the container's own, with every
		 * mask on it, read-only where the kernel lets us; where it does
		 * not, at least the parts protect_proc() covers. */
		mount_at(c, rootfd, CSTEP_PROC, "proc", true, "/proc", NULL, MS_BIND | MS_REC,
			 NULL);
		struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
		int pfd = openat2_in_root(rootfd, "proc", O_PATH);
		bool ro = pfd >= 0 && mount_setattr(pfd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr,
						    sizeof(attr)) == 0;
		if (pfd >= 0)
			close(pfd);
		if (!ro)
			protect_proc(c, rootfd);
	} else {
		mount_at(c, rootfd, CSTEP_PROC, "proc", true, "proc", "proc",
			 MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
		protect_proc(c, rootfd);
	}
	setup_dev(c, rootfd);
	if (c->net_none) {
		/* A fresh sysfs needs our own network namespace. */
		mount_at(c, rootfd, CSTEP_SYS, "sys", true, "sysfs", "sysfs",
			 MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	} else {
		bind_at(c, rootfd, CSTEP_SYS, "sys", true, "/sys", false);
	}
	if (access("/etc/resolv.conf", F_OK) == 0)
		bind_at(c, rootfd, CSTEP_BIND, "etc/resolv.conf", false, "/etc/resolv.conf", false);
	bind_at(c, rootfd, CSTEP_BIND, "etc/hosts", false, c->hosts, true);
	bind_at(c, rootfd, CSTEP_BIND, "etc/hostname", false, c->hostname_file, true);
	if (c->apt_fake)
		bind_at(c, rootfd, CSTEP_BIND, APT_FAKE_STUB, false, c->aptconf, false);
	setup_mounts(c, rootfd);
	close(rootfd);

	if (chdir(c->merged) < 0)
		fail(c, CSTEP_PIVOT, errno, c->merged);
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		fail(c, CSTEP_PIVOT, errno, c->merged);
	if (umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		fail(c, CSTEP_PIVOT, errno, "/");
	/* podman's default seccomp profile refuses sethostname to a container
	 * without CAP_SYS_ADMIN, even in our own UTS namespace: the RUN then
	 * sees the container's hostname (docs/sandbox.md, rungs 2 and 3). */
	if (sethostname(c->hostname, strlen(c->hostname)) < 0 && errno != EPERM)
		fail(c, CSTEP_HOSTNAME, errno, c->hostname);
	if (c->net_none)
		loopback_up(c);
	setup_binfmt(c);
	confine_init(c);

	/* Our init: forward what hoist passes on, reap everything, exit with
	 * the command's status (128+N for a signal, as a shell reports it). */
	static const int fwd[] = {SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigprocmask(SIG_BLOCK, &block, &old);
	for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = init_forward;
		sa.sa_flags = SA_RESTART;
		(void)sigaction(fwd[i], &sa, NULL);
	}
	/* No PID namespace (shared proc): orphans of the command come back
	 * to us, not to the container's init. */
	if (c->shared_proc)
		(void)prctl(PR_SET_CHILD_SUBREAPER, 1);
	pid_t pid = sandbox_clone(0);
	if (pid < 0)
		fail(c, CSTEP_FORK, -pid, "");
	if (pid == 0)
		run_command(c);
	cmd_pid = pid;
	sigprocmask(SIG_SETMASK, &old, NULL);
	for (;;) {
		int st;
		pid_t w = waitpid(-1, &st, 0);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			_exit(125);
		if (w == pid) {
			/* Our exit code cannot tell "killed by 11" from "exit 139":
			 * the raw status goes to the parent first. */
			struct child_err done;
			memset(&done, 0, sizeof(done));
			done.step = CSTEP_DONE;
			done.wait_status = st;
			(void)!write(c->err_fd, &done, sizeof(done));
			_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		}
	}
}

pid_t child_start(const struct child_ctx *c, uint64_t flags)
{
	if (c->userns_fd < 0) {
		pid_t pid = sandbox_clone(flags);
		if (pid == 0)
			child_main(c);
		return pid;
	}
	/*
	 * Joining a user namespace takes setns() from a single-threaded
	 * process, which hoist itself must not do (it would stay there). A
	 * helper joins it, so that the mount, PID, UTS, IPC (and network)
	 * namespaces of its clone are owned by it; CLONE_PARENT makes that
	 * clone our child (waited for, PDEATHSIG tied to us) and the helper
	 * only leaves the pid in our memory and exits. The helper is a
	 * vfork(): it borrows our memory (no copy of the address space,
	 * which a fork costs on every RUN) while we wait, and only makes
	 * system calls; its clone is a real copy that runs child_main().
	 */
	volatile pid_t v = -ECHILD;
	pid_t helper = vfork();
	if (helper == 0) {
		if (setns(c->userns_fd, CLONE_NEWUSER) < 0) {
			v = -errno;
			_exit(0);
		}
		pid_t pid = sandbox_clone((flags & ~(uint64_t)CLONE_NEWUSER) | CLONE_PARENT);
		if (pid == 0)
			child_main(c);
		v = pid;
		_exit(0);
	}
	if (helper < 0)
		return -errno;
	while (waitpid(helper, NULL, 0) < 0 && errno == EINTR)
		;
	return v;
}
