/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What keeps a RUN's command in its box once the root is set up (issue
 * #21), in every identity mode. Called from the sandbox child between
 * clone() and execve(): system calls only, no malloc, no stdio (STYLE
 * rule 11).
 *
 * - The init (PID 1 in the container) is a clone of hoist, not an exec: it
 *   holds a copy of every fd hoist had open (the store, its blobs and tmp
 *   directories, whatever hoist's caller left open), reachable from the
 *   command through /proc/1/fd/N, and /proc/1/exe is the hoist binary. The
 *   init closes all but its error pipe and the command's stdio, and makes
 *   itself non-dumpable, so that /proc/1/{fd,exe,cwd,root,mem} are out of a
 *   command's reach (the CVE-2024-21626 and CVE-2019-5736 classes).
 * - The command keeps Docker's default capability set only (no
 *   CAP_SYS_ADMIN: a real-root RUN could otherwise remount /proc/sys
 *   read-write and write kernel.core_pattern), runs with no_new_privs when
 *   it runs as root (a non-root USER keeps setuid binaries, as under Docker
 *   and BuildKit: `USER app` + `RUN sudo ...` is common in real Dockerfiles;
 *   the bounding set and the filter still bound what they can gain), and
 *   under a seccomp filter that refuses the calls no namespace confines
 *   (modules, kexec, keyrings, clock, swap, open_by_handle_at, bpf,
 *   perf_event_open, userfaultfd) and device nodes other than the 0/0
 *   whiteout, with single mode's id fakery in the same filter.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "run-private.h"

