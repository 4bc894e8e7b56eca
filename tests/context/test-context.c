/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The build context walker on a temporary directory: order, exclusions,
 * exceptions inside excluded directories, symlinks, and which ignore file
 * wins.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "hoist/context.h"
#include "hoist/util.h"
#include "../tap.h"

static char tmpdir[] = "/tmp/hoist-test-context-XXXXXX";

static void put(const char *rel, const char *content)
{
	_cleanup_free_ char *p = hoist_xasprintf("%s/%s", tmpdir, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || hoist_write_all(fd, content, strlen(content)) < 0) {
		printf("Bail out! cannot write %s\n", p);
		exit(1);
	}
	close(fd);
}

static void mkd(const char *rel)
{
	_cleanup_free_ char *p = hoist_xasprintf("%s/%s", tmpdir, rel);
	if (mkdir(p, 0755) < 0) {
		printf("Bail out! cannot mkdir %s\n", p);
		exit(1);
	}
}

static void lnk(const char *target, const char *rel)
{
	_cleanup_free_ char *p = hoist_xasprintf("%s/%s", tmpdir, rel);
	if (symlink(target, p) < 0) {
		printf("Bail out! cannot symlink %s\n", p);
		exit(1);
	}
}

static int collect(const char *relpath, const struct stat *st, void *userdata)
{
	struct hoist_buf *b = userdata;
	hoist_buf_adds(b, relpath);
	if (S_ISDIR(st->st_mode))
		hoist_buf_addc(b, '/');
	else if (S_ISLNK(st->st_mode))
		hoist_buf_addc(b, '@');
	hoist_buf_addc(b, ' ');
	return 0;
}

/* Walk the context with an optional Dockerfile; compare the listing. */
static void expect(const char *dockerfile, const char *want, const char *what)
{
	struct hoist_context *ctx = NULL;
	struct hoist_error err;
	_cleanup_buf_ struct hoist_buf b = HOIST_BUF_INIT;
	_cleanup_free_ char *df = dockerfile ? hoist_xasprintf("%s/%s", tmpdir, dockerfile) : NULL;
	int r;

	hoist_buf_init(&b, 0);
	hoist_buf_adds(&b, "");
	r = hoist_context_open(tmpdir, df, &ctx, &err);
	if (!tap_ok(r == 0, "%s: open", what)) {
		tap_diag("%s", err.msg);
		return;
	}
	r = hoist_context_walk(ctx, collect, &b, &err);
	hoist_context_free(ctx);
	if (!tap_ok(r == 0, "%s: walk", what)) {
		tap_diag("%s", err.msg);
		return;
	}
	if (b.len > 0)
		b.data[--b.len] = '\0';
	if (!tap_ok(strcmp(b.data, want) == 0, "%s", what)) {
		tap_diag("got:  %s", b.data);
		tap_diag("want: %s", want);
	}
}

static void rm_rf(int dfd, const char *name)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
		int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
		struct dirent *de;
		while (d && (de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				rm_rf(dirfd(d), de->d_name);
		if (d)
			closedir(d);
		unlinkat(dfd, name, AT_REMOVEDIR);
	} else {
		unlinkat(dfd, name, 0);
	}
}

static int stop_at_b(const char *relpath, const struct stat *st, void *userdata)
{
	(void)st;
	(*(int *)userdata)++;
	return strcmp(relpath, "b") == 0 ? 42 : 0;
}

static int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

/* Walk tmpdir/rel; the listing in b. */
static int walk_into(const char *rel, struct hoist_buf *b, struct hoist_error *err)
{
	struct hoist_context *ctx = NULL;
	_cleanup_free_ char *dir = hoist_xasprintf("%s/%s", tmpdir, rel);
	hoist_buf_init(b, 0);
	hoist_buf_adds(b, "");
	int r = hoist_context_open(dir, NULL, &ctx, err);
	if (r == 0)
		r = hoist_context_walk(ctx, collect, b, err);
	hoist_context_free(ctx);
	if (b->len > 0)
		b->data[--b->len] = '\0';
	return r;
}

/*
 * More entries and directories than one batch of the walk holds (1,024
 * entries; 256 finished directories), so that listing, stat'ing and
 * visiting run over several batches, with pending excluded parents
 * crossing batch boundaries.
 */
static void test_batches(void)
{
	_cleanup_buf_ struct hoist_buf want = HOIST_BUF_INIT, want_ex = HOIST_BUF_INIT;
	_cleanup_buf_ struct hoist_buf got = HOIST_BUF_INIT;
	struct hoist_error err = {0};
	hoist_buf_init(&want, 0);
	hoist_buf_init(&want_ex, 0);
	mkd("big");
	for (int i = 0; i < 300; i++) {
		char d[64], f[96];
		snprintf(d, sizeof(d), "big/d%03d", i);
		mkd(d);
		hoist_buf_addf(&want, "d%03d/ ", i);
		for (int j = 0; j < 15; j++) {
			snprintf(f, sizeof(f), "%s/f%02d", d, j);
			put(f, "");
			hoist_buf_addf(&want, "d%03d/f%02d ", i, j);
		}
		snprintf(f, sizeof(f), "%s/sub", d);
		mkd(f);
		snprintf(f, sizeof(f), "%s/sub/x", d);
		put(f, "x");
		hoist_buf_addf(&want, "d%03d/sub/ d%03d/sub/x ", i, i);
		if (i >= 200)
			hoist_buf_addf(&want_ex, "d%03d/ d%03d/sub/ d%03d/sub/x ", i, i, i);
	}
	want.data[--want.len] = '\0';
	want_ex.data[--want_ex.len] = '\0';

	int fds = count_fds();
	int r = walk_into("big", &got, &err);
	tap_ok(r == 0 && strcmp(got.data, want.data) == 0,
	       "5,400 entries in 600 directories: every one, in order (%s)", err.msg);
	tap_ok(count_fds() == fds, "the walk leaves no directory open");

	put("big/.dockerignore", "d*\n!d2*/sub/x\n");
	hoist_buf_release(&got);
	r = walk_into("big", &got, &err);
	_cleanup_free_ char *w2 = hoist_xasprintf(".dockerignore %s", want_ex.data);
	if (!tap_ok(r == 0 && strcmp(got.data, w2) == 0,
		    "excluded parents of re-included files, over several batches (%s)", err.msg))
		tap_diag("got: %.200s", got.data);
	tap_ok(count_fds() == fds, "no directory left open after an ignore-file walk");
}

