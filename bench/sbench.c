/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The sandbox library's own cost (issue 5): hoist_sandbox_run() called N
 * times in one process on a prepared root filesystem, against a plain
 * fork+exec of the same host binary; no image loading, no CLI start-up.
 *
 * Usage: sbench STORE DIGEST N [MODE [snap]]
 *   STORE   a hoist store holding the image DIGEST (from `hoist import`)
 *   MODE    auto (default), root, subuid, single
 *   snap    instead: a RUN touching 10 files, with and without the layer;
 *   plain / sandbox: only one of the two (for perf stat / callgrind)
 * Prints "what min_ms median_ms cpu_min_ms cpu_median_ms" lines: wall time,
 * and the CPU time (user + system) of this process and every child it
 * waited for, which includes the setuid map tools, the sandbox init and
 * the command; on a loaded machine the CPU figures are the ones to
 * compare. bench/sandbox-startup.sh builds it with cc against a build
 * directory's static libraries.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hoist/oci.h"
#include "hoist/sandbox.h"
#include "hoist/store.h"
#include "hoist/util.h"

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* CPU ms of this process and its reaped descendants so far. */
static double cpu_ms(void)
{
	struct rusage self, kids;
	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &kids);
	double us = 0;
	const struct rusage *r[] = {&self, &kids};
	for (int i = 0; i < 2; i++)
		us += (double)(r[i]->ru_utime.tv_sec + r[i]->ru_stime.tv_sec) * 1e6 +
		      (double)(r[i]->ru_utime.tv_usec + r[i]->ru_stime.tv_usec);
	return us / 1e3;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void report(const char *what, double *t, double *c, int n)
{
	qsort(t, (size_t)n, sizeof(double), cmp_d);
	qsort(c, (size_t)n, sizeof(double), cmp_d);
	printf("%-28s %8.2f %8.2f %8.2f %8.2f\n", what, t[0], t[n / 2], c[0], c[n / 2]);
}

static void quiet(const char *msg, void *ud)
{
	(void)msg;
	(void)ud;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: sbench STORE DIGEST N [MODE [snap]]\n");
		return 2;
	}
	int n = (int)strtol(argv[3], NULL, 10);
	if (n < 1)
		n = 1;
	enum hoist_idmode want = HOIST_IDMODE_AUTO;
	if (argc > 4 && hoist_idmode_parse(argv[4], &want) < 0)
		return 2;
	const char *what = argc > 5 ? argv[5] : "";
	bool snap = strcmp(what, "snap") == 0;
	bool only_plain = strcmp(what, "plain") == 0, only_sandbox = strcmp(what, "sandbox") == 0;
	struct hoist_error err = {0};
	struct hoist_store *s = NULL;
	struct hoist_image img;
	struct hoist_idmap idmap;
	struct hoist_rootfs rootfs = {0};
	hoist_image_init(&img);
	if (hoist_store_open(argv[1], &s, &err) < 0 ||
	    hoist_image_load(s, argv[2], NULL, &img, &err) < 0 ||
	    hoist_idmap_detect(want, &idmap, &err) < 0) {
		fprintf(stderr, "sbench: %s\n", err.msg);
		return 1;
	}
	const json_t *ids = json_object_get(json_object_get(img.config, "rootfs"), "diff_ids");
	const char *dids[512];
	for (size_t i = 0; i < img.n_layers && i < 512; i++)
		dids[i] = json_string_value(json_array_get(ids, i));
	if (hoist_rootfs_prepare(s, &idmap, img.layers, dids, img.n_layers, &rootfs, &err) < 0) {
		fprintf(stderr, "sbench: %s\n", err.msg);
		return 1;
	}
	int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	const char *const env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
	const char *const true_argv[] = {"/bin/true", NULL};
	const char *const touch_argv[] = {
	    "/bin/sh", "-c", "for i in 0 1 2 3 4 5 6 7 8 9; do echo x >/tmp/f$i; done", NULL};
	double *t = calloc((size_t)n, sizeof(double)), *cpu = calloc((size_t)n, sizeof(double));

	printf("# identity mode %s, %d runs, min and median in ms: wall, then CPU\n",
	       hoist_idmode_name(idmap.mode), n);
	if (!snap && !only_sandbox) {
		for (int i = 0; i < n; i++) {
			double a = now_ms(), ac = cpu_ms();
			pid_t p = fork();
			if (p == 0) {
				execv("/bin/true", (char *const *)true_argv);
				_exit(127);
			}
			waitpid(p, NULL, 0);
			t[i] = now_ms() - a;
			cpu[i] = cpu_ms() - ac;
		}
		report("fork+exec /bin/true", t, cpu, n);
	}
	for (int pass = 0; !only_plain && pass < (snap ? 2 : 1); pass++) {
		for (int i = 0; i < n; i++) {
			struct hoist_sandbox_opts o;
			struct hoist_sandbox_result res;
			hoist_sandbox_opts_init(&o);
			o.rootfs = &rootfs;
			o.idmap = &idmap;
			o.argv = snap ? touch_argv : true_argv;
			o.env = env;
			o.stdout_fd = o.stderr_fd = devnull;
			o.want_layer = snap && pass == 1;
			o.layer_opts.gzip_level = 0;
			o.log = quiet;
			double a = now_ms(), ac = cpu_ms();
			if (hoist_sandbox_run(s, &o, &res, &err) < 0 || res.exit_status != 0) {
				fprintf(stderr, "sbench: run failed: %s (%d)\n", err.msg,
					res.exit_status);
				return 1;
			}
			t[i] = now_ms() - a;
			cpu[i] = cpu_ms() - ac;
		}
		report(!snap	   ? "hoist_sandbox_run /bin/true"
		       : pass == 0 ? "RUN touching 10 files"
				   : "same + layer (snapshot)",
		       t, cpu, n);
	}
	free(t);
	free(cpu);
	hoist_sandbox_cleanup();
	hoist_rootfs_release(&rootfs);
	hoist_image_release(&img);
	hoist_store_free(s);
	return 0;
}