void confine_init(const struct child_ctx *c)
{
	int keep[4] = {c->err_fd, c->stdio[0], c->stdio[1], c->stdio[2]};
	/* sort the (at most 4) fds to keep, then close the gaps between them */
	for (int i = 1; i < 4; i++)
		for (int j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
			int t = keep[j];
			keep[j] = keep[j - 1];
			keep[j - 1] = t;
		}
	unsigned int from = 0;
	for (int i = 0; i < 4; i++) {
		if (keep[i] < 0 || (unsigned int)keep[i] < from)
			continue;
		if ((unsigned int)keep[i] > from)
			(void)syscall(SYS_close_range, from, (unsigned int)keep[i] - 1, 0U);
		from = (unsigned int)keep[i] + 1;
	}
	/* 0-2 of the init itself are the caller's stdio; keep them when they
	 * are what the command gets too, else they went above. */
	(void)syscall(SYS_close_range, from, ~0U, 0U);
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

/* Docker's default capability set (moby's oci/caps/defaults.go). */
static const int kept_caps[] = {
    CAP_CHOWN,	 CAP_DAC_OVERRIDE, CAP_FSETID,		 CAP_FOWNER,
    CAP_MKNOD,	 CAP_NET_RAW,	   CAP_SETGID,		 CAP_SETUID,
    CAP_SETFCAP, CAP_SETPCAP,	   CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT,
    CAP_KILL,	 CAP_AUDIT_WRITE,
};

static bool cap_kept(int cap)
{
	for (size_t i = 0; i < sizeof(kept_caps) / sizeof(kept_caps[0]); i++)
		if (kept_caps[i] == cap)
			return true;
	return false;
}

int confine_drop_bounding(void)
{
	for (int cap = 0; cap <= 63; cap++) {
		if (cap_kept(cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return -errno;
	}
	return 0;
}

int confine_caps(void)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[2];
	memset(d, 0, sizeof(d));
	if (syscall(SYS_capget, &h, d) < 0)
		return -errno;
	uint32_t mask[2] = {0, 0};
	for (size_t i = 0; i < sizeof(kept_caps) / sizeof(kept_caps[0]); i++)
		mask[kept_caps[i] / 32] |= 1U << (kept_caps[i] % 32);
	for (int i = 0; i < 2; i++) {
		d[i].effective &= mask[i];
		d[i].permitted &= mask[i];
		d[i].inheritable &= mask[i];
	}
	if (syscall(SYS_capset, &h, d) < 0)
		return -errno;
	(void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	return 0;
}

#if defined(__x86_64__)
#define SECCOMP_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SECCOMP_ARCH AUDIT_ARCH_AARCH64
#endif

#ifdef SECCOMP_ARCH
/* Not confined by any namespace: refused with EPERM, as Docker's default
 * seccomp profile (or its capability rules) refuse them. */
static const int denied[] = {
#ifdef __NR_kexec_load
    __NR_kexec_load,
#endif
    __NR_kexec_file_load,
    __NR_init_module,
    __NR_finit_module,
    __NR_delete_module,
    __NR_open_by_handle_at,
    __NR_keyctl,
    __NR_add_key,
    __NR_request_key,
#ifdef __NR_iopl
    __NR_iopl,
    __NR_ioperm,
#endif
#ifdef __NR_uselib
    __NR_uselib,
#endif
    __NR_swapon,
    __NR_swapoff,
    __NR_syslog,
    __NR_acct,
    __NR_settimeofday,
    __NR_clock_settime,
    __NR_clock_adjtime,
    __NR_adjtimex,
    __NR_bpf,
    __NR_perf_event_open,
    __NR_userfaultfd,
    __NR_lookup_dcookie,
    __NR_quotactl,
    __NR_vhangup,
    __NR_reboot,
};

/*
 * Single-uid mode: only container root exists, so calls that switch or
 * give away ids fail with EINVAL/EPERM and break package managers. Make
 * them succeed without effect, as Charliecloud's seccomp mode does.
 */
static const int faked[] = {
#ifdef __NR_chown
    __NR_chown,	    __NR_lchown,
#endif
    __NR_fchown,    __NR_fchownat,  __NR_setuid,    __NR_setgid,   __NR_setreuid, __NR_setregid,
    __NR_setresuid, __NR_setresgid, __NR_setgroups, __NR_setfsuid, __NR_setfsgid,
};

#define ND (sizeof(denied) / sizeof(denied[0]))
#define NF (sizeof(faked) / sizeof(faked[0]))
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + (i) * sizeof(__u64))

/* A filter built with symbolic jump targets: a target >= 0 is a relative
 * offset, a negative one a label, resolved once the program is complete. */
enum { L_ALLOW = -1, L_DENY = -2, L_FAKE = -3 };
struct prog {
	struct sock_filter f[ND + NF + 40];
	int jt[ND + NF + 40], jf[ND + NF + 40];
	size_t n;
};

static void stmt(struct prog *p, unsigned short code, unsigned k)
{
	p->jt[p->n] = p->jf[p->n] = 0;
	p->f[p->n++] = (struct sock_filter)BPF_STMT(code, k);
}

static void jump(struct prog *p, unsigned short op, unsigned k, int jt, int jf)
{
	p->jt[p->n] = jt;
	p->jf[p->n] = jf;
	p->f[p->n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | op | BPF_K, k, 0, 0);
}

static unsigned char resolve(int target, size_t at, const size_t labels[3])
{
	if (target >= 0)
		return (unsigned char)target;
	return (unsigned char)(labels[-target - 1] - at - 1);
}

/* mknod/mknodat: a device node other than char 0/0 (the whiteout) is
 * refused; regular files, fifos and sockets pass. Ends with nr reloaded. */
static void emit_mknod(struct prog *p, int nr, int mode_arg)
{
	jump(p, BPF_JEQ, (unsigned)nr, 0, 6);
	stmt(p, BPF_LD | BPF_W | BPF_ABS, (unsigned)ARG_LO(mode_arg));
	stmt(p, BPF_ALU | BPF_AND | BPF_K, S_IFMT);
	jump(p, BPF_JEQ, S_IFBLK, L_DENY, 0);
	jump(p, BPF_JEQ, S_IFCHR, 0, L_ALLOW);
	stmt(p, BPF_LD | BPF_W | BPF_ABS, (unsigned)ARG_LO(mode_arg + 1));
	jump(p, BPF_JEQ, 0, L_ALLOW, L_DENY);
}
#endif

int confine_seccomp(bool fake_ids, bool nnp)
{
#ifdef SECCOMP_ARCH
	struct prog p = {.n = 0};
	stmt(&p, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	/* Other ABIs (e.g. i386 binaries) are left alone (docs/security.md). */
	jump(&p, BPF_JEQ, SECCOMP_ARCH, 0, L_ALLOW);
	stmt(&p, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
#ifdef __x86_64__
	/* x32 system calls share the arch value: refuse them all. */
	jump(&p, BPF_JGE, 0x40000000U, L_DENY, 0);
#endif
	for (size_t i = 0; i < ND; i++)
		jump(&p, BPF_JEQ, (unsigned)denied[i], L_DENY, 0);
	if (fake_ids)
		for (size_t i = 0; i < NF; i++)
			jump(&p, BPF_JEQ, (unsigned)faked[i], L_FAKE, 0);
#ifdef __NR_mknod
	emit_mknod(&p, __NR_mknod, 1);
	stmt(&p, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
#endif
	emit_mknod(&p, __NR_mknodat, 2);
	size_t labels[3];
	labels[0] = p.n;
	stmt(&p, BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	labels[1] = p.n;
	stmt(&p, BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
	labels[2] = p.n;
	stmt(&p, BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 0);
	for (size_t i = 0; i < p.n; i++) {
		if (BPF_CLASS(p.f[i].code) != BPF_JMP)
			continue;
		p.f[i].jt = resolve(p.jt[i], i, labels);
		p.f[i].jf = resolve(p.jf[i], i, labels);
	}
	struct sock_fprog prog = {.len = (unsigned short)p.n, .filter = p.f};
	if (nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0)
		return 0;
	/* Without CAP_SYS_ADMIN in our namespace the kernel wants
	 * no_new_privs first: the filter matters more than sudo. */
	if (nnp || errno != EACCES || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		return -errno;
	return 0;
#else
	(void)fake_ids;
	return nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? -errno : 0;
#endif
}
