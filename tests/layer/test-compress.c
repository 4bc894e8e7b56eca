/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layer compression: the parallel gzip compressor gives the same bytes for
 * 1, 2 and 8 threads on awkward sizes (0 B, 1 B, one block, block + 1, ten
 * blocks) and however the input is cut into writes; gzip(1) accepts it; the
 * diffID is the sha256 of what gunzip gives; zstd round trips, through
 * libzstd and the tar reader; memory stays bounded with threads.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zstd.h>

#include "compress.h"
#include "hoist/layer.h"
#include "hoist/store.h"
#include "hoist/util.h"
#include "tap.h"
#include "tmpstore.h"

static char tmpdir[] = "/tmp/hoist-test-compress-XXXXXX";
static struct hoist_store *store;

/* Compressible but not trivial: words from a small vocabulary, some noise. */
static unsigned char *make_data(size_t len, uint32_t seed)
{
	static const char *const words[] = {"lib", "usr",  "share",	"doc", "\n",	 "ELF",
					    " ",   "0000", "copyright", "\t",  "x86_64", "/"};
	unsigned char *p = hoist_xmalloc(len ? len : 1);
	uint32_t s = seed;
	size_t i = 0;
	while (i < len) {
		s = s * 1103515245u + 12345u;
		if ((s >> 16) % 7 == 0) {
			p[i++] = (unsigned char)(s >> 8);
			continue;
		}
		const char *w = words[(s >> 16) % ARRAY_SIZE(words)];
		for (size_t k = 0; w[k] && i < len; k++)
			p[i++] = (unsigned char)w[k];
	}
	return p;
}

/* Compress data (in writes of `step` bytes) with the compressor; digest of the blob. */
static int compress_blob(enum hoist_layer_compression kind, unsigned threads, const void *data,
			 size_t len, size_t step, char digest[HOIST_DIGEST_MAX])
{
	struct hoist_error err = {0};
	struct hoist_blob_writer *b;
	struct lz *z;
	int rc = hoist_store_blob_begin(store, &b, &err);
	if (rc < 0)
		return rc;
	rc = lz_new(kind, kind == HOIST_LAYER_ZSTD ? 3 : 6, threads, b, &z, &err);
	if (rc < 0) {
		hoist_blob_writer_abort(b);
		return rc;
	}
	for (size_t off = 0; rc >= 0 && off < len; off += step)
		rc = lz_write(z, (const char *)data + off, len - off < step ? len - off : step,
			      &err);
	if (rc >= 0)
		rc = lz_finish(z, &err);
	lz_free(z);
	if (rc < 0) {
		tap_diag("compress: %s", err.msg);
		hoist_blob_writer_abort(b);
		return rc;
	}
	return hoist_blob_writer_commit(b, NULL, digest, &err);
}

