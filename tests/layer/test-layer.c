/* SPDX-License-Identifier: Apache-2.0 */
/* Layer writer and tar reader: round trips, digests, determinism, limits, rejections. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "hoist/layer.h"
#include "hoist/store.h"
#include "hoist/util.h"
#include "tap.h"
#include "tmpstore.h"

static char tmpdir[] = "/tmp/hoist-test-layer-XXXXXX";
static struct hoist_store *store;

static int mem_fd(const void *data, size_t len)
{
	char path[] = "/tmp/hoist-test-mem-XXXXXX";
	int fd = mkostemp(path, O_CLOEXEC);
	unlink(path);
	hoist_write_all(fd, data, len);
	lseek(fd, 0, SEEK_SET);
	return fd;
}

static size_t count_dir(const char *sub)
{
	_cleanup_free_ char *p = hoist_xasprintf("%s/%s", tmpdir, sub);
	DIR *d = opendir(p);
	size_t n = 0;
	struct dirent *de;
	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* sha256 of the gunzipped blob. */
static void gunzip_digest(const char *digest, char out[HOIST_DIGEST_MAX], bool *ok)
{
	int fd = hoist_store_blob_open(store, digest, NULL);
	z_stream z = {0};
	unsigned char in[65536], outb[65536];
	struct hoist_sha256 h;
	int zrc = Z_OK;

	*ok = fd >= 0;
	hoist_sha256_init(&h);
	inflateInit2(&z, 15 + 16);
	while (fd >= 0 && zrc != Z_STREAM_END) {
		ssize_t n = read(fd, in, sizeof(in));
		if (n <= 0) {
			*ok = false;
			break;
		}
		z.next_in = in;
		z.avail_in = (uInt)n;
		do {
			z.next_out = outb;
			z.avail_out = sizeof(outb);
			zrc = inflate(&z, Z_NO_FLUSH);
			if (zrc != Z_OK && zrc != Z_STREAM_END) {
				*ok = false;
				goto done;
			}
			hoist_sha256_update(&h, outb, sizeof(outb) - z.avail_out);
		} while (z.avail_out == 0);
	}
done:
	inflateEnd(&z);
	hoist_sha256_final(&h, out);
	if (fd >= 0)
		close(fd);
}

struct spec {
	const char *path;
	enum hoist_entry_type type;
	uint32_t mode;
	const char *content; /* file data, or link target */
};

static const struct spec entries[] = {
    {"a", HOIST_ENTRY_DIR, 0755, NULL},
    {"a/hello", HOIST_ENTRY_FILE, 04755, "hello\n"},
    {"a/link", HOIST_ENTRY_SYMLINK, 0777, "hello"},
    {"a/hard", HOIST_ENTRY_HARDLINK, 0644, "a/hello"},
    {"a/fifo", HOIST_ENTRY_FIFO, 0600, NULL},
    {"a/null", HOIST_ENTRY_CHAR, 0666, NULL},
    {"a/x", HOIST_ENTRY_FILE, 0600, ""},
};

static int write_layer(int64_t epoch, int64_t mtime, struct hoist_descriptor *desc,
		       char diff_id[HOIST_DIGEST_MAX], struct hoist_error *err)
{
	struct hoist_layer_opts o = {0, epoch};
	struct hoist_layer_writer *w;
	int rc = hoist_layer_writer_new(store, &o, &w, err);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < ARRAY_SIZE(entries); i++) {
		struct hoist_entry e = {0};
		struct hoist_xattr x = {(char *)"user.foo", (char *)"bar", 3};
		int fd = -1;
		e.path = (char *)entries[i].path;
		e.type = entries[i].type;
		e.mode = entries[i].mode;
		e.uid = 1000;
		e.gid = 1000;
		e.mtime = mtime;
		if (e.type == HOIST_ENTRY_FILE) {
			e.size = strlen(entries[i].content);
			fd = mem_fd(entries[i].content, e.size);
		} else if (e.type == HOIST_ENTRY_SYMLINK || e.type == HOIST_ENTRY_HARDLINK) {
			e.linkname = (char *)entries[i].content;
		} else if (e.type == HOIST_ENTRY_CHAR) {
			e.devmajor = 1;
			e.devminor = 3;
		}
		if (!strcmp(e.path, "a/x")) {
			e.xattrs = &x;
			e.n_xattrs = 1;
		}
		rc = hoist_layer_add(w, &e, fd, err);
		if (fd >= 0)
			close(fd);
		if (rc < 0) {
			hoist_layer_writer_abort(w);
			return rc;
		}
	}
	if ((rc = hoist_layer_add_whiteout(w, "a/gone", err)) < 0 ||
	    (rc = hoist_layer_add_opaque(w, "b", err)) < 0) {
		hoist_layer_writer_abort(w);
		return rc;
	}
	return hoist_layer_writer_finish(w, desc, diff_id, err);
}

