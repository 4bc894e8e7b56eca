/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A bounded ELF reader: just what the dynamic loader looks at to find
 * libraries (PT_INTERP, DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH) and the
 * ABI (class, byte order, machine, float ABI). Its input is image content,
 * i.e. untrusted: every offset and size is checked against the buffer with
 * overflow-safe arithmetic before it is read, and counts are capped.
 * Written from the System V gABI; <elf.h> gives the constants only (the
 * structures are decoded by hand so that any byte order works).
 */
#include <elf.h>
#include <errno.h>
#include <string.h>

#include "hoist/minimize.h"

struct reader {
	const uint8_t *p;
	size_t len;
	bool be;
	bool is64;
	const char *name;
};

/* off + n <= len, without overflow. */
static bool in_bounds(const struct reader *r, uint64_t off, uint64_t n)
{
	return off <= r->len && n <= r->len - off;
}

static uint16_t rd16(const struct reader *r, uint64_t off)
{
	const uint8_t *b = r->p + off;
	return r->be ? (uint16_t)(b[0] << 8 | b[1]) : (uint16_t)(b[1] << 8 | b[0]);
}

static uint32_t rd32(const struct reader *r, uint64_t off)
{
	const uint8_t *b = r->p + off;
	if (r->be)
		return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
	return (uint32_t)b[3] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[1] << 8 | b[0];
}

static uint64_t rd64(const struct reader *r, uint64_t off)
{
	uint64_t hi = rd32(r, r->be ? off : off + 4), lo = rd32(r, r->be ? off + 4 : off);
	return hi << 32 | lo;
}

/* An address-sized field (Elf32_Addr/Off/Word or Elf64_Addr/Off/Xword). */
static uint64_t rdw(const struct reader *r, uint64_t off)
{
	return r->is64 ? rd64(r, off) : rd32(r, off);
}

struct load {
	uint64_t vaddr, off, filesz;
};

/* Map a virtual address to a file offset through the PT_LOAD segments. */
static bool vaddr_to_off(const struct load *loads, size_t n, uint64_t addr, uint64_t *ret)
{
	for (size_t i = 0; i < n; i++)
		if (addr >= loads[i].vaddr && addr - loads[i].vaddr < loads[i].filesz) {
			*ret = loads[i].off + (addr - loads[i].vaddr);
			return true;
		}
	return false;
}

/* A NUL-terminated string at tab_off + idx, within the table and the buffer. */
static int read_str(const struct reader *r, uint64_t tab_off, uint64_t tab_size, uint64_t idx,
		    char **ret, struct hoist_error *err)
{
	if (idx >= tab_size || !in_bounds(r, tab_off, tab_size) || !in_bounds(r, tab_off + idx, 1))
		return hoist_error_set(err, -EBADMSG, "'%s': string offset %llu out of bounds",
				       r->name, (unsigned long long)idx);
	uint64_t max = tab_size - idx;
	if (max > HOIST_ELF_MAX_STRING)
		max = HOIST_ELF_MAX_STRING;
	const char *s = (const char *)r->p + tab_off + idx;
	const char *nul = memchr(s, '\0', (size_t)max);
	if (!nul)
		return hoist_error_set(err, -EBADMSG, "'%s': unterminated or too long string",
				       r->name);
	*ret = hoist_xstrndup(s, (size_t)(nul - s));
	return 0;
}

void hoist_minimize_elf_release(struct hoist_elf_info *info)
{
	if (!info)
		return;
	free(info->interp);
	free(info->soname);
	free(info->rpath);
	free(info->runpath);
	hoist_strv_release(&info->needed);
	memset(info, 0, sizeof(*info));
}

/* Where the dynamic section and its string table are in the file. */
struct dynloc {
	bool have;
	uint64_t off, size;
	bool have_str;
	uint64_t str_off, str_size;
};