/* Run argv with the blob on stdin; its stdout into out (may be NULL). Exit status. */
static int run_with_blob(const char *digest, const char *const *argv, struct hoist_buf *out)
{
	_cleanup_free_ char *path = hoist_store_blob_path(store, digest);
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		int in = open(path, O_RDONLY);
		int null = open("/dev/null", O_WRONLY);
		if (in < 0 || dup2(in, 0) < 0 || dup2(out ? pfd[1] : null, 1) < 0 ||
		    dup2(null, 2) < 0)
			_exit(126);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(pfd[1]);
	char buf[65536];
	ssize_t n;
	while ((n = read(pfd[0], buf, sizeof(buf))) > 0)
		if (out)
			hoist_buf_add(out, buf, (size_t)n);
	close(pfd[0]);
	int st;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_gzip_sizes(void)
{
	const size_t sizes[] = {0, 1, LZ_BLOCK - 1, LZ_BLOCK, LZ_BLOCK + 1, 10 * LZ_BLOCK};
	const unsigned threads[] = {1, 2, 8};
	bool have_gzip = access("/bin/gzip", X_OK) == 0;

	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		size_t len = sizes[i];
		_cleanup_free_ unsigned char *data = make_data(len, (uint32_t)i + 1);
		char ref[HOIST_DIGEST_MAX] = "", d[HOIST_DIGEST_MAX], want[HOIST_DIGEST_MAX];
		bool same = true;
		int rc = 0;

		for (size_t t = 0; t < ARRAY_SIZE(threads) && rc >= 0; t++) {
			/* Whole writes, and odd-sized ones that straddle blocks. */
			const size_t steps[] = {len ? len : 1, 7777};
			for (size_t s = 0; s < ARRAY_SIZE(steps) && rc >= 0; s++) {
				rc = compress_blob(HOIST_LAYER_GZIP, threads[t], data, len,
						   steps[s], d);
				if (rc >= 0 && !ref[0])
					memcpy(ref, d, sizeof(d));
				else if (rc >= 0 && strcmp(ref, d) != 0)
					same = false;
			}
		}
		tap_ok(rc >= 0 && same,
		       "gzip %zu bytes: same blob for 1/2/8 threads and any write size", len);
		if (!tap_ok(have_gzip, "gzip(1) is there to check the output"))
			continue;
		const char *const t_argv[] = {"gzip", "-t", NULL};
		tap_ok(rc >= 0 && run_with_blob(ref, t_argv, NULL) == 0,
		       "gzip -t accepts %zu bytes", len);
		const char *const dc_argv[] = {"gzip", "-dc", NULL};
		struct hoist_buf out = HOIST_BUF_INIT;
		int st = rc >= 0 ? run_with_blob(ref, dc_argv, &out) : -1;
		char got[HOIST_DIGEST_MAX];
		hoist_sha256_digest(data, len, want);
		hoist_sha256_digest(out.data, out.len, got);
		tap_ok(st == 0 && out.len == len && !strcmp(got, want),
		       "gzip -dc gives back the %zu bytes", len);
		hoist_buf_release(&out);
	}
}

/*
 * Incompressible blocks are stored, not deflated: text, then random bytes,
 * then text again, so stored and deflated blocks meet (and the block after
 * a stored one is primed with its raw bytes).
 */
static void test_gzip_stored(void)
{
	const size_t len = 5 * LZ_BLOCK + 12345;
	_cleanup_free_ unsigned char *data = make_data(len, 7);
	uint64_t x = 88172645463325252ull;
	const unsigned threads[] = {1, 2, 8};
	char ref[HOIST_DIGEST_MAX] = "", d[HOIST_DIGEST_MAX], want[HOIST_DIGEST_MAX],
	     got[HOIST_DIGEST_MAX];
	bool same = true;
	int rc = 0;

	for (size_t i = LZ_BLOCK / 2; i < 3 * LZ_BLOCK + LZ_BLOCK / 3; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
		data[i] = (unsigned char)(x >> 32);
	}
	for (size_t t = 0; t < ARRAY_SIZE(threads) && rc >= 0; t++) {
		rc = compress_blob(HOIST_LAYER_GZIP, threads[t], data, len, 7777, d);
		if (rc >= 0 && !ref[0])
			memcpy(ref, d, sizeof(d));
		else if (rc >= 0 && strcmp(ref, d) != 0)
			same = false;
	}
	tap_ok(rc >= 0 && same, "gzip with stored blocks: same blob for 1/2/8 threads");
	if (access("/bin/gzip", X_OK) != 0) {
		tap_ok(false, "gzip(1) is there to check the output");
		return;
	}
	const char *const dc_argv[] = {"gzip", "-dc", NULL};
	struct hoist_buf out = HOIST_BUF_INIT;
	int st = rc >= 0 ? run_with_blob(ref, dc_argv, &out) : -1;
	hoist_sha256_digest(data, len, want);
	hoist_sha256_digest(out.data, out.len, got);
	tap_ok(st == 0 && out.len == len && !strcmp(got, want),
	       "gzip -dc gives back text, random and text again");
	hoist_buf_release(&out);
	int64_t size = rc >= 0 ? hoist_store_blob_size(store, ref) : -1;
	/* ~2.83 blocks of random bytes cannot shrink; the ~2.2 blocks of text
	 * around them still compress to well under half. */
	tap_ok(size > (int64_t)(2 * LZ_BLOCK) && size < (int64_t)(4 * LZ_BLOCK),
	       "the random part is kept, the text compressed (%lld bytes)", (long long)size);
}