static void test_roundtrip(void)
{
	struct hoist_descriptor d, d2;
	char diff[HOIST_DIGEST_MAX], diff2[HOIST_DIGEST_MAX], gz[HOIST_DIGEST_MAX];
	struct hoist_error err = {0};
	struct hoist_tar_reader *r = NULL;
	struct hoist_entry e = {0};
	bool ok;
	int rc, fd;

	rc = write_layer(-1, 1234567, &d, diff, &err);
	tap_ok(rc == 0, "write a layer (%s)", err.msg);
	tap_ok(!strcmp(d.media_type, HOIST_MT_OCI_LAYER_GZIP), "media type is OCI tar+gzip");
	tap_ok(hoist_store_blob_size(store, d.digest) == d.size, "descriptor size matches blob");
	gunzip_digest(d.digest, gz, &ok);
	tap_ok(ok && !strcmp(gz, diff), "diffID is the sha256 of the gunzipped blob");
	char *data = NULL;
	size_t len = 0;
	rc = hoist_store_blob_read(store, d.digest, 1 << 20, &data, &len, &err);
	char dg[HOIST_DIGEST_MAX];
	hoist_sha256_digest(data ? data : "", len, dg);
	tap_ok(rc == 0 && !strcmp(dg, d.digest), "digest is the sha256 of the blob");
	tap_ok(len > 10 && (unsigned char)data[0] == 0x1f && data[4] == 0 && data[5] == 0 &&
		   data[6] == 0 && data[7] == 0,
	       "gzip header has mtime 0");
	free(data);

	rc = write_layer(-1, 1234567, &d2, diff2, &err);
	tap_ok(rc == 0 && !strcmp(d.digest, d2.digest) && !strcmp(diff, diff2),
	       "same entries give the same digest");

	fd = hoist_store_blob_open(store, d.digest, &err);
	rc = hoist_tar_reader_open(fd, "layer", &r, &err);
	tap_ok(rc == 0, "reader opens the blob");
	size_t i = 0;
	bool all = true;
	while ((rc = hoist_tar_reader_next(r, &e, &err)) > 0 && i < ARRAY_SIZE(entries)) {
		const struct spec *s = &entries[i++];
		if (strcmp(e.path, s->path) || e.type != s->type || e.mode != s->mode ||
		    e.uid != 1000 || e.gid != 1000 || e.mtime != 1234567) {
			tap_diag("entry %s type %d mode %o uid %u mtime %lld", e.path, e.type,
				 e.mode, e.uid, (long long)e.mtime);
			all = false;
		}
		if (e.type == HOIST_ENTRY_FILE) {
			char buf[64] = {0};
			ssize_t n = hoist_tar_reader_read(r, buf, sizeof(buf) - 1, &err);
			if (n != (ssize_t)strlen(s->content) || memcmp(buf, s->content, (size_t)n))
				all = false;
		}
		if ((e.type == HOIST_ENTRY_SYMLINK || e.type == HOIST_ENTRY_HARDLINK) &&
		    strcmp(e.linkname, s->content))
			all = false;
		if (e.type == HOIST_ENTRY_CHAR && (e.devmajor != 1 || e.devminor != 3))
			all = false;
		if (!strcmp(e.path, "a/x") &&
		    (e.n_xattrs != 1 || strcmp(e.xattrs[0].name, "user.foo") ||
		     e.xattrs[0].len != 3 || memcmp(e.xattrs[0].value, "bar", 3)))
			all = false;
	}
	tap_ok(all && i == ARRAY_SIZE(entries), "entries read back with their metadata");
	tap_ok(rc == 1 && !strcmp(e.path, "a/.wh.gone") && e.type == HOIST_ENTRY_FILE &&
		   e.size == 0,
	       "whiteout is an empty file '.wh.NAME' (%s)", e.path ? e.path : "");
	rc = hoist_tar_reader_next(r, &e, &err);
	tap_ok(rc == 1 && !strcmp(e.path, "b/.wh..wh..opq"), "opaque marker");
	rc = hoist_tar_reader_next(r, &e, &err);
	tap_ok(rc == 0, "end of archive");
	hoist_entry_release(&e);
	hoist_tar_reader_free(r);
	close(fd);

	/* SOURCE_DATE_EPOCH clamps later mtimes and keeps earlier ones */
	rc = write_layer(1000, 5000, &d, diff, &err);
	fd = hoist_store_blob_open(store, d.digest, &err);
	hoist_tar_reader_open(fd, "layer", &r, &err);
	hoist_tar_reader_next(r, &e, &err);
	tap_ok(rc == 0 && e.mtime == 1000, "mtime clamped to SOURCE_DATE_EPOCH (%lld)",
	       (long long)e.mtime);
	hoist_entry_release(&e);
	hoist_tar_reader_free(r);
	close(fd);
	rc = write_layer(1000, 500, &d, diff, &err);
	fd = hoist_store_blob_open(store, d.digest, &err);
	hoist_tar_reader_open(fd, "layer", &r, &err);
	hoist_tar_reader_next(r, &e, &err);
	tap_ok(rc == 0 && e.mtime == 500, "earlier mtime kept");
	hoist_entry_release(&e);
	hoist_tar_reader_free(r);
	close(fd);
}