/* The section-header route: SHT_DYNAMIC and the string table its sh_link names. */
static int dyn_from_sections(const struct reader *r, uint64_t shoff, uint16_t shentsize,
			     uint32_t shnum, struct dynloc *d, struct hoist_error *err)
{
	size_t min = r->is64 ? 64 : 40;
	if (shnum == 0 || shoff == 0)
		return 0;
	if (shentsize < min || shnum > HOIST_ELF_MAX_SHDRS ||
	    !in_bounds(r, shoff, (uint64_t)shentsize * shnum))
		return hoist_error_set(err, -EBADMSG, "'%s': section headers out of bounds",
				       r->name);
	for (uint32_t i = 0; i < shnum; i++) {
		uint64_t sh = shoff + (uint64_t)i * shentsize;
		if (rd32(r, sh + 4) != SHT_DYNAMIC)
			continue;
		uint64_t off = rdw(r, sh + (r->is64 ? 24 : 16));
		uint64_t size = rdw(r, sh + (r->is64 ? 32 : 20));
		uint32_t link = rd32(r, sh + (r->is64 ? 40 : 24));
		if (!in_bounds(r, off, size))
			return hoist_error_set(err, -EBADMSG, "'%s': dynamic section out of bounds",
					       r->name);
		if (!d->have) {
			d->have = true;
			d->off = off;
			d->size = size;
		}
		if (link < shnum) {
			uint64_t ls = shoff + (uint64_t)link * shentsize;
			uint64_t soff = rdw(r, ls + (r->is64 ? 24 : 16));
			uint64_t ssize = rdw(r, ls + (r->is64 ? 32 : 20));
			if (in_bounds(r, soff, ssize)) {
				d->have_str = true;
				d->str_off = soff;
				d->str_size = ssize;
			}
		}
		return 0;
	}
	return 0;
}

static int parse_dynamic(const struct reader *r, const struct dynloc *d, const struct load *loads,
			 size_t n_loads, struct hoist_elf_info *info, struct hoist_error *err)
{
	uint64_t ent = r->is64 ? 16 : 8;
	uint64_t strtab = 0, strsz = 0, soname = 0, rpath = 0, runpath = 0;
	bool have_strtab = false, have_soname = false, have_rpath = false, have_runpath = false;
	_cleanup_free_ uint64_t *needed = NULL;
	size_t n_needed = 0;
	int rc;

	if (!in_bounds(r, d->off, d->size))
		return hoist_error_set(err, -EBADMSG, "'%s': dynamic section out of bounds",
				       r->name);
	uint64_t n = d->size / ent;
	if (n > HOIST_ELF_MAX_DYN)
		return hoist_error_set(err, -EBADMSG, "'%s': dynamic section too large", r->name);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t tag = rdw(r, d->off + i * ent), val = rdw(r, d->off + i * ent + ent / 2);
		if (tag == DT_NULL)
			break;
		switch (tag) {
		case DT_NEEDED:
			if (n_needed >= HOIST_ELF_MAX_NEEDED)
				return hoist_error_set(err, -EBADMSG,
						       "'%s': more than %d DT_NEEDED entries",
						       r->name, HOIST_ELF_MAX_NEEDED);
			needed = hoist_xrealloc(needed, (n_needed + 1) * sizeof(*needed));
			needed[n_needed++] = val;
			break;
		case DT_STRTAB:
			strtab = val;
			have_strtab = true;
			break;
		case DT_STRSZ:
			strsz = val;
			break;
		case DT_SONAME:
			soname = val;
			have_soname = true;
			break;
		case DT_RPATH:
			rpath = val;
			have_rpath = true;
			break;
		case DT_RUNPATH:
			runpath = val;
			have_runpath = true;
			break;
		default:
			break;
		}
	}
	if (!n_needed && !have_soname && !have_rpath && !have_runpath)
		return 0;

	/* The string table: DT_STRTAB is an address; prefer its file offset
	 * through PT_LOAD, fall back on the section that sh_link names. */
	uint64_t str_off = 0, str_size = 0;
	bool ok = false;
	if (have_strtab && vaddr_to_off(loads, n_loads, strtab, &str_off)) {
		str_size = strsz ? strsz : (str_off < r->len ? r->len - str_off : 0);
		ok = in_bounds(r, str_off, str_size);
	}
	if (!ok && d->have_str) {
		str_off = d->str_off;
		str_size = d->str_size;
		ok = true;
	}
	if (!ok)
		return hoist_error_set(err, -EBADMSG, "'%s': dynamic string table not found",
				       r->name);
	for (size_t i = 0; i < n_needed; i++) {
		char *s;
		if ((rc = read_str(r, str_off, str_size, needed[i], &s, err)) < 0)
			return rc;
		hoist_strv_take(&info->needed, s);
	}
	if (have_soname && (rc = read_str(r, str_off, str_size, soname, &info->soname, err)) < 0)
		return rc;
	if (have_rpath && (rc = read_str(r, str_off, str_size, rpath, &info->rpath, err)) < 0)
		return rc;
	if (have_runpath && (rc = read_str(r, str_off, str_size, runpath, &info->runpath, err)) < 0)
		return rc;
	return 0;
}

