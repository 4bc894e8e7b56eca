/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ELF reader on real host binaries, on hand-made ELF files of other
 * classes, byte orders and machines, and on malformed ones (each must fail
 * cleanly, never read out of bounds: run under ASan).
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "hoist/minimize.h"
#include "tap.h"

static int parse_file(const char *path, struct hoist_elf_info *info, struct hoist_error *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	int r = hoist_read_file_at(AT_FDCWD, path, (size_t)256 << 20, &data, &len, err);
	if (r < 0)
		return r;
	return hoist_minimize_elf_parse(data, len, path, info, err);
}

static bool has(const struct hoist_strv *v, const char *s)
{
	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->v[i], s) == 0)
			return true;
	return false;
}

/* ---- a hand-made ELF ------------------------------------------------ */

struct mk {
	uint8_t buf[1024];
	bool be, is64;
};

static void put(struct mk *m, size_t off, uint64_t v, int size)
{
	for (int i = 0; i < size; i++) {
		int shift = m->be ? (size - 1 - i) * 8 : i * 8;
		m->buf[off + (size_t)i] = (uint8_t)(v >> shift);
	}
}

/*
 * A tiny shared object: ELF header, 3 program headers (PT_LOAD covering the
 * file at vaddr 0x10000, PT_INTERP, PT_DYNAMIC), a dynamic section and its
 * string table. Returns the file size.
 */
static size_t make_elf(struct mk *m, bool is64, bool be, uint16_t machine, uint32_t flags)
{
	memset(m, 0, sizeof(*m));
	m->is64 = is64;
	m->be = be;
	int w = is64 ? 8 : 4;
	size_t ehsize = is64 ? 64 : 52, phentsize = is64 ? 56 : 32, phoff = ehsize;
	size_t interp_off = 0x200, str_off = 0x240, dyn_off = 0x300;
	const char strs[] = "\0libfoo.so.1\0libbar.so.2\0libme.so.0\0$ORIGIN/../lib\0";
	const char interp[] = "/lib/ld-linux-armhf.so.3";

	memcpy(m->buf, ELFMAG, SELFMAG);
	m->buf[EI_CLASS] = is64 ? ELFCLASS64 : ELFCLASS32;
	m->buf[EI_DATA] = be ? ELFDATA2MSB : ELFDATA2LSB;
	m->buf[EI_VERSION] = EV_CURRENT;
	put(m, 16, ET_DYN, 2);
	put(m, 18, machine, 2);
	put(m, 20, EV_CURRENT, 4);
	put(m, is64 ? 32 : 28, phoff, w);
	put(m, is64 ? 40 : 32, 0, w); /* no section headers */
	put(m, is64 ? 48 : 36, flags, 4);
	put(m, is64 ? 52 : 40, ehsize, 2);
	put(m, is64 ? 54 : 42, phentsize, 2);
	put(m, is64 ? 56 : 44, 3, 2);

	uint32_t types[3] = {PT_LOAD, PT_INTERP, PT_DYNAMIC};
	uint64_t offs[3] = {0, interp_off, dyn_off},
		 sizes[3] = {sizeof(m->buf), sizeof(interp), 6 * 2 * (uint64_t)w};
	for (int i = 0; i < 3; i++) {
		size_t ph = phoff + (size_t)i * phentsize;
		put(m, ph, types[i], 4);
		put(m, ph + (is64 ? 8 : 4), offs[i], w);
		put(m, ph + (is64 ? 16 : 8), 0x10000 + offs[i], w);
		put(m, ph + (is64 ? 32 : 16), sizes[i], w);
	}
	memcpy(m->buf + interp_off, interp, sizeof(interp));
	memcpy(m->buf + str_off, strs, sizeof(strs));
	uint64_t dyn[][2] = {{DT_NEEDED, 1},
			     {DT_NEEDED, 13},
			     {DT_SONAME, 25},
			     {DT_RUNPATH, 36},
			     {DT_STRTAB, 0x10000 + str_off},
			     {DT_STRSZ, sizeof(strs)}};
	for (size_t i = 0; i < ARRAY_SIZE(dyn); i++) {
		put(m, dyn_off + i * 2 * (size_t)w, dyn[i][0], w);
		put(m, dyn_off + i * 2 * (size_t)w + (size_t)w, dyn[i][1], w);
	}
	return sizeof(m->buf);
}