static void test_abort(void)
{
	struct hoist_layer_writer *w;
	struct hoist_error err = {0};
	struct hoist_entry e = {0};
	size_t before = count_dir("blobs/sha256");
	int fd = mem_fd("short", 5);

	hoist_layer_writer_new(store, NULL, &w, &err);
	e.path = (char *)"f";
	e.type = HOIST_ENTRY_FILE;
	e.mode = 0644;
	e.size = 100;
	int rc = hoist_layer_add(w, &e, fd, &err);
	tap_ok(rc == -EIO, "content shorter than its size is -EIO (%s)", err.msg);
	hoist_layer_writer_abort(w);
	close(fd);
	tap_ok(count_dir("blobs/sha256") == before && tmpstore_count_tmp(tmpdir) == 0,
	       "abort leaves nothing in the store");

	hoist_layer_writer_new(store, NULL, &w, &err);
	e.path = (char *)"../x";
	e.size = 0;
	rc = hoist_layer_add(w, &e, -1, &err);
	tap_ok(rc == -EINVAL, "writer refuses an unclean path");
	hoist_layer_writer_abort(w);
}

static void test_memory(void)
{
	char path[] = "/tmp/hoist-test-big-XXXXXX";
	int fd = mkostemp(path, O_CLOEXEC);
	struct hoist_layer_writer *w;
	struct hoist_error err = {0};
	struct hoist_entry e = {0};
	struct hoist_descriptor d;
	char diff[HOIST_DIGEST_MAX];
	struct rusage ru0, ru1;
	uint64_t size = (uint64_t)200 << 20;

	unlink(path);
	if (ftruncate(fd, (off_t)size) < 0) {
		tap_ok(false, "ftruncate");
		return;
	}
	getrusage(RUSAGE_SELF, &ru0);
	hoist_layer_writer_new(store, NULL, &w, &err);
	e.path = (char *)"big";
	e.type = HOIST_ENTRY_FILE;
	e.mode = 0644;
	e.size = size;
	int rc = hoist_layer_add(w, &e, fd, &err);
	if (rc == 0)
		rc = hoist_layer_writer_finish(w, &d, diff, &err);
	else
		hoist_layer_writer_abort(w);
	getrusage(RUSAGE_SELF, &ru1);
	close(fd);
	tap_ok(rc == 0, "200 MB entry written (%s)", err.msg);
	tap_diag("peak RSS %ld kB before, %ld kB after", ru0.ru_maxrss, ru1.ru_maxrss);
	tap_ok(ru1.ru_maxrss - ru0.ru_maxrss < 64 * 1024, "peak RSS grew by less than 64 MB");
	if (!getenv("ASAN_OPTIONS") || !strstr(getenv("ASAN_OPTIONS"), "detect_leaks"))
		tap_ok(ru1.ru_maxrss < 64 * 1024, "peak RSS below 64 MB");
}