int hoist_minimize_elf_parse(const void *data, size_t len, const char *name,
			     struct hoist_elf_info *ret, struct hoist_error *err)
{
	const uint8_t *p = data;
	struct reader r = {.p = p, .len = len, .name = name ? name : "<elf>"};
	struct hoist_elf_info info = {0};
	_cleanup_free_ struct load *loads = NULL;
	size_t n_loads = 0;
	struct dynloc d = {0};
	int rc;

	if (len < EI_NIDENT || memcmp(p, ELFMAG, SELFMAG) != 0)
		return hoist_error_set(err, -ENOEXEC, "'%s': not an ELF file", r.name);
	if (p[EI_CLASS] != ELFCLASS32 && p[EI_CLASS] != ELFCLASS64)
		return hoist_error_set(err, -EBADMSG, "'%s': bad ELF class %u", r.name,
				       p[EI_CLASS]);
	if (p[EI_DATA] != ELFDATA2LSB && p[EI_DATA] != ELFDATA2MSB)
		return hoist_error_set(err, -EBADMSG, "'%s': bad ELF byte order %u", r.name,
				       p[EI_DATA]);
	r.is64 = p[EI_CLASS] == ELFCLASS64;
	r.be = p[EI_DATA] == ELFDATA2MSB;
	if (len < (r.is64 ? 64u : 52u))
		return hoist_error_set(err, -EBADMSG, "'%s': truncated ELF header", r.name);

	info.elf_class = p[EI_CLASS];
	info.data = p[EI_DATA];
	info.osabi = p[EI_OSABI];
	info.type = rd16(&r, 16);
	info.machine = rd16(&r, 18);
	uint64_t phoff = rdw(&r, r.is64 ? 32 : 28);
	uint64_t shoff = rdw(&r, r.is64 ? 40 : 32);
	info.flags = rd32(&r, r.is64 ? 48 : 36);
	uint16_t phentsize = rd16(&r, r.is64 ? 54 : 42);
	uint32_t phnum = rd16(&r, r.is64 ? 56 : 44);
	uint16_t shentsize = rd16(&r, r.is64 ? 58 : 46);
	uint32_t shnum = rd16(&r, r.is64 ? 60 : 48);

	/* Extended numbering: the real counts live in section header 0. */
	if ((phnum == PN_XNUM || shnum == 0) && shoff != 0 && shentsize >= (r.is64 ? 64 : 40) &&
	    in_bounds(&r, shoff, shentsize)) {
		if (shnum == 0) {
			uint64_t s = rdw(&r, shoff + (r.is64 ? 32 : 20));
			shnum =
			    s > HOIST_ELF_MAX_SHDRS + 1u ? HOIST_ELF_MAX_SHDRS + 1u : (uint32_t)s;
		}
		if (phnum == PN_XNUM)
			phnum = rd32(&r, shoff + (r.is64 ? 44 : 28));
	}

	if (phnum > 0) {
		size_t min = r.is64 ? 56 : 32;
		if (phnum > HOIST_ELF_MAX_PHDRS)
			return hoist_error_set(err, -EBADMSG, "'%s': too many program headers",
					       r.name);
		if (phentsize < min || !in_bounds(&r, phoff, (uint64_t)phentsize * phnum))
			return hoist_error_set(err, -EBADMSG, "'%s': program headers out of bounds",
					       r.name);
	}
	for (uint32_t i = 0; i < phnum; i++) {
		uint64_t ph = phoff + (uint64_t)i * phentsize;
		uint32_t type = rd32(&r, ph);
		/* Elf64_Phdr: type, flags, offset, vaddr, paddr, filesz, memsz;
		 * Elf32_Phdr: type, offset, vaddr, paddr, filesz, memsz, flags. */
		uint64_t off = rdw(&r, ph + (r.is64 ? 8 : 4));
		uint64_t vaddr = rdw(&r, ph + (r.is64 ? 16 : 8));
		uint64_t filesz = rdw(&r, ph + (r.is64 ? 32 : 16));
		switch (type) {
		case PT_LOAD:
			loads = hoist_xrealloc(loads, (n_loads + 1) * sizeof(*loads));
			loads[n_loads++] = (struct load){vaddr, off, filesz};
			break;
		case PT_DYNAMIC:
			if (!in_bounds(&r, off, filesz)) {
				rc = hoist_error_set(err, -EBADMSG,
						     "'%s': PT_DYNAMIC out of bounds", r.name);
				goto fail;
			}
			d.have = true;
			d.off = off;
			d.size = filesz;
			break;
		case PT_INTERP:
			if (info.interp)
				break;
			if (filesz == 0 || !in_bounds(&r, off, filesz)) {
				rc = hoist_error_set(err, -EBADMSG, "'%s': PT_INTERP out of bounds",
						     r.name);
				goto fail;
			}
			if ((rc = read_str(&r, off, filesz, 0, &info.interp, err)) < 0)
				goto fail;
			break;
		default:
			break;
		}
	}
	/* The string table through sh_link, and the dynamic section itself
	 * when there are no program headers (a relocatable object). */
	{
		struct dynloc sd = {0};
		if ((rc = dyn_from_sections(&r, shoff, shentsize, shnum, &sd, err)) < 0) {
			/* Section headers are optional at run time; ignore bad
			 * ones when the program headers gave us what we need. */
			if (!d.have)
				goto fail;
			hoist_error_clear(err);
		}
		if (!d.have && sd.have) {
			d.have = true;
			d.off = sd.off;
			d.size = sd.size;
		}
		d.have_str = sd.have_str;
		d.str_off = sd.str_off;
		d.str_size = sd.str_size;
	}
	if (d.have) {
		info.dynamic = true;
		if ((rc = parse_dynamic(&r, &d, loads, n_loads, &info, err)) < 0)
			goto fail;
	}
	*ret = info;
	return 0;
fail:
	hoist_minimize_elf_release(&info);
	return rc;
}