/* A layer with one file of `size` bytes; digest and diffID. */
static int write_layer(const struct hoist_layer_opts *o, size_t size, struct hoist_descriptor *d,
		       char diff_id[HOIST_DIGEST_MAX])
{
	struct hoist_error err = {0};
	struct hoist_layer_writer *w;
	_cleanup_free_ unsigned char *data = make_data(size, 42);
	char path[] = "/tmp/hoist-test-compress-file-XXXXXX";
	int fd = mkostemp(path, O_CLOEXEC);
	unlink(path);
	hoist_write_all(fd, data, size);
	lseek(fd, 0, SEEK_SET);
	int rc = hoist_layer_writer_new(store, o, &w, &err);
	if (rc >= 0) {
		struct hoist_entry e = {
		    .path = (char *)"big", .type = HOIST_ENTRY_FILE, .mode = 0644, .size = size};
		rc = hoist_layer_add(w, &e, fd, &err);
		if (rc < 0)
			hoist_layer_writer_abort(w);
		else
			rc = hoist_layer_writer_finish(w, d, diff_id, &err);
	}
	if (rc < 0)
		tap_diag("layer: %s", err.msg);
	close(fd);
	return rc;
}

static void test_layer_threads(void)
{
	struct hoist_descriptor d1, d2, d8;
	char i1[HOIST_DIGEST_MAX], i2[HOIST_DIGEST_MAX], i8[HOIST_DIGEST_MAX];
	struct hoist_layer_opts o = {.source_date_epoch = 0, .threads = 1};
	int rc = write_layer(&o, 5 * LZ_BLOCK + 123, &d1, i1);
	o.threads = 2;
	rc = rc < 0 ? rc : write_layer(&o, 5 * LZ_BLOCK + 123, &d2, i2);
	o.threads = 8;
	rc = rc < 0 ? rc : write_layer(&o, 5 * LZ_BLOCK + 123, &d8, i8);
	tap_ok(rc >= 0 && !strcmp(d1.digest, d2.digest) && !strcmp(d1.digest, d8.digest) &&
		   !strcmp(i1, i2) && !strcmp(i1, i8) && d1.size == d8.size,
	       "layer digest and diffID are the same for 1/2/8 threads");
	tap_ok(rc >= 0 && !strcmp(d1.media_type, HOIST_MT_OCI_LAYER_GZIP), "gzip media type");
	const char *const dc_argv[] = {"gzip", "-dc", NULL};
	struct hoist_buf out = HOIST_BUF_INIT;
	char got[HOIST_DIGEST_MAX] = "";
	int st = rc >= 0 ? run_with_blob(d1.digest, dc_argv, &out) : -1;
	hoist_sha256_digest(out.data, out.len, got);
	tap_ok(st == 0 && !strcmp(got, i1), "diffID is the sha256 of gzip -dc");
	hoist_buf_release(&out);

	/* The environment picks the count when opts do not; bad values are errors. */
	struct hoist_layer_opts z = {.source_date_epoch = 0};
	struct hoist_error err = {0};
	unsigned n = 0;
	setenv("HOIST_COMPRESS_THREADS", "3", 1);
	rc = lz_threads(&z, &n, &err);
	tap_ok(rc == 0 && n == 3, "HOIST_COMPRESS_THREADS=3 gives 3 threads");
	z.threads = 5;
	rc = lz_threads(&z, &n, &err);
	tap_ok(rc == 0 && n == 5, "opts.threads wins over the environment");
	z.threads = 0;
	setenv("HOIST_COMPRESS_THREADS", "lots", 1);
	rc = lz_threads(&z, &n, &err);
	tap_ok(rc == -EINVAL, "HOIST_COMPRESS_THREADS=lots is an error");
	unsetenv("HOIST_COMPRESS_THREADS");
	rc = lz_threads(&z, &n, &err);
	tap_ok(rc == 0 && n >= 1 && n <= HOIST_LAYER_MAX_THREADS, "default: %u threads", n);
}

