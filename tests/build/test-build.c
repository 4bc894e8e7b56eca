/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the build module: typed instruction parsing, Go's path
 * rules and wildcards, COPY placement rules on in-memory trees, cache-key
 * stability, and the stat cache's racy-entry rule.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../src/build/build-private.h"
#include "../tap.h"
#include "hoist/instructions.h"

static char tmproot[] = "/tmp/hoist-test-build-XXXXXX";

/* ---- instructions ------------------------------------------------------ */

static int parse_df(const char *text, struct hoist_dockerfile **ret, struct hoist_error *err)
{
	struct hoist_df_ast *ast = NULL;
	int r = hoist_df_parse(text, strlen(text), "Dockerfile", &ast, err);
	if (r >= 0)
		r = hoist_dockerfile_from_ast(ast, "Dockerfile", ret, err);
	hoist_df_ast_free(ast);
	return r;
}

static void expect_error(const char *text, int line, const char *needle)
{
	struct hoist_dockerfile *df = NULL;
	struct hoist_error err = {0};
	int r = parse_df(text, &df, &err);
	tap_ok(r < 0 && err.line == line && strcmp(err.file, "Dockerfile") == 0 &&
		   strstr(err.msg, needle) != NULL,
	       "error at Dockerfile:%d containing '%s' (got r=%d %s:%d: %s)", line, needle, r,
	       err.file, err.line, err.msg);
	hoist_dockerfile_free(df);
}

static void test_instructions(void)
{
	struct hoist_dockerfile *df = NULL;
	struct hoist_error err = {0};
	int r =
	    parse_df("ARG BASE=bb\n"
		     "ARG V\n"
		     "FROM $BASE AS Build\n"
		     "COPY --from=x --chown=1:2 --chmod=755 --link --parents --exclude=*.md "
		     "--exclude=tmp a b /dst/\n"
		     "ADD --checksum=sha256:00 --keep-git-dir=false http://x/y /z\n"
		     "FROM scratch\n"
		     "COPY --link=false <<EOF <<-EOT /hd/\n"
		     "one $V\n"
		     "EOF\n"
		     "\ttwo\n"
		     "\tEOT\n"
		     "HEALTHCHECK --interval=1m30s --timeout=500ms --start-period=2s --retries=3 "
		     "CMD [\"true\"]\n"
		     "ENV A=1 B=2\n"
		     "LABEL k=v\n"
		     "CMD echo hi\n",
		     &df, &err);
	if (!tap_ok(r == 0, "a multi-stage Dockerfile parses (%s)", err.msg))
		return;
	tap_ok(df->n_meta_args == 2 && strcmp(df->meta_args[0].kvs[0].key, "BASE") == 0 &&
		   strcmp(df->meta_args[0].kvs[0].value, "bb") == 0 &&
		   df->meta_args[1].kvs[0].value == NULL,
	       "ARGs before the first FROM are global (default kept, none without)");
	tap_ok(df->n_stages == 2 && strcmp(df->stages[0].name, "build") == 0 &&
		   df->stages[1].name == NULL && df->stages[0].n_cmds == 2 &&
		   df->stages[1].n_cmds == 5,
	       "two stages, the name lower-cased, instructions split per stage");
	tap_ok(hoist_dockerfile_find_stage(df, "BUILD") == 0 &&
		   hoist_dockerfile_find_stage(df, "nope") == -1,
	       "stages are found case-insensitively");
	const struct hoist_instr *c = &df->stages[0].cmds[0];
	tap_ok(c->kind == HOIST_INSTR_COPY && strcmp(c->from, "x") == 0 &&
		   strcmp(c->chown, "1:2") == 0 && strcmp(c->chmod, "755") == 0 && c->link &&
		   c->parents && c->excludes.n == 2 && strcmp(c->excludes.v[1], "tmp") == 0 &&
		   c->srcs.n == 2 && strcmp(c->dest, "/dst/") == 0,
	       "COPY flags: string, bool and repeatable flags");
	const struct hoist_instr *a = &df->stages[0].cmds[1];
	tap_ok(a->kind == HOIST_INSTR_ADD && strcmp(a->checksum, "sha256:00") == 0 &&
		   !a->keep_git_dir,
	       "ADD --checksum and a bool flag set to false");
	const struct hoist_instr *h = &df->stages[1].cmds[0];
	tap_ok(!h->link && h->n_heredocs == 2 && strcmp(h->heredocs[0].name, "EOF") == 0 &&
		   strcmp(h->heredocs[0].content, "one $V\n") == 0 && h->heredocs[0].expand &&
		   h->heredocs[1].chomp && strcmp(h->dest, "/hd/") == 0 && h->srcs.n == 2,
	       "COPY heredocs: names, contents, chomp, the destination");
	const struct hoist_healthcheck *hc = &df->stages[1].cmds[1].health;
	tap_ok(hc->interval == 90000000000LL && hc->timeout == 500000000LL &&
		   hc->start_period == 2000000000LL && hc->retries == 3 && hc->test.n == 2 &&
		   strcmp(hc->test.v[0], "CMD") == 0,
	       "HEALTHCHECK durations and retries");
	hoist_dockerfile_free(df);

	expect_error("FROM bb\nCOPY --nope a /\n", 2, "unknown flag: nope");
	expect_error("FROM bb\n\nCOPY --chown=a --chown=b a /\n", 3, "duplicate flag");
	expect_error("FROM bb\nCOPY --link=maybe a /\n", 2, "expecting boolean value");
	expect_error("FROM bb\nRUN --from=x true\n", 2, "unknown flag: from");
	expect_error("ARG X\nCOPY a /\nFROM bb\n", 2, "no build stage in current context");
	expect_error("FROM bb AS a\nFROM bb AS A\n", 2, "duplicate stage name");
	expect_error("FROM bb AS 1x\n", 1, "invalid name for build stage");
	expect_error("FROM bb\nHEALTHCHECK --interval=10us CMD true\n", 2,
		     "cannot be less than 1ms");
	expect_error("FROM bb\nHEALTHCHECK --timeout=5 CMD true\n", 2, "invalid duration");
	expect_error("FROM bb\nCOPY onlyone\n", 2, "requires at least two arguments");
	expect_error("FROM bb\nSHELL sh -c\n", 2, "JSON form");
	expect_error("FROM bb\nONBUILD FROM x\n", 2, "isn't allowed as an ONBUILD trigger");
}