/* ---- reader rejections -------------------------------------------------- */

struct raw {
	const char *name;
	char type; /* 'f' file, 'h' hardlink, 'l' symlink, 'd' dir */
	const char *link;
};

/* A tar with exactly these raw names (libarchive writes them verbatim). */
static int make_tar(const struct raw *ents, size_t n, int filter, char **ret, size_t *ret_len)
{
	struct archive *a = archive_write_new();
	size_t cap = 1 << 20, used = 0;
	char *buf = hoist_xcalloc(1, cap);
	archive_write_set_format_pax_restricted(a);
	if (filter >= 0)
		archive_write_add_filter(a, filter);
	archive_write_open_memory(a, buf, cap, &used);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *ae = archive_entry_new();
		archive_entry_set_pathname(ae, ents[i].name);
		archive_entry_set_mode(ae, (ents[i].type == 'd'	  ? AE_IFDIR
					    : ents[i].type == 'l' ? AE_IFLNK
								  : AE_IFREG) |
					       0644);
		if (ents[i].type == 'h')
			archive_entry_set_hardlink(ae, ents[i].link);
		if (ents[i].type == 'l')
			archive_entry_set_symlink(ae, ents[i].link);
		archive_entry_set_size(ae, ents[i].type == 'f' ? 2 : 0);
		archive_write_header(a, ae);
		if (ents[i].type == 'f')
			archive_write_data(a, "x\n", 2);
		archive_entry_free(ae);
	}
	archive_write_close(a);
	archive_write_free(a);
	*ret = buf;
	*ret_len = used;
	return 0;
}

static int read_all(const char *data, size_t len, uint64_t max, struct hoist_error *err,
		    struct hoist_strv *paths)
{
	int fd = mem_fd(data, len);
	struct hoist_tar_reader *r = NULL;
	struct hoist_entry e = {0};
	int rc = hoist_tar_reader_open(fd, "t.tar", &r, err);
	if (rc == 0) {
		if (max)
			hoist_tar_reader_set_max_entries(r, max);
		while ((rc = hoist_tar_reader_next(r, &e, err)) > 0)
			if (paths)
				hoist_strv_push(paths, e.path);
	}
	hoist_entry_release(&e);
	hoist_tar_reader_free(r);
	close(fd);
	return rc;
}

static void expect_reject(const struct raw *ents, size_t n, const char *what, const char *needle)
{
	char *data;
	size_t len;
	struct hoist_error err = {0};
	make_tar(ents, n, -1, &data, &len);
	int rc = read_all(data, len, 0, &err, NULL);
	tap_ok(rc < 0 && strstr(err.msg, needle), "rejects %s: %s", what, err.msg);
	free(data);
}

