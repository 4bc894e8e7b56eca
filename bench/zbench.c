/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layer compression throughput: hoist's layer writer (tar + gzip + two
 * sha256 + store commit, however many threads it uses) against plain
 * single-threaded zlib deflate at the same level on the same bytes. Issue 8's
 * target: the writer at >= 1.7x zlib's rate on 2 cores.
 *
 * Usage: zbench DIR SOURCE MB LEVEL RUNS (SOURCE: any big file, e.g. a rootfs tar)
 * Prints one line per run and tool: "TOOL RUN WALL_S MB/S CPU_S".
 * bench/run builds it with cc against the build directory's static libs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "hoist/layer.h"
#include "hoist/store.h"

#define CHUNK (1 << 20)

static double clock_s(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
static double now(void)
{
	return clock_s(CLOCK_MONOTONIC);
}
/* CPU seconds of the whole process (all threads): on a shared, loaded
 * machine wall time drifts, CPU time shows the work done. */
static double cpu(void)
{
	return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

/*
 * The input: a real root filesystem tar (Debian minbase: binaries, libraries,
 * text) repeated up to mb MiB, so deflate sees what layers hold. The same
 * bytes on every run and machine that has the same Debian snapshot.
 */
static int make_input(const char *path, const char *source, size_t mb)
{
	char *buf = malloc(CHUNK);
	int in = open(source, O_RDONLY | O_CLOEXEC);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), r = 0;
	if (!buf || in < 0 || fd < 0) {
		r = -errno;
		goto out;
	}
	for (size_t m = 0; m < mb;) {
		ssize_t n = read(in, buf, CHUNK);
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n < CHUNK) { /* wrap around: pad the chunk from the start */
			if (lseek(in, 0, SEEK_SET) < 0) {
				r = -errno;
				goto out;
			}
			continue;
		}
		if (write(fd, buf, CHUNK) != CHUNK) {
			r = -EIO;
			goto out;
		}
		m++;
	}
out:
	free(buf);
	if (in >= 0)
		close(in);
	if (fd >= 0)
		close(fd);
	return r;
}

static int run_zlib(const char *path, int level, double *ret_s)
{
	unsigned char *in = malloc(CHUNK), *out = malloc(CHUNK + 1024);
	z_stream z = {0};
	int fd = open(path, O_RDONLY | O_CLOEXEC), r = 0;
	if (!in || !out || fd < 0 ||
	    deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		r = -ENOMEM;
		goto out;
	}
	double t0 = now();
	for (;;) {
		ssize_t n = read(fd, in, CHUNK);
		if (n < 0) {
			r = -errno;
			break;
		}
		z.next_in = in;
		z.avail_in = (uInt)n;
		int flush = n == 0 ? Z_FINISH : Z_NO_FLUSH, zr;
		do {
			z.next_out = out;
			z.avail_out = CHUNK + 1024;
			zr = deflate(&z, flush);
		} while (z.avail_out == 0 || (flush == Z_FINISH && zr != Z_STREAM_END));
		if (n == 0)
			break;
	}
	*ret_s = now() - t0;
	deflateEnd(&z);
out:
	if (fd >= 0)
		close(fd);
	free(in);
	free(out);
	return r;
}

static int run_hoist(struct hoist_store *s, const char *path, int level, double *ret_s)
{
	struct hoist_layer_opts opts = {.gzip_level = level, .source_date_epoch = 0};
	struct hoist_layer_writer *w = NULL;
	struct hoist_error err = {0};
	struct hoist_descriptor desc;
	char diff_id[HOIST_DIGEST_MAX];
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;
	if (fd < 0 || fstat(fd, &st) < 0)
		return -errno;
	struct hoist_entry e = {.path = (char *)"data.bin",
				.type = HOIST_ENTRY_FILE,
				.mode = 0644,
				.size = (uint64_t)st.st_size};
	double t0 = now();
	r = hoist_layer_writer_new(s, &opts, &w, &err);
	if (r >= 0)
		r = hoist_layer_add(w, &e, fd, &err);
	if (r >= 0)
		r = hoist_layer_writer_finish(w, &desc, diff_id, &err);
	else if (w)
		hoist_layer_writer_abort(w);
	*ret_s = now() - t0;
	close(fd);
	if (r < 0)
		fprintf(stderr, "zbench: layer writer: %s\n", err.msg);
	return r;
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: zbench DIR SOURCE MB LEVEL RUNS\n");
		return 2;
	}
	const char *dir = argv[1], *source = argv[2];
	size_t mb = strtoul(argv[3], NULL, 10);
	int level = (int)strtol(argv[4], NULL, 10), runs = (int)strtol(argv[5], NULL, 10);
	char path[4096], root[4096];
	struct hoist_store *s = NULL;
	struct hoist_error err = {0};

	snprintf(path, sizeof(path), "%s/input.bin", dir);
	snprintf(root, sizeof(root), "%s/store", dir);
	mkdir(dir, 0755);
	if (make_input(path, source, mb) < 0 || hoist_store_open(root, &s, &err) < 0) {
		fprintf(stderr, "zbench: setup failed: %s\n", err.msg);
		return 1;
	}
	for (int i = 1; i <= runs; i++) {
		double tz = 0, th = 0, c0, cz, ch;
		c0 = cpu();
		if (run_zlib(path, level, &tz) < 0)
			return 1;
		cz = cpu() - c0;
		c0 = cpu();
		if (run_hoist(s, path, level, &th) < 0)
			return 1;
		ch = cpu() - c0;
		printf("zlib-1thread %d %.3f %.1f %.3f\n", i, tz, (double)mb / tz, cz);
		printf("hoist-layer %d %.3f %.1f %.3f\n", i, th, (double)mb / th, ch);
		fflush(stdout);
	}
	hoist_store_free(s);
	return 0;
}