int main(void)
{
	tap_plan_auto();
	if (!mkdtemp(tmpdir))
		tap_skip_all("cannot create a temporary directory");

	mkd("a");
	put("a/x.txt", "x");
	mkd("a/sub");
	put("a/sub/y.txt", "y");
	put("a.b", "");
	put("b", "");
	mkd("docs");
	put("docs/README.md", "r");
	put("docs/secret.md", "s");
	mkd("docs/deep");
	put("docs/deep/keep.md", "k");
	mkd("empty");
	mkd("node_modules");
	mkd("node_modules/pkg");
	put("node_modules/pkg/index.js", "");
	mkd("real");
	put("real/file", "f");
	lnk("real", "link");
	lnk("/etc", "abs-link");
	put("Dockerfile", "FROM scratch\n");

	expect(NULL,
	       "Dockerfile a/ a/sub/ a/sub/y.txt a/x.txt a.b abs-link@ b docs/ docs/README.md "
	       "docs/deep/ docs/deep/keep.md docs/secret.md empty/ link@ node_modules/ "
	       "node_modules/pkg/ node_modules/pkg/index.js real/ real/file",
	       "no ignore file: everything, sorted per directory, symlinks not followed");

	put(".dockerignore", "# ignore\nnode_modules\ndocs\n!docs/README.md\n*.txt\n"
			     "**/*.txt\nlink\n.dockerignore\n");
	expect(NULL,
	       "Dockerfile a/ a/sub/ a.b abs-link@ b docs/ docs/README.md empty/ real/ real/file",
	       ".dockerignore: exclusions, an exception inside an excluded dir");

	put(".dockerignore", "docs\n!docs/deep/keep.md\n");
	expect(NULL,
	       ".dockerignore Dockerfile a/ a/sub/ a/sub/y.txt a/x.txt a.b abs-link@ b docs/ "
	       "docs/deep/ docs/deep/keep.md empty/ link@ node_modules/ node_modules/pkg/ "
	       "node_modules/pkg/index.js real/ real/file",
	       "excluded parents of a re-included file are visited first");

	put(".dockerignore", "*\n!**/*.md\n");
	expect(NULL, "docs/ docs/README.md docs/deep/ docs/deep/keep.md docs/secret.md",
	       "wildcard exception: every excluded dir is entered");

	put(".dockerignore", "*\n!real\n");
	expect(NULL, "real/ real/file", "an excluded dir without matching exception is skipped");

	put("Dockerfile.dockerignore", "*\n!b\n");
	expect("Dockerfile", "b", "<Dockerfile>.dockerignore wins over .dockerignore");
	expect(NULL, "real/ real/file", "without a Dockerfile, .dockerignore is used");

	put(".dockerignore", "[\n");
	{
		struct hoist_context *ctx = NULL;
		struct hoist_error err;
		int r = hoist_context_open(tmpdir, NULL, &ctx, &err);
		tap_ok(r == -EINVAL && err.line == 1 && strstr(err.file, ".dockerignore"),
		       "bad pattern: error with file and line (%s:%d: %s)", err.file, err.line,
		       err.msg);
	}
	put(".dockerignore", "a\n![z-a]\n");
	{
		struct hoist_context *ctx = NULL;
		struct hoist_error err;
		_cleanup_buf_ struct hoist_buf b = HOIST_BUF_INIT;
		hoist_buf_init(&b, 0);
		int r = hoist_context_open(tmpdir, NULL, &ctx, &err);
		if (r == 0)
			r = hoist_context_walk(ctx, collect, &b, &err);
		hoist_context_free(ctx);
		tap_ok(r == -EINVAL && strstr(err.msg, "'a'"),
		       "a pattern RE2 rejects fails the walk on the first path it meets (%s)",
		       err.msg);
	}
	put(".dockerignore", "");
	{
		struct hoist_context *ctx = NULL;
		struct hoist_error err;
		int count = 0, r = hoist_context_open(tmpdir, NULL, &ctx, &err);
		if (r == 0)
			r = hoist_context_walk(ctx, stop_at_b, &count, &err);
		hoist_context_free(ctx);
		tap_ok(r == 42 && count == 10, "a non-zero visit result stops the walk (%d, %d)", r,
		       count);
	}
	{
		struct hoist_context *ctx = NULL;
		struct hoist_error err;
		int r = hoist_context_open("/nonexistent/hoist", NULL, &ctx, &err);
		tap_ok(r == -ENOENT && strstr(err.msg, "/nonexistent/hoist"),
		       "a missing context names the path (%s)", err.msg);
	}

	test_batches();

	rm_rf(AT_FDCWD, tmpdir);
	return tap_done();
}