static void test_reader(void)
{
	char *data;
	size_t len;
	struct hoist_error err = {0};
	struct hoist_strv paths = HOIST_STRV_INIT;
	int rc;

	const struct raw up[] = {{"../x", 'f', NULL}};
	expect_reject(up, 1, "'../x'", "entry '../x': path escapes the root");
	const struct raw abs_up[] = {{"/../../x", 'f', NULL}};
	expect_reject(abs_up, 1, "'/../../x'", "escapes");
	const struct raw mid_up[] = {{"a/../../x", 'f', NULL}};
	expect_reject(mid_up, 1, "'a/../../x'", "escapes");
	const struct raw hl[] = {{"a", 'f', NULL}, {"b", 'h', "../../etc/passwd"}};
	expect_reject(hl, 2, "hardlink to '../../etc/passwd'", "hardlink target escapes");
	const struct raw hlabs[] = {{"b", 'h', "/etc/passwd"}};
	expect_reject(hlabs, 1, "absolute hardlink target", "absolute hardlink");

	const struct raw ok[] = {{"./", 'd', NULL},	  {"./a/", 'd', NULL},
				 {"/a/b", 'f', NULL},	  {"a//c/./d", 'f', NULL},
				 {"a/x/../e", 'f', NULL}, {"a/l", 'l', "/etc/passwd"},
				 {"a/h", 'h', "./a/b"}};
	make_tar(ok, ARRAY_SIZE(ok), -1, &data, &len);
	rc = read_all(data, len, 0, &err, &paths);
	tap_ok(rc == 0 && paths.n == 6 && !strcmp(paths.v[0], "a") && !strcmp(paths.v[1], "a/b") &&
		   !strcmp(paths.v[2], "a/c/d") && !strcmp(paths.v[3], "a/e"),
	       "paths are cleaned and the root entry skipped (%s)", err.msg);
	hoist_strv_release(&paths);

	rc = read_all(data, len, 3, &err, NULL);
	tap_ok(rc == -E2BIG && strstr(err.msg, "more than 3 entries"), "entry limit: %s", err.msg);
	free(data);

	const int filters[] = {ARCHIVE_FILTER_GZIP, ARCHIVE_FILTER_BZIP2, ARCHIVE_FILTER_XZ,
			       ARCHIVE_FILTER_ZSTD, ARCHIVE_FILTER_NONE};
	const char *fnames[] = {"gzip", "bzip2", "xz", "zstd", "none"};
	for (size_t i = 0; i < ARRAY_SIZE(filters); i++) {
		make_tar(ok, ARRAY_SIZE(ok), filters[i], &data, &len);
		rc = read_all(data, len, 0, &err, &paths);
		tap_ok(rc == 0 && paths.n == 6, "reads %s-compressed tars (%s)", fnames[i],
		       err.msg);
		hoist_strv_release(&paths);
		if (filters[i] == ARCHIVE_FILTER_GZIP) {
			rc = read_all(data, len / 2, 0, &err, NULL);
			tap_ok(rc < 0, "rejects a truncated gzip stream: %s", err.msg);
		}
		free(data);
	}

	char long_name[5000];
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	const struct raw lng[] = {{long_name, 'f', NULL}};
	expect_reject(lng, 1, "a 5000-byte path", "longer than 4096");

	rc = read_all("this is not a tar archive at all, not even close......", 55, 0, &err, NULL);
	tap_ok(rc < 0, "rejects junk: %s", err.msg);
}

static void test_from_tar(void)
{
	char *data;
	size_t len;
	struct hoist_error err = {0};
	struct hoist_descriptor d;
	char diff[HOIST_DIGEST_MAX];
	const struct raw ok[] = {{"./", 'd', NULL},
				 {"./bin/", 'd', NULL},
				 {"./bin/sh", 'f', NULL},
				 {"./bin/ls", 'l', "sh"}};
	struct hoist_layer_opts o = {0, 100};

	make_tar(ok, ARRAY_SIZE(ok), ARCHIVE_FILTER_XZ, &data, &len);
	int fd = mem_fd(data, len);
	int rc = hoist_layer_from_tar(store, fd, "rootfs.tar.xz", &o, &d, diff, &err);
	tap_ok(rc == 0 && hoist_store_blob_exists(store, d.digest),
	       "layer from an xz rootfs tar (%s)", err.msg);
	close(fd);
	free(data);

	const struct raw bad[] = {{"bin/", 'd', NULL}, {"../evil", 'f', NULL}};
	size_t before = count_dir("blobs/sha256");
	make_tar(bad, ARRAY_SIZE(bad), -1, &data, &len);
	fd = mem_fd(data, len);
	rc = hoist_layer_from_tar(store, fd, "bad.tar", &o, &d, diff, &err);
	tap_ok(rc < 0 && count_dir("blobs/sha256") == before && tmpstore_count_tmp(tmpdir) == 0,
	       "a bad rootfs tar leaves the store as it was: %s", err.msg);
	close(fd);
	free(data);
}

/* ---- whiteout rules and the unpacker ------------------------------------ */

