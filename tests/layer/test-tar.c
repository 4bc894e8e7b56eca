/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The tar format hoist reads and writes itself (src/layer/tar.c): names as
 * bytes, numbers past the ustar fields, PAX and GNU extensions, and what the
 * reader refuses. Tars are made block by block here, so each case says
 * exactly which bytes it means.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hoist/layer.h"
#include "hoist/util.h"
#include "tap.h"
#include "tar.h"

static int mem_fd(const void *data, size_t len)
{
	char path[] = "/tmp/hoist-test-tar-XXXXXX";
	int fd = mkostemp(path, O_CLOEXEC);
	unlink(path);
	hoist_write_all(fd, data, len);
	lseek(fd, 0, SEEK_SET);
	return fd;
}

struct tarbuf {
	unsigned char *p;
	size_t len;
};

static void add(struct tarbuf *t, const void *data, size_t len)
{
	size_t padded = (len + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
	t->p = hoist_xrealloc(t->p, t->len + padded);
	memset(t->p + t->len, 0, padded);
	memcpy(t->p + t->len, data, len);
	t->len += padded;
}

static void add_entry(struct tarbuf *t, const struct hoist_entry *e, int64_t mtime)
{
	unsigned char *h = hoist_xmalloc(tar_header_max(e));
	size_t n = tar_header_encode(e, mtime, h);
	add(t, h, n);
	free(h);
}

static void add_end(struct tarbuf *t)
{
	static const unsigned char z[2 * TAR_BLOCK];
	add(t, z, sizeof(z));
}

/* A raw header block with a correct checksum. */
static void add_block(struct tarbuf *t, const char *name, char type, const char *size_octal,
		      const char *link)
{
	unsigned char b[TAR_BLOCK] = {0};
	unsigned sum = 0;
	snprintf((char *)b, 100, "%s", name);
	memcpy(b + 100, "0000644", 8);
	memcpy(b + 108, "0000000", 8);
	memcpy(b + 116, "0000000", 8);
	snprintf((char *)b + 124, 12, "%s", size_octal);
	memcpy(b + 136, "00000000000", 12);
	b[156] = (unsigned char)type;
	if (link)
		snprintf((char *)b + 157, 100, "%s", link);
	memcpy(b + 257, "ustar  ", 8); /* GNU magic */
	memset(b + 148, ' ', 8);
	for (size_t i = 0; i < TAR_BLOCK; i++)
		sum += b[i];
	snprintf((char *)b + 148, 8, "%06o", sum);
	add(t, b, TAR_BLOCK);
}

/* Read every entry; the last one is left in *last. Returns the reader's
 * result (0 at a proper end). */
static int read_tar(const struct tarbuf *t, struct hoist_entry *last, size_t *n_entries,
		    struct hoist_error *err)
{
	int fd = mem_fd(t->p, t->len);
	struct hoist_tar_reader *r = NULL;
	struct hoist_entry e = {0};
	int rc = hoist_tar_reader_open(fd, "t.tar", &r, err);
	size_t n = 0;

	while (rc == 0 && (rc = hoist_tar_reader_next(r, &e, err)) > 0) {
		n++;
		hoist_entry_release(last);
		hoist_entry_copy(last, &e);
		rc = 0;
	}
	hoist_entry_release(&e);
	hoist_tar_reader_free(r);
	close(fd);
	if (n_entries)
		*n_entries = n;
	return rc;
}

static void test_roundtrip(void)
{
	static const char cap[] = "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
				  "\x00\x00\x00\x00";
	char l1[] = "caf\xe9";
	char u8[] = "etc/ssl/certs/"
		    "NetLock_Arany_=Class_Gold=_F\xc5\x91tan\xc3\xbas\xc3\xadtv\xc3\xa1ny.pem";
	char longpath[400], longlink[300];
	struct hoist_xattr xs[2] = {
	    {.name = (char *)"security.capability", .value = (char *)cap, .len = sizeof(cap) - 1},
	    {.name = (char *)"user.\xe9", .value = (char *)"v", .len = 1},
	};
	struct hoist_entry in[6] = {
	    {.path = l1,
	     .type = HOIST_ENTRY_FILE,
	     .mode = 04755,
	     .uid = 3000000,
	     .gid = 7,
	     .mtime = 1700000000,
	     .size = 0,
	     .xattrs = xs,
	     .n_xattrs = 2},
	    {.path = u8, .type = HOIST_ENTRY_FILE, .mode = 0644},
	    {.path = (char *)"etc/ssl/certs/988a38cb.0",
	     .type = HOIST_ENTRY_SYMLINK,
	     .mode = 0777,
	     .linkname = u8 + 14},
	    {.path = (char *)"hl", .type = HOIST_ENTRY_HARDLINK, .mode = 0644, .linkname = u8},
	    {.path = longpath, .type = HOIST_ENTRY_DIR, .mode = 0755, .mtime = -1},
	    {.path = (char *)"sl", .type = HOIST_ENTRY_SYMLINK, .mode = 0777, .linkname = longlink},
	};
	struct tarbuf t = {0};
	struct hoist_error err = {0};
	int fd;
	struct hoist_tar_reader *r = NULL;
	struct hoist_entry e = {0};
	bool all = true;

	memset(longpath, 'p', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	for (size_t i = 99; i < sizeof(longpath) - 1; i += 100)
		longpath[i] = '/';
	memset(longlink, 'l', sizeof(longlink) - 1);
	longlink[sizeof(longlink) - 1] = '\0';
	longlink[7] = (char)0xff;
	for (size_t i = 0; i < ARRAY_SIZE(in); i++)
		add_entry(&t, &in[i], in[i].mtime);
	add_end(&t);

	fd = mem_fd(t.p, t.len);
	tap_ok(hoist_tar_reader_open(fd, "t.tar", &r, &err) == 0, "reader opens it");
	for (size_t i = 0; i < ARRAY_SIZE(in); i++) {
		int rc = hoist_tar_reader_next(r, &e, &err);
		bool same =
		    rc == 1 && !strcmp(e.path, in[i].path) && e.type == in[i].type &&
		    e.mode == in[i].mode && e.uid == in[i].uid && e.gid == in[i].gid &&
		    e.mtime == in[i].mtime && e.n_xattrs == in[i].n_xattrs &&
		    (!in[i].linkname || (e.linkname && !strcmp(e.linkname, in[i].linkname)));
		for (size_t k = 0; same && k < e.n_xattrs; k++)
			same = !strcmp(e.xattrs[k].name, in[i].xattrs[k].name) &&
			       e.xattrs[k].len == in[i].xattrs[k].len &&
			       !memcmp(e.xattrs[k].value, in[i].xattrs[k].value, e.xattrs[k].len);
		if (!same) {
			tap_diag("entry %zu differs (rc %d, %s)", i, rc, err.msg);
			all = false;
		}
	}
	tap_ok(all, "names, link targets, xattrs (binary values) and large numbers come back "
		    "byte for byte");
	tap_ok(hoist_tar_reader_next(r, &e, &err) == 0, "then the end of the archive");
	hoist_entry_release(&e);
	hoist_tar_reader_free(r);
	close(fd);
	/* the ustar fields of the non-ASCII entry hold only ASCII */
	tap_ok(t.p[156 + TAR_BLOCK * 0] == 'x', "a PAX header precedes the Latin-1 name");
	tap_ok(memmem(t.p, t.len, "path=caf\xe9\n", 10) != NULL,
	       "its path record holds the raw bytes");
	tap_ok(memmem(t.p, t.len, "hdrcharset", 10) == NULL, "and no hdrcharset record (as Go)");
	tap_ok(memmem(t.p, t.len, "uid=3000000\n", 12) != NULL, "a uid past 07777777 is a record");
	free(t.p);
}

static void test_gnu_and_ustar(void)
{
	struct tarbuf t = {0};
	struct hoist_entry e = {0};
	struct hoist_error err = {0};
	char longname[300];
	char size[16];
	size_t n;
	int rc;

	memset(longname, 'g', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	longname[5] = (char)0xe9;
	snprintf(size, sizeof(size), "%011o", (unsigned)sizeof(longname));
	add_block(&t, "././@LongLink", 'L', size, NULL);
	add(&t, longname, sizeof(longname));
	add_block(&t, "ggggg", '0', "00000000000", NULL);
	add_end(&t);
	rc = read_tar(&t, &e, &n, &err);
	tap_ok(rc == 0 && n == 1 && e.path && !strcmp(e.path, longname),
	       "a GNU long name ('L') with a non-UTF-8 byte (%s)", err.msg);
	free(t.p);
	hoist_entry_release(&e);

	/* a hard link whose header claims a size carries no data (Go's rule) */
	t = (struct tarbuf){0};
	add_block(&t, "f", '0', "00000000000", NULL);
	add_block(&t, "h", '1', "00000000012", "f");
	add_block(&t, "after", '0', "00000000000", NULL);
	add_end(&t);
	rc = read_tar(&t, &e, &n, &err);
	tap_ok(rc == 0 && n == 3 && !strcmp(e.path, "after"),
	       "a hard link's size field is not data (%s)", err.msg);
	free(t.p);
	hoist_entry_release(&e);

	/* one zero block and then the end of the stream: accepted */
	t = (struct tarbuf){0};
	add_block(&t, "f", '0', "00000000000", NULL);
	{
		static const unsigned char z[TAR_BLOCK];
		add(&t, z, sizeof(z));
	}
	rc = read_tar(&t, &e, &n, &err);
	tap_ok(rc == 0 && n == 1, "a single end block is accepted (%s)", err.msg);
	free(t.p);
	hoist_entry_release(&e);
}

static void expect(struct tarbuf *t, const char *what, const char *needle)
{
	struct hoist_entry e = {0};
	struct hoist_error err = {0};
	int rc = read_tar(t, &e, NULL, &err);
	tap_ok(rc < 0 && strstr(err.msg, needle), "refuses %s: %s", what, err.msg);
	hoist_entry_release(&e);
	free(t->p);
	*t = (struct tarbuf){0};
}

static void test_refusals(void)
{
	struct tarbuf t = {0};
	struct hoist_entry f = {.path = (char *)"f", .type = HOIST_ENTRY_FILE, .mode = 0644};

	add_entry(&t, &f, 0);
	expect(&t, "a tar cut at an entry boundary", "without its end-of-archive");

	add_entry(&t, &f, 0);
	t.p[0] = 'g'; /* checksum no longer matches */
	add_end(&t);
	expect(&t, "a header with a wrong checksum", "checksum");

	add_block(&t, "s", 'S', "00000000000", NULL);
	add_end(&t);
	expect(&t, "an old GNU sparse entry", "sparse");

	{
		const char rec[] = "22 GNU.sparse.major=1\n";
		char size[16];
		snprintf(size, sizeof(size), "%011o", (unsigned)sizeof(rec) - 1);
		add_block(&t, "PaxHeaders.0/s", 'x', size, NULL);
		add(&t, rec, sizeof(rec) - 1);
		add_entry(&t, &f, 0);
		add_end(&t);
		expect(&t, "a PAX 1.0 sparse entry", "sparse");
	}
	{
		const char rec[] = "12 path=abc\n";
		char size[16];
		snprintf(size, sizeof(size), "%011o", (unsigned)sizeof(rec) - 1);
		add_block(&t, "PaxHeaders.0/x", 'x', size, NULL);
		add(&t, rec, sizeof(rec) - 1);
		add_end(&t);
		expect(&t, "a PAX header with no entry after it", "no entry after it");
	}
	{
		const char rec[] = "99 path=abc\n";
		char size[16];
		snprintf(size, sizeof(size), "%011o", (unsigned)sizeof(rec) - 1);
		add_block(&t, "PaxHeaders.0/x", 'x', size, NULL);
		add(&t, rec, sizeof(rec) - 1);
		add_entry(&t, &f, 0);
		add_end(&t);
		expect(&t, "a PAX record whose length lies", "malformed PAX record");
	}
	{
		const char rec[] = "12 path=a\0b\n"; /* a NUL inside a path */
		char size[16];
		snprintf(size, sizeof(size), "%011o", (unsigned)sizeof(rec) - 1);
		add_block(&t, "PaxHeaders.0/x", 'x', size, NULL);
		add(&t, rec, sizeof(rec) - 1);
		add_entry(&t, &f, 0);
		add_end(&t);
		expect(&t, "a NUL byte in a PAX path", "NUL");
	}
	{
		char size[16];
		snprintf(size, sizeof(size), "%011o", (unsigned)TAR_MAX_SPECIAL + 1);
		add_block(&t, "PaxHeaders.0/x", 'x', size, NULL);
		add_end(&t);
		expect(&t, "a PAX header over 1 MiB", "limit");
	}
	add_block(&t, "../up", '0', "00000000000", NULL);
	add_end(&t);
	expect(&t, "a path above the root", "escapes the root");

	add_block(&t, "f", '0', "00000000144", NULL); /* 100 bytes, 50 present */
	t.p = hoist_xrealloc(t.p, t.len + 50);
	memset(t.p + t.len, 'x', 50);
	t.len += 50;
	expect(&t, "a tar cut inside an entry's data", "truncated");

	add_block(&t, "q", 'Q', "00000000000", NULL);
	add_end(&t);
	expect(&t, "an unknown entry type", "unsupported entry type 'Q'");
}

int main(void)
{
	tap_plan_auto();
	test_roundtrip();
	test_gnu_and_ustar();
	test_refusals();
	return tap_done();
}