/* Decompress a zstd blob with libzstd; sha256 of the result. */
static int zstd_digest(const char *digest, char out[HOIST_DIGEST_MAX])
{
	int fd = hoist_store_blob_open(store, digest, NULL);
	ZSTD_DCtx *dc = ZSTD_createDCtx();
	struct hoist_sha256 h;
	unsigned char in[65536], ob[131072];
	size_t last = 1;
	int rc = fd < 0 ? -ENOENT : 0;
	hoist_sha256_init(&h);
	while (rc == 0) {
		ssize_t n = read(fd, in, sizeof(in));
		if (n <= 0)
			break;
		ZSTD_inBuffer ib = {in, (size_t)n, 0};
		while (ib.pos < ib.size) {
			ZSTD_outBuffer obuf = {ob, sizeof(ob), 0};
			last = ZSTD_decompressStream(dc, &obuf, &ib);
			if (ZSTD_isError(last)) {
				rc = -EBADMSG;
				break;
			}
			hoist_sha256_update(&h, ob, obuf.pos);
		}
	}
	hoist_sha256_final(&h, out);
	ZSTD_freeDCtx(dc);
	if (fd >= 0)
		close(fd);
	return rc == 0 && last == 0 ? 0 : -EBADMSG;
}

static void test_zstd(void)
{
	struct hoist_descriptor d1, d2;
	char i1[HOIST_DIGEST_MAX], i2[HOIST_DIGEST_MAX], got[HOIST_DIGEST_MAX];
	struct hoist_layer_opts o = {
	    .source_date_epoch = 0, .compression = HOIST_LAYER_ZSTD, .threads = 1};
	size_t size = 3 * LZ_ZSTD_JOB + 999;
	int rc = write_layer(&o, size, &d1, i1);
	o.threads = 2;
	rc = rc < 0 ? rc : write_layer(&o, size, &d2, i2);
	tap_ok(rc >= 0 && !strcmp(d1.media_type, HOIST_MT_OCI_LAYER_ZSTD), "zstd media type");
	tap_ok(rc >= 0 && !strcmp(d1.digest, d2.digest) && !strcmp(i1, i2),
	       "zstd blob is the same for 1 and 2 threads");
	tap_ok(rc >= 0 && zstd_digest(d1.digest, got) == 0 && !strcmp(got, i1),
	       "zstd: diffID is the sha256 of the decompressed blob");

	/* The tar reader (libarchive) reads it back. */
	struct hoist_error err = {0};
	struct hoist_tar_reader *r = NULL;
	struct hoist_entry e = {0};
	int fd = rc >= 0 ? hoist_store_blob_open(store, d1.digest, NULL) : -1;
	uint64_t total = 0;
	rc = fd >= 0 ? hoist_tar_reader_open(fd, "zstd layer", &r, &err) : -1;
	if (rc >= 0 && (rc = hoist_tar_reader_next(r, &e, &err)) == 1) {
		char buf[65536];
		ssize_t n;
		while ((n = hoist_tar_reader_read(r, buf, sizeof(buf), &err)) > 0)
			total += (uint64_t)n;
	}
	tap_ok(rc == 1 && e.path && !strcmp(e.path, "big") && total == size,
	       "tar reader reads the zstd layer back (%s)", err.msg);
	hoist_entry_release(&e);
	hoist_tar_reader_free(r);
	if (fd >= 0)
		close(fd);
}

