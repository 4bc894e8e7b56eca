/* SPDX-License-Identifier: Apache-2.0 */
/* Platforms, normalised the way containerd's platforms package does it. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include "oci-private.h"

static bool valid_part(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.')
			return false;
	return true;
}

static void lower_copy(char *dst, size_t size, const char *s, size_t n)
{
	size_t i;
	for (i = 0; i < n && i + 1 < size; i++)
		dst[i] = (char)tolower((unsigned char)s[i]);
	dst[i] = '\0';
}

static void set(char *dst, size_t size, const char *v)
{
	snprintf(dst, size, "%s", v);
}

/* containerd normalizeArch(): one spelling per architecture and variant. */
void oci_platform_normalize(struct hoist_platform *p)
{
	char *a = p->architecture, *v = p->variant;
	if (!strcmp(p->os, "macos"))
		set(p->os, sizeof(p->os), "darwin");
	if (!strcmp(a, "i386")) {
		set(a, sizeof(p->architecture), "386");
		v[0] = '\0';
	} else if (!strcmp(a, "x86_64") || !strcmp(a, "x86-64") || !strcmp(a, "amd64")) {
		set(a, sizeof(p->architecture), "amd64");
		if (!strcmp(v, "v1"))
			v[0] = '\0';
	} else if (!strcmp(a, "aarch64") || !strcmp(a, "arm64")) {
		set(a, sizeof(p->architecture), "arm64");
		if (!strcmp(v, "8") || !strcmp(v, "v8") || !strcmp(v, "v8.0"))
			v[0] = '\0';
		else if (!strcmp(v, "9") || !strcmp(v, "9.0") || !strcmp(v, "v9.0"))
			set(v, sizeof(p->variant), "v9");
	} else if (!strcmp(a, "armhf")) {
		set(a, sizeof(p->architecture), "arm");
		set(v, sizeof(p->variant), "v7");
	} else if (!strcmp(a, "armel")) {
		set(a, sizeof(p->architecture), "arm");
		set(v, sizeof(p->variant), "v6");
	} else if (!strcmp(a, "arm")) {
		if (!v[0] || !strcmp(v, "7"))
			set(v, sizeof(p->variant), "v7");
		else if (!strcmp(v, "5") || !strcmp(v, "6") || !strcmp(v, "8")) {
			char t[4] = {'v', v[0], '\0', '\0'};
			set(v, sizeof(p->variant), t);
		}
	}
}

static bool is_known_os(const char *s, size_t n)
{
	static const char *const oses[] = {"linux",   "windows", "darwin",  "freebsd", "netbsd",
					   "openbsd", "solaris", "illumos", "aix",     "android"};
	for (size_t i = 0; i < ARRAY_SIZE(oses); i++)
		if (strlen(oses[i]) == n && strncasecmp(oses[i], s, n) == 0)
			return true;
	return false;
}

int hoist_platform_parse(const char *s, struct hoist_platform *ret, struct hoist_error *err)
{
	struct hoist_platform p = {0};
	const char *parts[3];
	size_t lens[3];
	size_t n = 0;
	const char *c = s;

	if (!s || !*s)
		return hoist_error_set(err, -EINVAL, "empty platform");
	for (;;) {
		const char *slash = strchr(c, '/');
		size_t len = slash ? (size_t)(slash - c) : strlen(c);
		if (n == 3)
			return hoist_error_set(err, -EINVAL, "invalid platform '%s'", s);
		parts[n] = c;
		lens[n] = len;
		n++;
		if (!valid_part(c, len))
			return hoist_error_set(err, -EINVAL, "invalid platform '%s'", s);
		if (!slash)
			break;
		c = slash + 1;
	}
	if (lens[0] >= sizeof(p.os) || (n > 1 && lens[1] >= sizeof(p.architecture)) ||
	    (n > 2 && lens[2] >= sizeof(p.variant)))
		return hoist_error_set(err, -EINVAL, "invalid platform '%s'", s);

	if (n == 1) {
		/* Either an OS (with the host architecture) or an architecture on linux. */
		if (is_known_os(parts[0], lens[0])) {
			struct hoist_platform host;
			hoist_platform_host(&host);
			lower_copy(p.os, sizeof(p.os), parts[0], lens[0]);
			set(p.architecture, sizeof(p.architecture), host.architecture);
			set(p.variant, sizeof(p.variant), host.variant);
		} else {
			if (lens[0] >= sizeof(p.architecture))
				return hoist_error_set(err, -EINVAL, "invalid platform '%s'", s);
			set(p.os, sizeof(p.os), "linux");
			lower_copy(p.architecture, sizeof(p.architecture), parts[0], lens[0]);
		}
	} else if (n == 2 && !is_known_os(parts[0], lens[0]) && lens[1] >= 2 &&
		   lens[1] < sizeof(p.variant) && (parts[1][0] == 'v' || parts[1][0] == 'V') &&
		   isdigit((unsigned char)parts[1][1])) {
		/* "arm64/v8", "arm/v6": containerd would read an OS named "arm";
		 * no OS looks like that, so take it as arch/variant on linux. */
		set(p.os, sizeof(p.os), "linux");
		lower_copy(p.architecture, sizeof(p.architecture), parts[0], lens[0]);
		lower_copy(p.variant, sizeof(p.variant), parts[1], lens[1]);
	} else {
		lower_copy(p.os, sizeof(p.os), parts[0], lens[0]);
		lower_copy(p.architecture, sizeof(p.architecture), parts[1], lens[1]);
		if (n == 3)
			lower_copy(p.variant, sizeof(p.variant), parts[2], lens[2]);
	}
	oci_platform_normalize(&p);
	*ret = p;
	return 0;
}

