/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The tar header and PAX records, encoded and decoded as bytes (tar.h says
 * why hoist does not let libarchive do it).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hoist/util.h"
#include "tar.h"

/* ustar field offsets and sizes */
enum {
	F_NAME = 0,
	L_NAME = 100,
	F_MODE = 100,
	L_MODE = 8,
	F_UID = 108,
	L_UID = 8,
	F_GID = 116,
	L_GID = 8,
	F_SIZE = 124,
	L_SIZE = 12,
	F_MTIME = 136,
	L_MTIME = 12,
	F_CHKSUM = 148,
	L_CHKSUM = 8,
	F_TYPE = 156,
	F_LINK = 157,
	L_LINK = 100,
	F_MAGIC = 257,
	F_VERSION = 263,
	F_UNAME = 265,
	F_GNAME = 297,
	F_DEVMAJOR = 329,
	L_DEVMAJOR = 8,
	F_DEVMINOR = 337,
	L_DEVMINOR = 8,
	F_PREFIX = 345,
	L_PREFIX = 155,
};

/* ---- writing ------------------------------------------------------------ */

static bool is_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

/* Largest value an octal field of n bytes holds (n-1 digits and a NUL). */
static bool fits_octal(int64_t v, size_t n)
{
	return v >= 0 && (n - 1 >= 21 || (uint64_t)v < ((uint64_t)1 << (3 * (n - 1))));
}

static void put_octal(unsigned char *f, size_t n, int64_t v)
{
	uint64_t u = fits_octal(v, n) ? (uint64_t)v : 0; /* the PAX record holds it */
	f[n - 1] = '\0';
	for (size_t i = n - 1; i-- > 0; u >>= 3)
		f[i] = (unsigned char)('0' + (u & 7));
}

/* A name field: the bytes if they fit and are ASCII (else a PAX record
 * holds them), otherwise their ASCII bytes, truncated, as Go writes it. */
static void put_name(unsigned char *f, size_t n, const char *s)
{
	size_t o = 0;
	for (; *s && o < n; s++)
		if ((unsigned char)*s < 0x80)
			f[o++] = (unsigned char)*s;
}

static void put_checksum(unsigned char *blk)
{
	unsigned sum = 0;
	memset(blk + F_CHKSUM, ' ', L_CHKSUM);
	for (size_t i = 0; i < TAR_BLOCK; i++)
		sum += blk[i];
	snprintf((char *)blk + F_CHKSUM, 7, "%06o", sum & 0777777);
	blk[F_CHKSUM + 6] = '\0';
	blk[F_CHKSUM + 7] = ' ';
}

static void ustar_block(unsigned char *blk, const char *name, char type, uint32_t mode, int64_t uid,
			int64_t gid, int64_t size, int64_t mtime, const char *link, uint32_t major,
			uint32_t minor)
{
	memset(blk, 0, TAR_BLOCK);
	put_name(blk + F_NAME, L_NAME, name);
	put_octal(blk + F_MODE, L_MODE, mode & 07777);
	put_octal(blk + F_UID, L_UID, uid);
	put_octal(blk + F_GID, L_GID, gid);
	put_octal(blk + F_SIZE, L_SIZE, size);
	put_octal(blk + F_MTIME, L_MTIME, mtime);
	blk[F_TYPE] = (unsigned char)type;
	if (link)
		put_name(blk + F_LINK, L_LINK, link);
	memcpy(blk + F_MAGIC,
	       "ustar\0"
	       "00",
	       8);
	put_octal(blk + F_DEVMAJOR, L_DEVMAJOR, major);
	put_octal(blk + F_DEVMINOR, L_DEVMINOR, minor);
	put_checksum(blk);
}

/* One record "LEN key=value\n", LEN counting the whole record. */
static size_t record_len(size_t klen, size_t vlen)
{
	size_t body = 1 + klen + 1 + vlen + 1; /* " key=value\n" */
	size_t len = body + 1;
	for (;;) {
		size_t digits = 1;
		for (size_t x = len; x >= 10; x /= 10)
			digits++;
		if (body + digits == len)
			return len;
		len = body + digits;
	}
}

static size_t put_record(unsigned char *p, const char *key, const void *val, size_t vlen)
{
	size_t klen = strlen(key), len = record_len(klen, vlen);
	int n = snprintf((char *)p, 24, "%zu ", len);
	memcpy(p + n, key, klen);
	p[n + klen] = '=';
	memcpy(p + n + klen + 1, val, vlen);
	p[len - 1] = '\n';
	return len;
}