static void test_whiteouts(void)
{
	static const struct {
		const char *path;
		int kind; /* < 0: refused */
		const char *target;
	} cases[] = {
	    {"a/b", HOIST_WHITEOUT_NONE, NULL},
	    {".wh.x", HOIST_WHITEOUT_FILE, "x"},
	    {"a/.wh.x", HOIST_WHITEOUT_FILE, "a/x"},
	    {".wh..wh..opq", HOIST_WHITEOUT_OPAQUE, ""},
	    {"a/b/.wh..wh..opq", HOIST_WHITEOUT_OPAQUE, "a/b"},
	    {"a/.wh..wh.plnk", HOIST_WHITEOUT_META, NULL},
	    {".wh...", -EBADMSG, NULL},
	    {"a/.wh...", -EBADMSG, NULL},
	    {"a/.wh..", -EBADMSG, NULL},
	    {".wh.", -EBADMSG, NULL},
	    {"a/.wh.b/c", -EBADMSG, NULL},
	    {".wh..wh..opq/c", -EBADMSG, NULL},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct hoist_error err = {0};
		char *target = NULL;
		int k = hoist_whiteout_parse(cases[i].path, &target, &err);
		bool ok =
		    k == cases[i].kind &&
		    (k < 0 ? strstr(err.msg, "bad whiteout") != NULL
			   : (!target && !cases[i].target) ||
				 (target && cases[i].target && !strcmp(target, cases[i].target)));
		tap_ok(ok, "whiteout rule for '%s': %d '%s' %s", cases[i].path, k,
		       target ? target : "", err.msg);
		if (k >= 0)
			free(target);
	}
}

static int count_whiteout(void *ctx, int dirfd, const char *name, struct hoist_error *err)
{
	(*(int *)ctx)++;
	return 0;
}

/* hoist_layer_unpack refuses ".wh..." before any file system call: the
 * directory above its root (where the sandbox keeps every other layer's
 * tree) keeps its sentinel, and the whiteout hook is never called. */
static void test_unpack_hostile(void)
{
	char dir[] = "/tmp/hoist-test-unpack-XXXXXX";
	const struct raw bad[] = {{"d", 'd', NULL}, {"d/f", 'f', NULL}, {".wh...", 'f', NULL}};
	struct hoist_error err = {0};
	struct hoist_tar_reader *r = NULL;
	int calls = 0, rc, fd, rootfd;
	struct hoist_unpack_ops ops = {.whiteout = count_whiteout, .ctx = &calls};
	struct stat st;
	char *data, path[64];
	size_t len;

	if (!mkdtemp(dir)) {
		tap_ok(false, "mkdtemp");
		return;
	}
	snprintf(path, sizeof(path), "%s/sentinel", dir);
	close(open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
	snprintf(path, sizeof(path), "%s/root", dir);
	mkdir(path, 0755);
	rootfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	make_tar(bad, ARRAY_SIZE(bad), ARCHIVE_FILTER_GZIP, &data, &len);
	fd = mem_fd(data, len);
	rc = hoist_tar_reader_open(fd, "bad.tar.gz", &r, &err);
	if (rc == 0)
		rc = hoist_layer_unpack(r, rootfd, "bad.tar.gz", &ops, &err);
	tap_ok(rc == -EBADMSG && strstr(err.msg, "'bad.tar.gz': entry '.wh...': bad whiteout"),
	       "unpack refuses '.wh...' (%s)", err.msg);
	tap_ok(calls == 0, "the whiteout hook was never called");
	snprintf(path, sizeof(path), "%s/sentinel", dir);
	tap_ok(stat(path, &st) == 0, "the root's parent keeps its sentinel");
	snprintf(path, sizeof(path), "%s/root/d/f", dir);
	tap_ok(stat(path, &st) == 0, "entries before it were unpacked");
	hoist_tar_reader_free(r);
	close(fd);
	close(rootfd);
	free(data);
	static const char *const left[] = {"root/d/f", "root/d", "root", "sentinel"};
	for (size_t i = 0; i < ARRAY_SIZE(left); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, left[i]);
		if (remove(path) < 0)
			tap_ok(false, "cleanup '%s'", path);
	}
	rmdir(dir);
}

int main(void)
{
	tap_plan_auto();
	store = tmpstore_open(tmpdir, NULL);
	if (!store)
		return tap_done();
	test_roundtrip();
	test_abort();
	test_reader();
	test_from_tar();
	test_whiteouts();
	test_unpack_hostile();
	test_memory();
	tmpstore_close(store, tmpdir);
	return tap_done();
}