/* Go's known GOOS and GOARCH values (go/build's syslist.go), which
 * containerd's platforms package and image indexes use. */
static const char *const known_oses[] = {
    "aix",   "android", "darwin", "dragonfly", "freebsd", "hurd",    "illumos", "ios",	   "js",
    "linux", "nacl",	"netbsd", "openbsd",   "plan9",	  "solaris", "wasip1",	"windows", "zos",
};
static const char *const known_archs[] = {
    "386",     "amd64",	 "amd64p32", "arm",	  "arm64",	 "arm64be", "armbe",   "loong64",
    "mips",    "mips64", "mips64le", "mips64p32", "mips64p32le", "mipsle",  "ppc",     "ppc64",
    "ppc64le", "riscv",	 "riscv64",  "s390",	  "s390x",	 "sparc",   "sparc64", "wasm",
};

static bool in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], s) == 0)
			return true;
	return false;
}

static int unknown_part(struct hoist_error *err, const char *s, const char *what, const char *value,
			const char *const *list, size_t n)
{
	char known[512];
	size_t off = 0;
	const char *near = hoist_closest_match(value, list, n);

	known[0] = '\0';
	for (size_t i = 0; i < n && off < sizeof(known); i++)
		off += (size_t)snprintf(known + off, sizeof(known) - off, "%s%s", i ? ", " : "",
					list[i]);
	if (near)
		return hoist_error_set(
		    err, -EINVAL,
		    "invalid platform '%s': unknown %s '%s' (did you mean '%s'?); "
		    "known %ss: %s",
		    s, what, value, near, what, known);
	return hoist_error_set(err, -EINVAL,
			       "invalid platform '%s': unknown %s '%s'; known %ss: %s", s, what,
			       value, what, known);
}

int hoist_platform_parse_known(const char *s, struct hoist_platform *ret, struct hoist_error *err)
{
	struct hoist_platform p;
	int rc = hoist_platform_parse(s, &p, err);

	if (rc < 0)
		return rc;
	if (!in_list(p.os, known_oses, ARRAY_SIZE(known_oses)))
		return unknown_part(err, s, "operating system", p.os, known_oses,
				    ARRAY_SIZE(known_oses));
	if (!in_list(p.architecture, known_archs, ARRAY_SIZE(known_archs)))
		return unknown_part(err, s, "architecture", p.architecture, known_archs,
				    ARRAY_SIZE(known_archs));
	*ret = p;
	return 0;
}

void hoist_platform_host(struct hoist_platform *ret)
{
	struct utsname u;
	struct hoist_platform p = {0};

	set(p.os, sizeof(p.os), "linux");
	if (uname(&u) < 0)
		set(u.machine, sizeof(u.machine), "x86_64");
	if (hoist_startswith(u.machine, "armv") && u.machine[4] >= '5' && u.machine[4] <= '8') {
		char v[3] = {'v', u.machine[4], '\0'};
		set(p.architecture, sizeof(p.architecture), "arm");
		set(p.variant, sizeof(p.variant), v);
	} else if (!strcmp(u.machine, "ppc64le") || !strcmp(u.machine, "s390x") ||
		   !strcmp(u.machine, "riscv64")) {
		set(p.architecture, sizeof(p.architecture), u.machine);
	} else if (u.machine[0] == 'i' && !strcmp(u.machine + 2, "86")) {
		set(p.architecture, sizeof(p.architecture), "386");
	} else {
		lower_copy(p.architecture, sizeof(p.architecture), u.machine, strlen(u.machine));
	}
	oci_platform_normalize(&p);
	*ret = p;
}

void hoist_platform_format(const struct hoist_platform *p, char *buf, size_t size)
{
	if (p->variant[0])
		snprintf(buf, size, "%s/%s/%s", p->os, p->architecture, p->variant);
	else
		snprintf(buf, size, "%s/%s", p->os, p->architecture);
}

bool hoist_platform_equal(const struct hoist_platform *a, const struct hoist_platform *b)
{
	struct hoist_platform x = *a, y = *b;
	oci_platform_normalize(&x);
	oci_platform_normalize(&y);
	return !strcmp(x.os, y.os) && !strcmp(x.architecture, y.architecture) &&
	       !strcmp(x.variant, y.variant);
}