static int cmp_xattr_name(const void *a, const void *b)
{
	return strcmp(((const struct hoist_xattr *const *)a)[0]->name,
		      ((const struct hoist_xattr *const *)b)[0]->name);
}

struct pax_plan {
	const char *path, *link;
	char num[4][24];
	const char *numkey[4];
	size_t n_num;
	size_t len; /* bytes of records */
};

static void plan(const struct hoist_entry *e, const char *name, int64_t mtime, struct pax_plan *p)
{
	int64_t size = e->type == HOIST_ENTRY_FILE ? (int64_t)e->size : 0;
	const char *link = e->type == HOIST_ENTRY_SYMLINK || e->type == HOIST_ENTRY_HARDLINK
			       ? (e->linkname ? e->linkname : "")
			       : NULL;

	memset(p, 0, sizeof(*p));
	if (strlen(name) > L_NAME || !is_ascii(name))
		p->path = name;
	if (link && (strlen(link) > L_LINK || !is_ascii(link)))
		p->link = link;
#define NUM(key, v, width)                                                                         \
	if (!fits_octal((v), (width))) {                                                           \
		snprintf(p->num[p->n_num], sizeof(p->num[0]), "%lld", (long long)(v));             \
		p->numkey[p->n_num++] = key;                                                       \
	}
	/* Go's record order is sorted by key; these are emitted sorted below. */
	NUM("gid", (int64_t)e->gid, L_GID);
	NUM("mtime", mtime, L_MTIME);
	NUM("size", size, L_SIZE);
	NUM("uid", (int64_t)e->uid, L_UID);
#undef NUM
	if (p->link)
		p->len += record_len(8, strlen(p->link));
	if (p->path)
		p->len += record_len(4, strlen(p->path));
	for (size_t i = 0; i < p->n_num; i++)
		p->len += record_len(strlen(p->numkey[i]), strlen(p->num[i]));
	for (size_t i = 0; i < e->n_xattrs; i++)
		p->len += record_len(13 + strlen(e->xattrs[i].name), e->xattrs[i].len);
}

static char *entry_name(const struct hoist_entry *e)
{
	return e->type == HOIST_ENTRY_DIR ? hoist_xasprintf("%s/", e->path)
					  : hoist_xstrdup(e->path);
}

size_t tar_header_max(const struct hoist_entry *e)
{
	_cleanup_free_ char *name = entry_name(e);
	struct pax_plan p;

	plan(e, name, 0, &p);
	/* mtime's record is at most 21 bytes more than planned with 0 */
	return TAR_BLOCK +
	       (p.len ? TAR_BLOCK + ((p.len + 64 + TAR_BLOCK - 1) & ~(size_t)(TAR_BLOCK - 1)) : 0);
}

