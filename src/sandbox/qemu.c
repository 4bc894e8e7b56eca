/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Foreign RUN steps: which qemu-user interpreter runs a target platform's
 * binaries, and how the kernel finds it. In order:
 *   (1) the host already registered one in binfmt_misc with the F flag (the
 *       kernel opened the interpreter at registration, so it works inside a
 *       root that has no qemu): use it, touch nothing;
 *   (2) otherwise a private binfmt_misc instance in the run's own user
 *       namespace (Linux 6.7 made binfmt_misc per user namespace), with
 *       Debian's qemu-user-static rule from /usr/lib/binfmt.d/ plus F; the
 *       host's table is never written;
 *   (3) otherwise an error that says what to install or enable.
 * Everything the child needs (the register line, the interpreter fd) is
 * made here, before clone().
 */
#include <ctype.h>
#include <stdlib.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "hoist/util.h"
#include "sandbox-private.h"

#define HOST_BINFMT "/proc/sys/fs/binfmt_misc"
#define DEBIAN_BINFMT_D "/usr/lib/binfmt.d"
#define ENTRY_MAX 4096

struct arch_info {
	const char *oci;  /* OCI architecture */
	const char *qemu; /* qemu-<name> */
	unsigned char elf_class, elf_data;
	uint16_t machine;
};

static const struct arch_info arches[] = {
    {"amd64", "x86_64", 2, 1, 62},
    {"arm64", "aarch64", 2, 1, 183},
    {"arm", "arm", 1, 1, 40},
    {"386", "i386", 1, 1, 3},
    {"riscv64", "riscv64", 2, 1, 243},
    {"ppc64le", "ppc64le", 2, 1, 21},
    {"ppc64", "ppc64", 2, 2, 21},
    {"s390x", "s390x", 2, 2, 22},
    {"mips64le", "mips64el", 2, 1, 8},
    {"mipsle", "mipsel", 1, 1, 8},
    {"loong64", "loongarch64", 2, 1, 258},
};

static const struct arch_info *arch_lookup(const char *oci)
{
	for (size_t i = 0; i < ARRAY_SIZE(arches); i++)
		if (strcmp(arches[i].oci, oci) == 0)
			return &arches[i];
	return NULL;
}