bool hoist_minimize_elf_compatible(const struct hoist_elf_info *obj,
				   const struct hoist_elf_info *lib)
{
	if (obj->elf_class != lib->elf_class || obj->data != lib->data ||
	    obj->machine != lib->machine)
		return false;
	/* 32-bit ARM: a hard-float program cannot use a soft-float library
	 * (glibc checks the same e_flags bits when it loads). */
	if (obj->machine == EM_ARM &&
	    ((obj->flags ^ lib->flags) & (EF_ARM_ABI_FLOAT_HARD | EF_ARM_ABI_FLOAT_SOFT)) &&
	    (obj->flags & (EF_ARM_ABI_FLOAT_HARD | EF_ARM_ABI_FLOAT_SOFT)) &&
	    (lib->flags & (EF_ARM_ABI_FLOAT_HARD | EF_ARM_ABI_FLOAT_SOFT)))
		return false;
	return true;
}

const char *const *hoist_minimize_elf_triplets(const struct hoist_elf_info *info)
{
	static const char *const none[] = {NULL};
	static const char *const x86_64[] = {"x86_64-linux-gnu", NULL};
	static const char *const x32[] = {"x86_64-linux-gnux32", NULL};
	static const char *const i386[] = {"i386-linux-gnu", "i686-linux-gnu", NULL};
	static const char *const aarch64[] = {"aarch64-linux-gnu", NULL};
	static const char *const aarch64_be[] = {"aarch64_be-linux-gnu", NULL};
	static const char *const armhf[] = {"arm-linux-gnueabihf", "arm-linux-gnueabi", NULL};
	static const char *const armel[] = {"arm-linux-gnueabi", "arm-linux-gnueabihf", NULL};
	static const char *const ppc64le[] = {"powerpc64le-linux-gnu", NULL};
	static const char *const ppc64[] = {"powerpc64-linux-gnu", NULL};
	static const char *const ppc[] = {"powerpc-linux-gnu", NULL};
	static const char *const s390x[] = {"s390x-linux-gnu", NULL};
	static const char *const riscv64[] = {"riscv64-linux-gnu", NULL};
	static const char *const mips64el[] = {"mips64el-linux-gnuabi64", NULL};
	static const char *const mips64[] = {"mips64-linux-gnuabi64", NULL};
	static const char *const mipsel[] = {"mipsel-linux-gnu", NULL};
	static const char *const mips[] = {"mips-linux-gnu", NULL};
	static const char *const loong64[] = {"loongarch64-linux-gnu", NULL};
	bool is64 = info->elf_class == ELFCLASS64, be = info->data == ELFDATA2MSB;

	switch (info->machine) {
	case EM_X86_64:
		return is64 ? x86_64 : x32;
	case EM_386:
		return i386;
	case EM_AARCH64:
		return be ? aarch64_be : aarch64;
	case EM_ARM:
		return (info->flags & EF_ARM_ABI_FLOAT_SOFT) ? armel : armhf;
	case EM_PPC64:
		return be ? ppc64 : ppc64le;
	case EM_PPC:
		return ppc;
	case EM_S390:
		return is64 ? s390x : none;
	case EM_RISCV:
		return is64 ? riscv64 : none;
	case EM_MIPS:
		return is64 ? (be ? mips64 : mips64el) : (be ? mips : mipsel);
#ifdef EM_LOONGARCH
	case EM_LOONGARCH:
		return is64 ? loong64 : none;
#endif
	default:
		(void)loong64;
		return none;
	}
}