size_t tar_header_encode(const struct hoist_entry *e, int64_t mtime, unsigned char *buf)
{
	_cleanup_free_ char *name = entry_name(e);
	int64_t size = e->type == HOIST_ENTRY_FILE ? (int64_t)e->size : 0;
	const char *link = NULL;
	struct pax_plan p;
	size_t off = 0;
	char type = '0';

	switch (e->type) {
	case HOIST_ENTRY_FILE:
		type = '0';
		break;
	case HOIST_ENTRY_HARDLINK:
		type = '1';
		link = e->linkname;
		break;
	case HOIST_ENTRY_SYMLINK:
		type = '2';
		link = e->linkname ? e->linkname : "";
		break;
	case HOIST_ENTRY_CHAR:
		type = '3';
		break;
	case HOIST_ENTRY_BLOCK:
		type = '4';
		break;
	case HOIST_ENTRY_DIR:
		type = '5';
		break;
	case HOIST_ENTRY_FIFO:
		type = '6';
		break;
	}
	plan(e, name, mtime, &p);
	if (p.len) {
		/* The PAX header's name: "dir/PaxHeaders.0/base", as Go names it. */
		_cleanup_free_ char *xname = NULL;
		const char *slash;
		size_t n = 0, w = TAR_BLOCK;
		const struct hoist_xattr **xs = NULL;
		char *trimmed = hoist_xstrdup(name);
		size_t tl = strlen(trimmed);

		if (tl > 1 && trimmed[tl - 1] == '/')
			trimmed[tl - 1] = '\0';
		slash = strrchr(trimmed, '/');
		xname = slash ? hoist_xasprintf("%.*s/PaxHeaders.0/%s", (int)(slash - trimmed),
						trimmed, slash + 1)
			      : hoist_xasprintf("PaxHeaders.0/%s", trimmed);
		free(trimmed);
		ustar_block(buf, xname, 'x', 0, 0, 0, (int64_t)p.len, 0, NULL, 0, 0);
		/* records sorted by key: SCHILY.xattr.* < gid < linkpath < mtime <
		 * path < size < uid (upper case sorts first) */
		if (e->n_xattrs) {
			xs = hoist_xcalloc(e->n_xattrs, sizeof(*xs));
			for (size_t i = 0; i < e->n_xattrs; i++)
				xs[i] = &e->xattrs[i];
			qsort(xs, e->n_xattrs, sizeof(*xs), cmp_xattr_name);
			for (size_t i = 0; i < e->n_xattrs; i++) {
				_cleanup_free_ char *k =
				    hoist_xasprintf("SCHILY.xattr.%s", xs[i]->name);
				w += put_record(buf + w, k, xs[i]->value, xs[i]->len);
			}
			free(xs);
		}
		for (; n < p.n_num && strcmp(p.numkey[n], "linkpath") < 0; n++)
			w += put_record(buf + w, p.numkey[n], p.num[n], strlen(p.num[n]));
		if (p.link)
			w += put_record(buf + w, "linkpath", p.link, strlen(p.link));
		for (; n < p.n_num && strcmp(p.numkey[n], "path") < 0; n++)
			w += put_record(buf + w, p.numkey[n], p.num[n], strlen(p.num[n]));
		if (p.path)
			w += put_record(buf + w, "path", p.path, strlen(p.path));
		for (; n < p.n_num; n++)
			w += put_record(buf + w, p.numkey[n], p.num[n], strlen(p.num[n]));
		off = (w + TAR_BLOCK - 1) & ~(size_t)(TAR_BLOCK - 1);
		memset(buf + w, 0, off - w);
	}
	ustar_block(buf + off, name, type, e->mode, e->uid, e->gid, size, mtime, link,
		    e->type == HOIST_ENTRY_CHAR || e->type == HOIST_ENTRY_BLOCK ? e->devmajor : 0,
		    e->type == HOIST_ENTRY_CHAR || e->type == HOIST_ENTRY_BLOCK ? e->devminor : 0);
	return off + TAR_BLOCK;
}

/* ---- reading ------------------------------------------------------------ */

/* A numeric field: octal digits (leading spaces or NULs, ending at a space
 * or NUL), or GNU's base-256 (high bit of the first byte set). */
static int get_number(const unsigned char *f, size_t n, int64_t *ret)
{
	uint64_t v = 0;
	size_t i = 0;

	if (f[0] & 0x80) {
		bool neg = f[0] == 0xff;
		v = neg ? 0xff : f[0] & 0x7f;
		for (i = 1; i < n; i++) {
			if (!neg && v > (UINT64_MAX >> 8))
				return -EBADMSG;
			v = (v << 8) | f[i];
		}
		if (neg) {
			/* two's complement over n bytes; only small negatives (mtimes) */
			if (n > 8)
				for (i = 1; i + 8 < n; i++)
					if (f[i] != 0xff)
						return -EBADMSG;
			*ret = (int64_t)v;
			return 0;
		}
		if (v > INT64_MAX)
			return -EBADMSG;
		*ret = (int64_t)v;
		return 0;
	}
	while (i < n && (f[i] == ' ' || f[i] == '\0'))
		i++;
	for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
		if (v > ((uint64_t)INT64_MAX >> 3))
			return -EBADMSG;
		v = (v << 3) | (uint64_t)(f[i] - '0');
	}
	for (; i < n; i++)
		if (f[i] != ' ' && f[i] != '\0')
			return -EBADMSG;
	*ret = (int64_t)v;
	return 0;
}

static void get_string(char *dst, const unsigned char *f, size_t n)
{
	size_t l = strnlen((const char *)f, n);
	memcpy(dst, f, l);
	dst[l] = '\0';
}