static void test_host(void)
{
	struct hoist_elf_info info = {0};
	struct hoist_error err = {0};
	int r = parse_file("/bin/ls", &info, &err);
	tap_ok(r == 0, "/bin/ls parses (%s)", err.msg);
	tap_ok(info.interp && strstr(info.interp, "ld-"), "/bin/ls has an interpreter (%s)",
	       info.interp ? info.interp : "none");
	tap_ok(has(&info.needed, "libc.so.6"), "/bin/ls needs libc.so.6");
	const char *const *t = hoist_minimize_elf_triplets(&info);
	tap_diag("machine %u class %u triplet %s", info.machine, info.elf_class,
		 t[0] ? t[0] : "none");
	hoist_minimize_elf_release(&info);

	const char *libc = NULL;
	static const char *const libcs[] = {"/usr/lib/x86_64-linux-gnu/libc.so.6",
					    "/lib/x86_64-linux-gnu/libc.so.6",
					    "/usr/lib/aarch64-linux-gnu/libc.so.6"};
	for (size_t i = 0; i < ARRAY_SIZE(libcs); i++)
		if (access(libcs[i], R_OK) == 0) {
			libc = libcs[i];
			break;
		}
	if (!libc) {
		tap_ok(true, "# SKIP no multiarch libc.so.6 on this host");
		return;
	}
	r = parse_file(libc, &info, &err);
	tap_ok(r == 0 && info.soname && strcmp(info.soname, "libc.so.6") == 0,
	       "%s has soname libc.so.6", libc);
	tap_ok(r == 0 && info.type == ET_DYN, "libc is ET_DYN");
	hoist_minimize_elf_release(&info);
}