/* Peak RSS growth of compressing `mb` MiB with 8 threads, in a child. */
static long peak_growth_kib(enum hoist_layer_compression kind, size_t mb)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		struct rusage ru;
		struct hoist_error err = {0};
		struct hoist_blob_writer *b;
		struct lz *z;
		unsigned char *data = make_data(LZ_BLOCK, 7);
		char digest[HOIST_DIGEST_MAX];
		getrusage(RUSAGE_SELF, &ru);
		long before = ru.ru_maxrss;
		if (hoist_store_blob_begin(store, &b, &err) < 0 ||
		    lz_new(kind, kind == HOIST_LAYER_ZSTD ? 3 : 6, 8, b, &z, &err) < 0)
			_exit(1);
		for (size_t i = 0; i < mb; i++) {
			data[0] = (unsigned char)i; /* not all blocks alike */
			if (lz_write(z, data, LZ_BLOCK, &err) < 0)
				_exit(1);
		}
		if (lz_finish(z, &err) < 0)
			_exit(1);
		lz_free(z);
		hoist_blob_writer_commit(b, NULL, digest, &err);
		free(data);
		getrusage(RUSAGE_SELF, &ru);
		long growth = ru.ru_maxrss - before;
		(void)!write(pfd[1], &growth, sizeof(growth));
		_exit(0);
	}
	close(pfd[1]);
	long growth = -1;
	if (read(pfd[0], &growth, sizeof(growth)) != sizeof(growth))
		growth = -1;
	close(pfd[0]);
	int st;
	waitpid(pid, &st, 0);
	return growth;
}

static void test_memory(void)
{
	/* 8 threads: 16 blocks of 1 MiB in and out at most, whatever the size. */
	long g32 = peak_growth_kib(HOIST_LAYER_GZIP, 32);
	long g128 = peak_growth_kib(HOIST_LAYER_GZIP, 128);
	tap_ok(g32 >= 0 && g128 >= 0 && g128 < 64 * 1024 && g128 < g32 + 8 * 1024,
	       "gzip, 8 threads: peak RSS growth %ld KiB for 32 MiB, %ld KiB for 128 MiB", g32,
	       g128);
	long z128 = peak_growth_kib(HOIST_LAYER_ZSTD, 128);
	tap_ok(z128 >= 0 && z128 < 96 * 1024,
	       "zstd, 8 threads: peak RSS growth %ld KiB for 128 MiB", z128);
}

/* A blob of `data` as it is (a plain tar stand-in), its descriptor. */
static int put_plain(const void *data, size_t len, struct hoist_descriptor *d)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->media_type, sizeof(d->media_type), "%s", HOIST_MT_OCI_LAYER_TAR);
	d->size = (int64_t)len;
	return hoist_store_blob_put(store, data, len, d->digest, NULL);
}