int tar_header_decode(const unsigned char blk[TAR_BLOCK], struct tar_raw *out, const char **msg)
{
	int64_t stored, v;
	unsigned usum = 0;
	int ssum = 0;
	size_t i;

	for (i = 0; i < TAR_BLOCK && !blk[i]; i++)
		;
	if (i == TAR_BLOCK)
		return 0;
	for (i = 0; i < TAR_BLOCK; i++) {
		unsigned char c = i >= F_CHKSUM && i < F_CHKSUM + L_CHKSUM ? ' ' : blk[i];
		usum += c;
		ssum += (signed char)c;
	}
	if (get_number(blk + F_CHKSUM, L_CHKSUM, &stored) < 0 ||
	    (stored != (int64_t)usum && stored != (int64_t)ssum)) {
		*msg = "bad header checksum (not a tar, or a damaged one)";
		return -EBADMSG;
	}
	memset(out, 0, sizeof(*out));
	out->typeflag = (char)blk[F_TYPE];
	if (memcmp(blk + F_MAGIC, "ustar\0", 6) == 0 && blk[F_PREFIX]) {
		/* POSIX ustar: the prefix field holds the leading part of the path */
		char prefix[L_PREFIX + 1];
		get_string(prefix, blk + F_PREFIX, L_PREFIX);
		size_t pl = strlen(prefix);
		memcpy(out->name, prefix, pl);
		out->name[pl] = '/';
		get_string(out->name + pl + 1, blk + F_NAME, L_NAME);
	} else {
		get_string(out->name, blk + F_NAME, L_NAME);
	}
	get_string(out->linkname, blk + F_LINK, L_LINK);
	*msg = "bad numeric field in a header";
	if (get_number(blk + F_MODE, L_MODE, &v) < 0)
		return -EBADMSG;
	out->mode = (uint32_t)(v & 07777);
	if (get_number(blk + F_UID, L_UID, &out->uid) < 0 ||
	    get_number(blk + F_GID, L_GID, &out->gid) < 0 ||
	    get_number(blk + F_SIZE, L_SIZE, &out->size) < 0 ||
	    get_number(blk + F_MTIME, L_MTIME, &out->mtime) < 0)
		return -EBADMSG;
	if (out->size < 0)
		return -EBADMSG;
	if (out->typeflag == '3' || out->typeflag == '4') {
		if (get_number(blk + F_DEVMAJOR, L_DEVMAJOR, &v) < 0 || v > UINT32_MAX)
			return -EBADMSG;
		out->devmajor = (uint32_t)v;
		if (get_number(blk + F_DEVMINOR, L_DEVMINOR, &v) < 0 || v > UINT32_MAX)
			return -EBADMSG;
		out->devminor = (uint32_t)v;
	}
	*msg = NULL;
	return 1;
}

void tar_pax_release(struct tar_pax *p)
{
	free(p->path);
	free(p->linkpath);
	for (size_t i = 0; i < p->n_xattrs; i++) {
		free(p->xattrs[i].name);
		free(p->xattrs[i].value);
	}
	free(p->xattrs);
	memset(p, 0, sizeof(*p));
}

static int parse_int(const char *v, size_t len, bool allow_fraction, int64_t *ret)
{
	char buf[32];
	char *end;
	long long x;
	const char *dot = allow_fraction ? memchr(v, '.', len) : NULL;
	size_t n = dot ? (size_t)(dot - v) : len;

	if (n == 0 || n >= sizeof(buf))
		return -EBADMSG;
	memcpy(buf, v, n);
	buf[n] = '\0';
	errno = 0;
	x = strtoll(buf, &end, 10);
	if (errno || *end || (buf[0] != '-' && (buf[0] < '0' || buf[0] > '9')))
		return -EBADMSG;
	if (dot)
		for (const char *d = dot + 1; d < v + len; d++)
			if (*d < '0' || *d > '9')
				return -EBADMSG;
	/* a negative fractional time rounds toward minus infinity */
	if (dot && x <= 0 && buf[0] == '-') {
		for (const char *d = dot + 1; d < v + len; d++)
			if (*d != '0') {
				x--;
				break;
			}
	}
	*ret = x;
	return 0;
}

static int set_string(char **dst, const char *v, size_t len, const char **msg)
{
	if (memchr(v, '\0', len)) {
		*msg = "a PAX path record holds a NUL byte";
		return -EBADMSG;
	}
	free(*dst);
	*dst = hoist_xstrndup(v, len);
	return 0;
}

static int add_xattr(struct tar_pax *p, const char *name, size_t nlen, const void *val, size_t vlen,
		     const char **msg)
{
	if (!nlen || memchr(name, '\0', nlen)) {
		*msg = "bad xattr name in a PAX record";
		return -EBADMSG;
	}
	for (size_t i = 0; i < p->n_xattrs; i++)
		if (strlen(p->xattrs[i].name) == nlen && !memcmp(p->xattrs[i].name, name, nlen)) {
			free(p->xattrs[i].value);
			p->xattrs[i].value = hoist_xmalloc(vlen + 1);
			memcpy(p->xattrs[i].value, val, vlen);
			p->xattrs[i].value[vlen] = '\0';
			p->xattrs[i].len = vlen;
			return 0;
		}
	if (p->n_xattrs >= HOIST_TAR_MAX_XATTRS) {
		*msg = "too many xattrs";
		return -E2BIG;
	}
	if (vlen > 65536) {
		*msg = "xattr value too large";
		return -E2BIG;
	}
	p->xattrs = hoist_xrealloc(p->xattrs, (p->n_xattrs + 1) * sizeof(*p->xattrs));
	p->xattrs[p->n_xattrs].name = hoist_xstrndup(name, nlen);
	p->xattrs[p->n_xattrs].value = hoist_xmalloc(vlen + 1);
	if (vlen)
		memcpy(p->xattrs[p->n_xattrs].value, val, vlen);
	p->xattrs[p->n_xattrs].value[vlen] = '\0';
	p->xattrs[p->n_xattrs].len = vlen;
	p->n_xattrs++;
	return 0;
}