/* The first 20 bytes of an executable ELF file of that architecture. */
static void elf_sample(const struct arch_info *a, unsigned char out[20])
{
	memset(out, 0, 20);
	out[0] = 0x7f;
	out[1] = 'E';
	out[2] = 'L';
	out[3] = 'F';
	out[4] = a->elf_class;
	out[5] = a->elf_data;
	out[6] = 1;
	bool le = a->elf_data == 1;
	out[le ? 16 : 17] = 2; /* ET_EXEC */
	out[le ? 18 : 19] = (unsigned char)(a->machine & 0xff);
	out[le ? 19 : 18] = (unsigned char)(a->machine >> 8);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static size_t parse_hex(const char *s, unsigned char *out, size_t max)
{
	size_t n = 0;
	while (n < max && hexval(s[0]) >= 0 && hexval(s[1]) >= 0) {
		out[n++] = (unsigned char)(hexval(s[0]) << 4 | hexval(s[1]));
		s += 2;
	}
	return n;
}

struct host_entry {
	bool enabled, flag_f;
	char interpreter[256];
	char flags[16];
	uint64_t offset;
	unsigned char magic[128], mask[128];
	size_t n_magic, n_mask;
};

/* One file of /proc/sys/fs/binfmt_misc, as the kernel prints it. */
static int parse_host_entry(char *data, struct host_entry *e)
{
	memset(e, 0, sizeof(*e));
	bool have_magic = false;
	for (char *line = data; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (strcmp(line, "enabled") == 0)
			e->enabled = true;
		else if (hoist_startswith(line, "interpreter "))
			snprintf(e->interpreter, sizeof(e->interpreter), "%s", line + 12);
		else if (hoist_startswith(line, "flags: ")) {
			snprintf(e->flags, sizeof(e->flags), "%s", line + 7);
			e->flag_f = strchr(e->flags, 'F') != NULL;
		} else if (hoist_startswith(line, "offset "))
			(void)hoist_parse_u64(line + 7, 127, &e->offset);
		else if (hoist_startswith(line, "magic ")) {
			e->n_magic = parse_hex(line + 6, e->magic, sizeof(e->magic));
			have_magic = true;
		} else if (hoist_startswith(line, "mask "))
			e->n_mask = parse_hex(line + 5, e->mask, sizeof(e->mask));
		line = nl ? nl + 1 : NULL;
	}
	return have_magic && e->n_magic > 0 ? 0 : -ENOENT;
}

static bool entry_matches(const struct host_entry *e, const unsigned char sample[20])
{
	if (e->offset + e->n_magic > 20)
		return false;
	for (size_t i = 0; i < e->n_magic; i++) {
		unsigned char m = i < e->n_mask ? e->mask[i] : 0xff;
		if ((sample[e->offset + i] & m) != (e->magic[i] & m))
			return false;
	}
	return true;
}

/*
 * Path (1): an enabled host entry with F whose magic takes our sample
 * header. *ret_nof names a matching entry without F (unusable: the kernel
 * would look for its interpreter inside the container).
 */
static bool find_host_entry(const struct arch_info *a, char *ret_name, size_t name_size,
			    char *ret_interp, size_t interp_size, char *ret_nof, size_t nof_size)
{
	unsigned char sample[20];
	elf_sample(a, sample);
	_cleanup_free_ char *status = NULL;
	size_t len;
	if (hoist_read_file_at(AT_FDCWD, HOST_BINFMT "/status", 64, &status, &len, NULL) < 0 ||
	    !hoist_startswith(status, "enabled"))
		return false;
	_cleanup_close_ int dfd = open(HOST_BINFMT, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return false;
	DIR *d = fdopendir(dfd);
	if (!d)
		return false;
	dfd = -1;
	bool found = false;
	struct dirent *de;
	while (!found && (de = readdir(d))) {
		if (de->d_name[0] == '.' || strcmp(de->d_name, "register") == 0 ||
		    strcmp(de->d_name, "status") == 0)
			continue;
		_cleanup_free_ char *data = NULL;
		struct host_entry e;
		if (hoist_read_file_at(dirfd(d), de->d_name, ENTRY_MAX, &data, &len, NULL) < 0 ||
		    parse_host_entry(data, &e) < 0 || !e.enabled || !entry_matches(&e, sample))
			continue;
		/* Debian's "-binfmt-P" interpreters expect the P flag (argv[0]
		 * preserved); registered without it, every argument shifts by one. */
		bool p_broken = hoist_endswith(e.interpreter, "-binfmt-P") && !strchr(e.flags, 'P');
		if (!e.flag_f || p_broken) {
			snprintf(ret_nof, nof_size, "%.40s' %s", de->d_name,
				 p_broken ? "has a -binfmt-P interpreter without the P flag"
					  : "lacks the F flag");
			continue;
		}
		snprintf(ret_name, name_size, "%.63s", de->d_name);
		snprintf(ret_interp, interp_size, "%s", e.interpreter);
		found = true;
	}
	closedir(d);
	return found;
}

static bool kernel_at_least(unsigned major, unsigned minor)
{
	struct utsname u;
	if (uname(&u) < 0)
		return false;
	unsigned long ma = strtoul(u.release, NULL, 10);
	const char *dot = strchr(u.release, '.');
	unsigned long mi = dot ? strtoul(dot + 1, NULL, 10) : 0;
	return ma > major || (ma == major && mi >= minor);
}

/*
 * Debian's rule ":NAME:M:OFFSET:MAGIC:MASK:INTERP:FLAGS" (any first
 * character is the delimiter) rewritten with our interpreter and F added.
 */
static int private_rule(const struct arch_info *a, struct sandbox_emul *em, struct hoist_error *err)
{
	_cleanup_free_ char *conf_path =
	    hoist_xasprintf("%s/qemu-%s.conf", DEBIAN_BINFMT_D, a->qemu);
	_cleanup_free_ char *conf = NULL;
	size_t len;
	if (hoist_read_file_at(AT_FDCWD, conf_path, ENTRY_MAX, &conf, &len, NULL) < 0)
		return hoist_error_set(err, -ENOEXEC,
				       "running %s binaries needs qemu-user-static ('%s' is "
				       "missing): apt-get install qemu-user-static",
				       a->oci, conf_path);
	char *nl = strchr(conf, '\n');
	if (nl)
		*nl = '\0';
	char delim = conf[0];
	char *field[8] = {0};
	size_t n = 0;
	for (char *p = conf + 1; p && n < ARRAY_SIZE(field);) {
		field[n++] = p;
		char *q = strchr(p, delim);
		if (q)
			*q++ = '\0';
		p = q;
	}
	if (n < 7 || delim == '\0' || !*field[0] || !*field[6])
		return hoist_error_set(err, -EBADMSG, "'%s': not a binfmt_misc rule", conf_path);
	const char *interp = field[5];
	snprintf(em->interpreter, sizeof(em->interpreter), "%s", interp);
	em->interp_fd = open(interp, O_RDONLY | O_CLOEXEC);
	if (em->interp_fd < 0)
		return hoist_error_set(err, -ENOEXEC,
				       "qemu interpreter '%s' for %s: %s (apt-get install "
				       "qemu-user-static)",
				       interp, a->oci, strerror(errno));
	snprintf(em->name, sizeof(em->name), "%s", field[0]);
	/* The child registers after pivot_root, where the host path is gone:
	 * /proc/self/fd/N is the file we hold open, and F makes the kernel
	 * open it at once. P (argv[0] preserved) reaches qemu as AT_FLAGS. */
	char flags[16];
	snprintf(flags, sizeof(flags), "%s%s", field[6], strchr(field[6], 'F') ? "" : "F");
	int w = snprintf(em->rule, sizeof(em->rule), "%c%s%c%s%c%s%c%s%c%s%c/proc/self/fd/%d%c%s",
			 delim, field[0], delim, field[1], delim, field[2], delim, field[3], delim,
			 field[4], delim, em->interp_fd, delim, flags);
	if (w < 0 || (size_t)w >= sizeof(em->rule))
		return hoist_error_set(err, -E2BIG, "'%s': rule too long", conf_path);
	return 0;
}

void sandbox_emul_release(struct sandbox_emul *em)
{
	if (em->interp_fd >= 0)
		close(em->interp_fd);
	em->interp_fd = -1;
}

int sandbox_emul_prepare(const struct hoist_platform *p, bool may_private, struct sandbox_emul *em,
			 struct hoist_error *err)
{
	struct hoist_platform host;
	char want[96], hostname[96];

	memset(em, 0, sizeof(*em));
	em->interp_fd = -1;
	em->path = HOIST_EMUL_NATIVE;
	if (!p)
		return 0;
	hoist_platform_host(&host);
	hoist_platform_format(p, want, sizeof(want));
	hoist_platform_format(&host, hostname, sizeof(hostname));
	if (strcmp(p->os, "linux") != 0)
		return hoist_error_set(err, -ENOEXEC, "cannot run '%s' binaries on '%s'", want,
				       hostname);
	if (strcmp(p->architecture, host.architecture) == 0 &&
	    (!p->variant[0] || !host.variant[0] || hoist_platform_equal(p, &host)))
		return 0;
	if (strcmp(host.architecture, "amd64") == 0 && strcmp(p->architecture, "386") == 0) {
		/* The kernel runs i386 code itself; the 32-bit personality makes
		 * `uname -m` say i686, as containerd does for linux/386. */
		em->path = HOIST_EMUL_NATIVE32;
		return 0;
	}
	const struct arch_info *a = arch_lookup(p->architecture);
	if (!a)
		return hoist_error_set(err, -ENOEXEC, "no qemu-user emulator known for '%s'", want);
	snprintf(em->platform, sizeof(em->platform), "%s", want);

	char nof[128] = "";
	/* HOIST_BINFMT=private ignores the host's table (tests, or a host
	 * entry that is known to be broken). */
	const char *force = getenv("HOIST_BINFMT");
	bool private_only = force && strcmp(force, "private") == 0;
	if (!private_only && find_host_entry(a, em->name, sizeof(em->name), em->interpreter,
					     sizeof(em->interpreter), nof, sizeof(nof))) {
		em->path = HOIST_EMUL_HOST_BINFMT;
		return 0;
	}
	snprintf(em->host_nof, sizeof(em->host_nof), "%s", nof);
	if (!may_private)
		return hoist_error_set(err, -ENOEXEC,
				       "running %s binaries needs a binfmt_misc entry for qemu-%s",
				       want, a->qemu);
	if (!kernel_at_least(6, 7))
		return hoist_error_set(
		    err, -ENOEXEC,
		    "running %s binaries: no host binfmt_misc entry for qemu-%s with the F "
		    "flag%s%s%s, "
		    "and a private binfmt_misc needs Linux 6.7 or later: register it globally as "
		    "root (cat %s/qemu-%s.conf > %s/register, with F in the flags) or "
		    "upgrade the kernel",
		    want, a->qemu, nof[0] ? " ('" : "", nof, nof[0] ? ")" : "", DEBIAN_BINFMT_D,
		    a->qemu, HOST_BINFMT);
	int r = private_rule(a, em, err);
	if (r < 0) {
		sandbox_emul_release(em);
		return r;
	}
	em->path = HOIST_EMUL_PRIVATE_BINFMT;
	return 0;
}

int hoist_sandbox_emulator(const struct hoist_platform *p, struct hoist_emulator *ret,
			   struct hoist_error *err)
{
	struct sandbox_emul em;
	int r = sandbox_emul_prepare(p, true, &em, err);
	if (r < 0)
		return r;
	memset(ret, 0, sizeof(*ret));
	ret->path = em.path;
	snprintf(ret->name, sizeof(ret->name), "%s", em.name);
	snprintf(ret->interpreter, sizeof(ret->interpreter), "%s", em.interpreter);
	sandbox_emul_release(&em);
	return 0;
}

const char *hoist_emulation_name(enum hoist_emulation e)
{
	switch (e) {
	case HOIST_EMUL_NATIVE:
		return "native";
	case HOIST_EMUL_NATIVE32:
		return "native (32-bit personality)";
	case HOIST_EMUL_HOST_BINFMT:
		return "host binfmt_misc";
	case HOIST_EMUL_PRIVATE_BINFMT:
		return "private binfmt_misc";
	}
	return "?";
}