static void test_crafted(void)
{
	static const struct {
		bool is64, be;
		uint16_t machine;
		uint32_t flags;
		const char *what;
		const char *triplet;
	} cases[] = {
	    {true, false, EM_AARCH64, 0, "64-bit LE aarch64", "aarch64-linux-gnu"},
	    {false, false, EM_ARM, EF_ARM_ABI_FLOAT_HARD, "32-bit LE armhf", "arm-linux-gnueabihf"},
	    {true, true, EM_PPC64, 0, "64-bit BE ppc64", "powerpc64-linux-gnu"},
	    {false, true, EM_MIPS, 0, "32-bit BE mips", "mips-linux-gnu"},
	    {true, true, EM_S390, 0, "64-bit BE s390x", "s390x-linux-gnu"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct mk m;
		struct hoist_elf_info info = {0};
		struct hoist_error err = {0};
		size_t len =
		    make_elf(&m, cases[i].is64, cases[i].be, cases[i].machine, cases[i].flags);
		int r = hoist_minimize_elf_parse(m.buf, len, cases[i].what, &info, &err);
		tap_ok(r == 0, "%s parses (%s)", cases[i].what, err.msg);
		if (r < 0)
			continue;
		tap_ok(info.machine == cases[i].machine && info.needed.n == 2 &&
			   strcmp(info.needed.v[0], "libfoo.so.1") == 0 &&
			   strcmp(info.needed.v[1], "libbar.so.2") == 0,
		       "%s: DT_NEEDED libfoo.so.1, libbar.so.2", cases[i].what);
		tap_ok(info.soname && strcmp(info.soname, "libme.so.0") == 0 && info.runpath &&
			   strcmp(info.runpath, "$ORIGIN/../lib") == 0 && !info.rpath,
		       "%s: soname and runpath", cases[i].what);
		tap_ok(info.interp && strcmp(info.interp, "/lib/ld-linux-armhf.so.3") == 0,
		       "%s: interpreter", cases[i].what);
		const char *const *t = hoist_minimize_elf_triplets(&info);
		tap_ok(t[0] && strcmp(t[0], cases[i].triplet) == 0, "%s: triplet %s", cases[i].what,
		       t[0] ? t[0] : "none");
		hoist_minimize_elf_release(&info);
	}

	/* ABI matching: armhf against x86_64, against armel, against armhf. */
	struct mk a, b;
	struct hoist_elf_info hf = {0}, el = {0}, x86 = {0}, hf2 = {0};
	make_elf(&a, false, false, EM_ARM, EF_ARM_ABI_FLOAT_HARD);
	hoist_minimize_elf_parse(a.buf, sizeof(a.buf), "hf", &hf, NULL);
	hoist_minimize_elf_parse(a.buf, sizeof(a.buf), "hf2", &hf2, NULL);
	make_elf(&b, false, false, EM_ARM, EF_ARM_ABI_FLOAT_SOFT);
	hoist_minimize_elf_parse(b.buf, sizeof(b.buf), "el", &el, NULL);
	make_elf(&b, true, false, EM_X86_64, 0);
	hoist_minimize_elf_parse(b.buf, sizeof(b.buf), "x86", &x86, NULL);
	tap_ok(!hoist_minimize_elf_compatible(&hf, &x86), "armhf cannot load an x86_64 library");
	tap_ok(!hoist_minimize_elf_compatible(&hf, &el), "armhf cannot load a soft-float library");
	tap_ok(hoist_minimize_elf_compatible(&hf, &hf2), "armhf loads armhf");
	hoist_minimize_elf_release(&hf);
	hoist_minimize_elf_release(&hf2);
	hoist_minimize_elf_release(&el);
	hoist_minimize_elf_release(&x86);
}

static void expect_bad(const void *data, size_t len, int want, const char *what)
{
	struct hoist_elf_info info = {0};
	struct hoist_error err = {0};
	int r = hoist_minimize_elf_parse(data, len, what, &info, &err);
	tap_ok(r == want && err.msg[0], "%s: %s (%d)", what, err.msg, r);
	if (r == 0)
		hoist_minimize_elf_release(&info);
}

static void test_malformed(void)
{
	struct mk m;
	size_t len = make_elf(&m, true, false, EM_X86_64, 0);

	expect_bad("#!/bin/sh\n", 10, -ENOEXEC, "a script");
	expect_bad("", 0, -ENOEXEC, "empty");
	expect_bad(m.buf, 20, -EBADMSG, "truncated header");
	expect_bad(m.buf, 100, -EBADMSG, "truncated program headers");

	struct mk bad = m;
	bad.buf[EI_CLASS] = 7;
	expect_bad(bad.buf, len, -EBADMSG, "bad class");

	bad = m;
	put(&bad, 32, 0xfffffffffffffff0ull, 8); /* e_phoff far beyond, overflowing */
	expect_bad(bad.buf, len, -EBADMSG, "program header offset out of bounds");

	bad = m;
	put(&bad, 64 + 2 * 56 + 8, 5000, 8); /* PT_DYNAMIC offset past the end */
	expect_bad(bad.buf, len, -EBADMSG, "PT_DYNAMIC out of bounds");

	bad = m;
	put(&bad, 0x300 + 8, 0x7fffffff, 8); /* DT_NEEDED string index past the table */
	expect_bad(bad.buf, len, -EBADMSG, "string index out of bounds");

	bad = m;
	put(&bad, 0x300 + 5 * 16 + 8, 5, 8); /* DT_STRSZ ends inside "libfoo.so.1" */
	expect_bad(bad.buf, len, -EBADMSG, "unterminated string");

	bad = m;
	put(&bad, 54, 8, 2); /* e_phentsize too small */
	expect_bad(bad.buf, len, -EBADMSG, "tiny e_phentsize");

	/* A static program: no PT_DYNAMIC, so no needs and no error. */
	bad = m;
	put(&bad, 56, 1, 2);
	struct hoist_elf_info info = {0};
	int r = hoist_minimize_elf_parse(bad.buf, len, "static", &info, NULL);
	tap_ok(r == 0 && !info.dynamic && info.needed.n == 0, "static program: no DT_NEEDED");
	hoist_minimize_elf_release(&info);

	/* Every truncation of a valid file fails cleanly or parses. */
	int crashes = 0;
	for (size_t l = 0; l < len; l++) {
		struct hoist_elf_info i2 = {0};
		r = hoist_minimize_elf_parse(m.buf, l, "cut", &i2, NULL);
		if (r == 0)
			hoist_minimize_elf_release(&i2);
		else if (r != -EBADMSG && r != -ENOEXEC)
			crashes++;
	}
	tap_ok(crashes == 0, "every truncation gives a clean result");
}

int main(void)
{
	tap_plan_auto();
	test_host();
	test_crafted();
	test_malformed();
	return tap_done();
}