/* libarchive's own xattr records: the name %-encoded, the value base64. */
static int add_libarchive_xattr(struct tar_pax *p, const char *k, size_t klen, const char *v,
				size_t vlen, const char **msg)
{
	_cleanup_free_ char *name = hoist_xmalloc(klen + 1);
	_cleanup_free_ char *val = NULL;
	size_t n = 0, val_len = 0;

	for (size_t i = 0; i < klen; i++) {
		if (k[i] == '%' && i + 2 < klen) {
			char hex[3] = {k[i + 1], k[i + 2], 0};
			char *end;
			long c = strtol(hex, &end, 16);
			if (*end) {
				*msg = "bad %-escape in a LIBARCHIVE.xattr record";
				return -EBADMSG;
			}
			name[n++] = (char)c;
			i += 2;
		} else {
			name[n++] = k[i];
		}
	}
	if (hoist_base64_decode(v, vlen, &val, &val_len) < 0) {
		*msg = "bad base64 in a LIBARCHIVE.xattr record";
		return -EBADMSG;
	}
	return add_xattr(p, name, n, val, val_len, msg);
}

int tar_pax_parse(const char *data, size_t len, struct tar_pax *p, const char **msg)
{
	size_t off = 0;

	while (off < len) {
		size_t rlen = 0, i = off;
		const char *key, *eq, *val, *end;
		int rc;

		/* Go and libarchive stop at NUL padding after the records */
		if (data[off] == '\0')
			break;
		while (i < len && data[i] >= '0' && data[i] <= '9' && i - off < 10)
			rlen = rlen * 10 + (size_t)(data[i++] - '0');
		if (i == off || i >= len || data[i] != ' ' || rlen <= i - off + 1 ||
		    rlen > len - off) {
			*msg = "malformed PAX record";
			return -EBADMSG;
		}
		key = data + i + 1;
		end = data + off + rlen - 1; /* the '\n' */
		if (*end != '\n' || !(eq = memchr(key, '=', (size_t)(end - key))) || eq == key) {
			*msg = "malformed PAX record";
			return -EBADMSG;
		}
		val = eq + 1;
		size_t klen = (size_t)(eq - key), vlen = (size_t)(end - val);
#define KEY(s) (klen == sizeof(s) - 1 && !memcmp(key, s, klen))
		rc = 0;
		if (KEY("path")) {
			rc = set_string(&p->path, val, vlen, msg);
		} else if (KEY("linkpath")) {
			rc = set_string(&p->linkpath, val, vlen, msg);
		} else if (KEY("size") || KEY("uid") || KEY("gid")) {
			int64_t x;
			if (parse_int(val, vlen, false, &x) < 0 || x < 0) {
				*msg = "bad number in a PAX record";
				return -EBADMSG;
			}
			if (KEY("size"))
				p->size = x, p->has_size = true;
			else if (KEY("uid"))
				p->uid = x, p->has_uid = true;
			else
				p->gid = x, p->has_gid = true;
		} else if (KEY("mtime")) {
			if (parse_int(val, vlen, true, &p->mtime) < 0) {
				*msg = "bad mtime in a PAX record";
				return -EBADMSG;
			}
			p->has_mtime = true;
		} else if (klen > 13 && !memcmp(key, "SCHILY.xattr.", 13)) {
			rc = add_xattr(p, key + 13, klen - 13, val, vlen, msg);
		} else if (klen > 17 && !memcmp(key, "LIBARCHIVE.xattr.", 17)) {
			rc = add_libarchive_xattr(p, key + 17, klen - 17, val, vlen, msg);
		} else if (klen >= 11 && !memcmp(key, "GNU.sparse.", 11)) {
			p->sparse = true;
		}
#undef KEY
		if (rc < 0)
			return rc;
		off += rlen;
	}
	return 0;
}