static void test_durations(void)
{
	static const struct {
		const char *in;
		int64_t ns;
		const char *out;
	} cases[] = {
	    {"1m30s", 90000000000LL, "1m30s"},
	    {"1.5h", 5400000000000LL, "1h30m0s"},
	    {"300ms", 300000000LL, "300ms"},
	    {"-2us", -2000LL, "-2\xc2\xb5s"},
	    {"0", 0, "0s"},
	    {"1m", 60000000000LL, "1m0s"},
	    {"1.5s", 1500000000LL, "1.5s"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int64_t ns = 0;
		char buf[32];
		int r = hoist_parse_duration(cases[i].in, &ns);
		hoist_format_duration(ns, buf, sizeof(buf));
		tap_ok(r == 0 && ns == cases[i].ns && strcmp(buf, cases[i].out) == 0,
		       "duration '%s' = %lld ns, printed '%s' (got %lld, '%s')", cases[i].in,
		       (long long)cases[i].ns, cases[i].out, (long long)ns, buf);
	}
	int64_t ns;
	tap_ok(hoist_parse_duration("5", &ns) == -EINVAL && hoist_parse_duration("", &ns) < 0 &&
		   hoist_parse_duration("1x", &ns) < 0 &&
		   hoist_parse_duration("99999999999h", &ns) == -ERANGE,
	       "durations: missing unit, empty, bad unit, overflow");
}

/* ---- Go's path rules ------------------------------------------------------ */

static void test_match(void)
{
	static const struct {
		const char *pat, *name;
		int want;
	} m[] = {
	    {"*.txt", "a.txt", 1},  {"*.txt", "d/a.txt", 0}, {"*/*.txt", "d/a.txt", 1},
	    {"a?c", "abc", 1},	    {"a?c", "a/c", 0},	     {"[a-c]x", "bx", 1},
	    {"[^a-c]x", "bx", 0},   {"[!a]x", "!x", 1},	     {"\\*", "*", 1},
	    {"\\*", "a", 0},	    {"d*", "dir", 1},	     {"*", "", 1},
	    {"a*b*c", "aXbYc", 1},  {"a*b", "a/b", 0},	     {"[", "a", -EINVAL},
	    {"[a-]", "a", -EINVAL},
	};
	for (size_t i = 0; i < ARRAY_SIZE(m); i++) {
		int r = go_path_match(m[i].pat, m[i].name);
		tap_ok(r == m[i].want, "match('%s', '%s') = %d (got %d)", m[i].pat, m[i].name,
		       m[i].want, r);
	}
	static const struct {
		const char *in, *out;
	} c[] = {
	    {"", "."},
	    {"/", "/"},
	    {"a/./b/", "a/b"},
	    {"/../x", "/x"},
	    {"a/../..", ".."},
	    {"//a//b", "/a/b"},
	    {"./x/./y/a.js", "x/y/a.js"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(c); i++) {
		_cleanup_free_ char *s = go_path_clean(c[i].in);
		tap_ok(strcmp(s, c[i].out) == 0, "clean('%s') = '%s' (got '%s')", c[i].in, c[i].out,
		       s);
	}
	tap_ok(has_wildcards("a/*.c") && has_wildcards("[ab]") && has_wildcards("a?") &&
		   !has_wildcards("a\\*b") && !has_wildcards("plain/path"),
	       "has_wildcards, escaped wildcards are literal");
}

/* ---- COPY on in-memory trees ----------------------------------------------- */

static struct hoist_fsnode *put(struct hoist_fstree *t, const char *path,
				enum hoist_entry_type type, uint32_t mode, const char *link)
{
	struct hoist_fsnode *dir;
	_cleanup_free_ char *copy = hoist_xasprintf("/%s", path);
	char *slash = strrchr(copy, '/');
	*slash = '\0';
	if (stage_tree_mkdir_p(t, *copy ? copy : "/", 0, 0, 0, &dir) < 0)
		return NULL;
	struct hoist_entry e = {
	    .type = type, .mode = mode, .uid = 1000, .gid = 1000, .linkname = (char *)link};
	return hoist_fstree_put(dir, slash + 1, &e, type == HOIST_ENTRY_FILE ? "/dev/null" : NULL);
}

static struct hoist_fstree *source_tree(void)
{
	struct hoist_fstree *t = hoist_fstree_new(0);
	put(t, "a.txt", HOIST_ENTRY_FILE, 0644, NULL);
	put(t, "b.txt", HOIST_ENTRY_FILE, 0600, NULL);
	put(t, "c.md", HOIST_ENTRY_FILE, 0644, NULL);
	put(t, "dir/x.txt", HOIST_ENTRY_FILE, 0644, NULL);
	put(t, "dir/sub/y.txt", HOIST_ENTRY_FILE, 0644, NULL);
	put(t, "dir/skip.md", HOIST_ENTRY_FILE, 0644, NULL);
	put(t, "x/y/a.js", HOIST_ENTRY_FILE, 0644, NULL);
	put(t, "x/b.js", HOIST_ENTRY_FILE, 0644, NULL);
	put(t, "lnk", HOIST_ENTRY_SYMLINK, 0777, "dir");
	put(t, "abs", HOIST_ENTRY_SYMLINK, 0777, "/dir/sub");
	struct hoist_fsnode *x;
	if (hoist_fstree_resolve(t, "/x", HOIST_FSTREE_FOLLOW, &x, NULL, NULL, NULL) == 0)
		x->e.mode = 0750;
	return t;
}

/* Run `COPY [--parents] srcs... dest` from a fresh source tree into a fresh tree. */
static struct hoist_fstree *do_copy(const char *const *srcs, const char *dest, bool parents,
				    const char *exclude, int *ret, char *msg, size_t msgsz)
{
	struct hoist_instr in = {.kind = HOIST_INSTR_COPY, .keyword = "COPY", .line = 7};
	struct copy_req r = {0};
	struct hoist_error err = {0};
	unsigned counter = 0;
	struct hoist_fstree *src = source_tree(), *t = hoist_fstree_new(0);
	in.parents = parents;
	r.in = &in;
	r.file = "Dockerfile";
	r.chmod = -1;
	r.from = src;
	r.from_context = true;
	r.tmpdir = tmproot;
	r.tmp_counter = &counter;
	for (; *srcs; srcs++) {
		hoist_strv_push(&r.srcs, *srcs);
		if (parents) {
			const char *piv = strstr(*srcs, "/./");
			_cleanup_free_ char *pre =
			    piv ? hoist_xstrndup(*srcs, (size_t)(piv - *srcs)) : hoist_xstrdup("");
			_cleanup_free_ char *abs = hoist_xasprintf("/%s", pre);
			_cleanup_free_ char *clean = go_path_clean(abs);
			hoist_strv_push(&r.pivots, clean + 1);
		}
	}
	if (exclude)
		hoist_strv_push(&r.excludes, exclude);
	size_t dl = strlen(dest);
	r.dest_is_dir = dest[dl - 1] == '/';
	r.dest = go_path_clean(dest);
	t->gen = 1;
	*ret = copy_run(&r, t, &err);
	snprintf(msg, msgsz, "%s:%d: %s", err.file, err.line, err.msg);
	copy_req_release(&r);
	hoist_fstree_free(src);
	return t;
}

static bool has(struct hoist_fstree *t, const char *path, enum hoist_entry_type type, uint32_t mode)
{
	struct hoist_fsnode *n;
	return hoist_fstree_resolve(t, path, 0, &n, NULL, NULL, NULL) == 0 && n->e.type == type &&
	       (mode == 0 || n->e.mode == mode) && n->e.uid == 0 && n->e.gid == 0;
}

static bool absent(struct hoist_fstree *t, const char *path)
{
	struct hoist_fsnode *n;
	return hoist_fstree_resolve(t, path, 0, &n, NULL, NULL, NULL) == -ENOENT;
}

static void test_copy_rules(void)
{
	char msg[HOIST_ERROR_MSG_MAX + 600];
	int r;
	struct hoist_fstree *t;

#define SRCS(...) ((const char *const[]){__VA_ARGS__, NULL})
	t = do_copy(SRCS("*.txt"), "/w/", false, NULL, &r, msg, sizeof(msg));
	tap_ok(r == 0 && has(t, "/w/a.txt", HOIST_ENTRY_FILE, 0644) &&
		   has(t, "/w/b.txt", HOIST_ENTRY_FILE, 0600) && absent(t, "/w/c.md") &&
		   absent(t, "/w/dir"),
	       "COPY *.txt /w/: matching files only, modes kept, owner 0:0");
	hoist_fstree_free(t);

	t = do_copy(SRCS("dir"), "/d", false, NULL, &r, msg, sizeof(msg));
	tap_ok(r == 0 && has(t, "/d/x.txt", HOIST_ENTRY_FILE, 0) &&
		   has(t, "/d/sub/y.txt", HOIST_ENTRY_FILE, 0) && absent(t, "/d/dir"),
	       "COPY dir /d: a directory source copies its contents");
	hoist_fstree_free(t);

	t = do_copy(SRCS("a.txt"), "/new/name", false, NULL, &r, msg, sizeof(msg));
	tap_ok(r == 0 && has(t, "/new/name", HOIST_ENTRY_FILE, 0644) &&
		   has(t, "/new", HOIST_ENTRY_DIR, 0755),
	       "COPY a.txt /new/name: renamed, parents made 0755");
	hoist_fstree_free(t);

	t = do_copy(SRCS("*/*.txt"), "/f/", false, NULL, &r, msg, sizeof(msg));
	tap_ok(r == 0 && has(t, "/f/x.txt", HOIST_ENTRY_FILE, 0) && absent(t, "/f/dir") &&
		   absent(t, "/f/sub"),
	       "COPY */*.txt /f/: wildcards per component, flattened");
	hoist_fstree_free(t);

	t = do_copy(SRCS("*.nomatch"), "/x/", false, NULL, &r, msg, sizeof(msg));
	tap_ok(r == 0 && absent(t, "/x/a.txt"), "a wildcard matching nothing is no error");
	hoist_fstree_free(t);

	t = do_copy(SRCS("missing.txt"), "/x/", false, NULL, &r, msg, sizeof(msg));
	tap_ok(r == -ENOENT && strstr(msg, "Dockerfile:7: ") && strstr(msg, "not found"),
	       "a missing literal source is an error at FILE:LINE (%s)", msg);
	hoist_fstree_free(t);

	t = do_copy(SRCS("../../a.txt"), "/up/", false, NULL, &r, msg, sizeof(msg));
	tap_ok(r == 0 && has(t, "/up/a.txt", HOIST_ENTRY_FILE, 0),
	       "'..' clamps at the source root");
	hoist_fstree_free(t);

	t = do_copy(SRCS("lnk/sub/y.txt", "abs/y.txt"), "/mid/", false, NULL, &r, msg, sizeof(msg));
	tap_ok(r == 0 && has(t, "/mid/y.txt", HOIST_ENTRY_FILE, 0),
	       "symlinks in the middle of a source path resolve inside the source (%s)", msg);
	hoist_fstree_free(t);

	t = do_copy(SRCS("lnk"), "/l/", false, NULL, &r, msg, sizeof(msg));
	tap_ok(r == 0 && has(t, "/l/x.txt", HOIST_ENTRY_FILE, 0),
	       "a symlink to a directory as the last component is followed");
	hoist_fstree_free(t);

	t = do_copy(SRCS("dir"), "/e/", false, "*.md", &r, msg, sizeof(msg));
	tap_ok(r == 0 && has(t, "/e/x.txt", HOIST_ENTRY_FILE, 0) && absent(t, "/e/skip.md"),
	       "--exclude=*.md drops matching entries");
	hoist_fstree_free(t);

	t = do_copy(SRCS("*"), "/e2/", false, "*.md", &r, msg, sizeof(msg));
	tap_ok(r == 0 && has(t, "/e2/a.txt", HOIST_ENTRY_FILE, 0) && absent(t, "/e2/c.md") &&
		   absent(t, "/e2/skip.md") && has(t, "/e2/x.txt", HOIST_ENTRY_FILE, 0),
	       "--exclude applies to wildcard matches themselves and below them");
	hoist_fstree_free(t);

	t = do_copy(SRCS("x/y/*.js", "dir/sub"), "/p/", true, NULL, &r, msg, sizeof(msg));
	tap_ok(r == 0 && has(t, "/p/x/y/a.js", HOIST_ENTRY_FILE, 0) &&
		   has(t, "/p/x", HOIST_ENTRY_DIR, 0750) && absent(t, "/p/x/b.js") &&
		   has(t, "/p/dir/sub/y.txt", HOIST_ENTRY_FILE, 0) && absent(t, "/p/dir/x.txt"),
	       "--parents keeps the parent directories (with their modes), wildcards too");
	hoist_fstree_free(t);

	t = do_copy(SRCS("./x/./y/a.js"), "/piv/", true, NULL, &r, msg, sizeof(msg));
	tap_ok(r == 0 && has(t, "/piv/y/a.js", HOIST_ENTRY_FILE, 0) && absent(t, "/piv/x"),
	       "--parents with a /./ pivot keeps only what follows it");
	hoist_fstree_free(t);
#undef SRCS
}

/* ---- cache keys and the stat cache --------------------------------------- */

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void write_file(const char *path, const char *data)
{
	FILE *f = fopen(path, "we");
	if (f) {
		fputs(data, f);
		fclose(f);
	}
}

/* The key of `COPY srcs... /dst/` over the context dir, as the engine makes it. */
static int context_key(struct hoist_store *s, const char *ctxdir, const char *step,
		       const char *const *srcs, char out[HOIST_DIGEST_MAX])
{
	struct hoist_context *ctx = NULL;
	struct ctxfiles *cf = NULL;
	struct hoist_fstree *tree = NULL;
	struct hoist_error err = {0};
	struct hoist_instr in = {.kind = HOIST_INSTR_COPY, .keyword = "COPY", .line = 1};
	struct copy_req r = {0};
	struct hoist_platform p;
	struct keyhash k;
	char abs[4096];
	int rc;

	hoist_platform_host(&p);
	if (!realpath(ctxdir, abs))
		return -errno;
	rc = hoist_context_open(ctxdir, NULL, &ctx, &err);
	if (rc >= 0)
		rc = ctxfiles_load(s, ctx, abs, &cf, &err);
	if (rc < 0) {
		tap_diag("context: %s", err.msg);
		hoist_context_free(ctx);
		return rc;
	}
	tree = ctxfiles_tree(cf);
	r.in = &in;
	r.file = "Dockerfile";
	r.ctx = cf;
	r.from = tree;
	r.from_context = true;
	r.chmod = -1;
	for (; *srcs; srcs++)
		hoist_strv_push(&r.srcs, *srcs);
	r.dest = hoist_xstrdup("/dst");
	r.dest_is_dir = true;
	key_begin(&k, "sha256:parent", &p);
	key_add(&k, "step", step);
	rc = copy_hash_sources(&r, &k, &err);
	if (rc >= 0)
		key_finish(&k, out);
	else
		hoist_sha256_release(&k.h);
	ctxfiles_save(cf);
	copy_req_release(&r);
	hoist_fstree_free(tree);
	ctxfiles_free(cf);
	hoist_context_free(ctx);
	return rc;
}

static void test_keys(struct hoist_store *s)
{
	_cleanup_free_ char *ctx = hoist_xasprintf("%s/ctx", tmproot);
	_cleanup_free_ char *a = hoist_xasprintf("%s/a.txt", ctx);
	_cleanup_free_ char *d = hoist_xasprintf("%s/d", ctx);
	_cleanup_free_ char *b = hoist_xasprintf("%s/d/b.txt", ctx);
	const char *const srcs[] = {"a.txt", "d", NULL};
	char k1[HOIST_DIGEST_MAX], k2[HOIST_DIGEST_MAX], k3[HOIST_DIGEST_MAX];
	struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};

	mkdir(ctx, 0755);
	mkdir(d, 0755);
	write_file(a, "hello\n");
	write_file(b, "b\n");
	int r1 = context_key(s, ctx, "COPY a.txt d /dst/", srcs, k1);
	int r2 = context_key(s, ctx, "COPY a.txt d /dst/", srcs, k2);
	tap_ok(r1 == 0 && r2 == 0 && strcmp(k1, k2) == 0, "same inputs: same key");

	utimensat(AT_FDCWD, a, old, 0);
	utimensat(AT_FDCWD, b, old, 0);
	context_key(s, ctx, "COPY a.txt d /dst/", srcs, k3);
	tap_ok(strcmp(k1, k3) == 0, "an mtime-only change: same key");

	write_file(b, "c\n");
	context_key(s, ctx, "COPY a.txt d /dst/", srcs, k3);
	tap_ok(strcmp(k1, k3) != 0, "one byte changed (same size): a new key");
	write_file(b, "b\n");
	context_key(s, ctx, "COPY a.txt d /dst/", srcs, k3);
	tap_ok(strcmp(k1, k3) == 0, "the byte changed back: the old key");

	chmod(a, 0600);
	context_key(s, ctx, "COPY a.txt d /dst/", srcs, k3);
	tap_ok(strcmp(k1, k3) != 0, "a mode change: a new key");
	chmod(a, 0644);

	context_key(s, ctx, "COPY --chown=1:1 a.txt d /dst/", srcs, k3);
	tap_ok(strcmp(k1, k3) != 0, "an owner change (--chown): a new key");
	/* ARG values reach a step through its expanded text. */
	context_key(s, ctx, "COPY a.txt d /dst/v2/", srcs, k3);
	tap_ok(strcmp(k1, k3) != 0, "a different expansion of the step: a new key");

	const char *const one[] = {"a.txt", NULL};
	context_key(s, ctx, "COPY a.txt d /dst/", one, k3);
	tap_ok(strcmp(k1, k3) != 0, "a different source selection: a new key");
}

/* Forge a stat cache for one file with a wrong hash and a chosen write time. */
static void forge_statcache(struct hoist_store *s, const char *ctxabs, const char *rel,
			    const struct stat *st, int64_t written_ns)
{
	_cleanup_free_ char *p = statcache_path(s, ctxabs);
	struct statcache_rec r = {
	    .path = rel,
	    .size = (uint64_t)st->st_size,
	    .ino = (uint64_t)st->st_ino,
	    .mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec,
	    .ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec};
	memset(r.hex, '0', HOIST_SHA256_HEX);
	statcache_write(p, written_ns, &r, 1);
}

static int hash_of(struct hoist_store *s, const char *ctxdir, const char *rel,
		   char out[HOIST_DIGEST_MAX])
{
	struct hoist_context *ctx = NULL;
	struct ctxfiles *cf = NULL;
	struct hoist_error err = {0};
	char abs[4096];
	int rc = -ENOENT;
	if (!realpath(ctxdir, abs))
		return -errno;
	if (hoist_context_open(ctxdir, NULL, &ctx, &err) >= 0 &&
	    ctxfiles_load(s, ctx, abs, &cf, &err) >= 0) {
		struct ctxent *e = ctxfiles_find(cf, rel);
		if (e && (rc = ctxfiles_hash(cf, e, &err)) >= 0)
			ctxent_digest(e, out);
		ctxfiles_save(cf);
	}
	ctxfiles_free(cf);
	hoist_context_free(ctx);
	return rc;
}

static void test_racy(struct hoist_store *s)
{
	_cleanup_free_ char *ctx = hoist_xasprintf("%s/racy", tmproot);
	_cleanup_free_ char *f = hoist_xasprintf("%s/f.txt", ctx);
	char abs[4096], h[HOIST_DIGEST_MAX] = "", real[HOIST_DIGEST_MAX];
	const char zero[] =
	    "sha256:0000000000000000000000000000000000000000000000000000000000000000";
	struct stat st;

	tap_ok(statcache_racy(5500000000LL, 5000000000LL, 1000000000LL) &&
		   statcache_racy(5500000000LL, 1000000000LL, 5999999999LL) &&
		   !statcache_racy(5500000000LL, 4999999999LL, 4999999999LL),
	       "racy: mtime or ctime in (or after) the second the cache was written");

	mkdir(ctx, 0755);
	write_file(f, "content\n");
	hoist_sha256_digest("content\n", 8, real);
	if (!realpath(ctx, abs) || stat(f, &st) < 0) {
		tap_ok(false, "racy setup");
		return;
	}
	int64_t ctime_ns = (int64_t)st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec;

	/* Written well after the file's last change: the record is trusted. */
	forge_statcache(s, abs, "f.txt", &st, ctime_ns + 10000000000LL);
	tap_ok(hash_of(s, ctx, "f.txt", h) == 0 && strcmp(h, zero) == 0,
	       "a clean record is used without reading the file");

	/* Written in the same second as the change: racily clean, re-hashed. */
	forge_statcache(s, abs, "f.txt", &st, ctime_ns);
	tap_ok(hash_of(s, ctx, "f.txt", h) == 0 && strcmp(h, real) == 0,
	       "a racy record is re-hashed (got %s)", h);
	/* The re-hash rewrote the cache with the real hash. */
	tap_ok(hash_of(s, ctx, "f.txt", h) == 0 && strcmp(h, real) == 0,
	       "the rewritten stat cache holds the right hash");

	/* A cache of an older format (version 2 text, or no header) is not trusted. */
	_cleanup_free_ char *p = statcache_path(s, abs);
	FILE *o = fopen(p, "we");
	if (o) {
		fprintf(o, "hoist-statcache 2 %lld\n", (long long)ctime_ns + 10000000000LL);
		fprintf(o, "%llu %lld %lld %llu %064d f.txt\n", (unsigned long long)st.st_size,
			(long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec,
			(long long)ctime_ns, (unsigned long long)st.st_ino, 0);
		fclose(o);
	}
	tap_ok(hash_of(s, ctx, "f.txt", h) == 0 && strcmp(h, real) == 0,
	       "a stat cache of the version 2 text format is ignored");

	/* A damaged cache is ignored as a whole, never half-trusted. */
	forge_statcache(s, abs, "f.txt", &st, ctime_ns + 10000000000LL);
	struct stat cst;
	if (stat(p, &cst) == 0)
		(void)truncate(p, cst.st_size - 1);
	tap_ok(hash_of(s, ctx, "f.txt", h) == 0 && strcmp(h, real) == 0,
	       "a truncated stat cache is ignored");
	struct statcache_rec two[2] = {{.path = "g.txt"}, {.path = "f.txt"}};
	for (size_t i = 0; i < 2; i++) {
		two[i].size = (uint64_t)st.st_size;
		two[i].ino = (uint64_t)st.st_ino;
		two[i].mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
		two[i].ctime_ns = ctime_ns;
		memset(two[i].hex, '0', HOIST_SHA256_HEX);
	}
	statcache_write(p, ctime_ns + 10000000000LL, two, 2);
	tap_ok(hash_of(s, ctx, "f.txt", h) == 0 && strcmp(h, real) == 0,
	       "a stat cache whose records are out of order is ignored");
}

/* ---- the engine: cache hits and misses end to end ------------------------ */

static void test_engine(struct hoist_store *s)
{
	_cleanup_free_ char *ctx = hoist_xasprintf("%s/eng", tmproot);
	_cleanup_free_ char *df = hoist_xasprintf("%s/Dockerfile", ctx);
	_cleanup_free_ char *a = hoist_xasprintf("%s/a.txt", ctx);
	struct hoist_build_opts o;
	struct hoist_build_result r1, r2, r3;
	struct hoist_error err = {0};
	const char *args1[] = {"V=1", NULL}, *args2[] = {"V=2", NULL};

	mkdir(ctx, 0755);
	write_file(a, "a\n");
	write_file(df, "FROM scratch\nARG V\nCOPY a.txt /a-$V\nENV X=1\n");
	hoist_build_opts_init(&o);
	o.context_dir = ctx;
	o.source_date_epoch = 1700000000;
	o.build_args = args1;
	int rc1 = hoist_build_run(s, &o, &r1, &err);
	int rc2 = hoist_build_run(s, &o, &r2, &err);
	tap_ok(rc1 == 0 && rc2 == 0 && r2.steps_cached == r2.steps && r2.steps == 3 &&
		   strcmp(r1.manifest.digest, r2.manifest.digest) == 0,
	       "a rebuild is all cached with the same digest (%s)", err.msg);
	o.build_args = args2;
	int rc3 = hoist_build_run(s, &o, &r3, &err);
	tap_ok(rc3 == 0 && r3.steps_cached == 1 &&
		   strcmp(r1.manifest.digest, r3.manifest.digest) != 0,
	       "a build-arg change misses the steps that use it (cached %d)", r3.steps_cached);
}

int main(void)
{
	struct hoist_store *s = NULL;
	struct hoist_error err = {0};

	tap_plan_auto();
	if (!mkdtemp(tmproot))
		tap_skip_all("cannot make a temporary directory");
	_cleanup_free_ char *root = hoist_xasprintf("%s/store", tmproot);

	test_instructions();
	test_durations();
	test_match();
	test_copy_rules();
	if (hoist_store_open(root, &s, &err) < 0) {
		tap_ok(false, "store: %s", err.msg);
	} else {
		test_keys(s);
		test_racy(s);
		test_engine(s);
		hoist_store_free(s);
	}
	nftw(tmproot, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	return tap_done();
}