static void test_recompress(void)
{
	struct hoist_descriptor g, z, gz, zg, zz, t, tz, bad;
	char ig[HOIST_DIGEST_MAX], iz[HOIST_DIGEST_MAX];
	struct hoist_error err = {0};
	struct hoist_layer_opts og = {.source_date_epoch = 0, .threads = 2};
	struct hoist_layer_opts oz = {
	    .source_date_epoch = 0, .compression = HOIST_LAYER_ZSTD, .threads = 2};
	size_t size = 2 * LZ_ZSTD_JOB + 3 * LZ_BLOCK + 77; /* several blocks and jobs */
	int rc = write_layer(&og, size, &g, ig);
	rc = rc < 0 ? rc : write_layer(&oz, size, &z, iz);
	tap_ok(rc >= 0 && !strcmp(ig, iz), "one layer written gzip and zstd: one diffID");

	oz.threads = 1;
	rc = rc < 0 ? rc : hoist_layer_recompress(store, &g, ig, &oz, &gz, &err);
	tap_ok(rc >= 0 && !strcmp(gz.digest, z.digest) && gz.size == z.size &&
		   !strcmp(gz.media_type, HOIST_MT_OCI_LAYER_ZSTD),
	       "gzip blob recompressed to zstd (1 thread): the writer's zstd blob (%s)", err.msg);
	og.threads = 8;
	rc = rc < 0 ? rc : hoist_layer_recompress(store, &z, iz, &og, &zg, &err);
	tap_ok(rc >= 0 && !strcmp(zg.digest, g.digest) &&
		   !strcmp(zg.media_type, HOIST_MT_OCI_LAYER_GZIP),
	       "zstd blob recompressed to gzip (8 threads): the writer's gzip blob (%s)", err.msg);
	rc = rc < 0 ? rc : hoist_layer_recompress(store, &z, iz, &oz, &zz, &err);
	tap_ok(rc >= 0 && !strcmp(zz.digest, z.digest), "zstd to zstd gives the same blob");

	/* A plain tar, and gzip with two members (gzip allows it). */
	_cleanup_free_ unsigned char *data = make_data(LZ_BLOCK + 5, 7);
	char id[HOIST_DIGEST_MAX], got[HOIST_DIGEST_MAX];
	hoist_sha256_digest(data, LZ_BLOCK + 5, id);
	rc = put_plain(data, LZ_BLOCK + 5, &t);
	rc = rc < 0 ? rc : hoist_layer_recompress(store, &t, id, &oz, &tz, &err);
	tap_ok(rc >= 0 && zstd_digest(tz.digest, got) == 0 && !strcmp(got, id),
	       "an uncompressed blob recompressed to zstd decompresses to it (%s)", err.msg);
	int st = -1;
	struct hoist_buf two = HOIST_BUF_INIT;
	const char *const gz_argv[] = {"sh", "-c", "head -c 1000 | gzip -n; gzip -n", NULL};
	if (rc >= 0)
		st = run_with_blob(t.digest, gz_argv, &two);
	struct hoist_descriptor m, mz;
	rc = st == 0 ? put_plain(two.data, two.len, &m) : -1;
	rc = rc < 0 ? rc : hoist_layer_recompress(store, &m, id, &oz, &mz, &err);
	tap_ok(rc >= 0 && !strcmp(mz.digest, tz.digest),
	       "a two-member gzip blob recompresses to the same zstd blob (%s)", err.msg);
	hoist_buf_release(&two);

	/* Bytes that do not hash to the diffID: refused, nothing committed. */
	memset(&err, 0, sizeof(err));
	rc = hoist_layer_recompress(store, &t, ig, &oz, &bad, &err);
	tap_ok(rc == -EBADMSG && strstr(err.msg, "decompresses to"),
	       "a blob that is not the diffID's layer is refused (%s)", err.msg);

	char v[HOIST_LAYER_VARIANT_MAX];
	struct hoist_layer_opts lv = {.compression = HOIST_LAYER_ZSTD, .zstd_level = 25};
	tap_ok(hoist_layer_variant(&og, v, NULL) == 0 && !strcmp(v, "gzip-6"),
	       "variant of the gzip default: %s", v);
	tap_ok(hoist_layer_variant(&lv, v, NULL) == 0 && !strcmp(v, "zstd-19"),
	       "variant of zstd level 25 (clamped): %s", v);
	tap_ok(hoist_layer_media_compression("application/vnd.docker.image.rootfs.diff.tar.gzip") ==
		       HOIST_LAYER_GZIP &&
		   hoist_layer_media_compression(HOIST_MT_OCI_LAYER_TAR) ==
		       HOIST_LAYER_UNCOMPRESSED &&
		   hoist_layer_media_compression(
		       "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip") < 0,
	       "media types: Docker gzip, OCI tar, foreign");
}

int main(void)
{
	tap_plan_auto();
	store = tmpstore_open(tmpdir, NULL);
	if (!store)
		return tap_done();
	test_gzip_sizes();
	test_gzip_stored();
	test_layer_threads();
	test_zstd();
	test_recompress();
	test_memory();
	tmpstore_close(store, tmpdir);
	return tap_done();
}
