/* SPDX-License-Identifier: Apache-2.0 */
/*
 * .dockerignore matching against the corpus recorded from moby/patternmatcher
 * (dockerignore/cases.tsv, readall.*) plus hand-written edge cases.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "hoist/ignore.h"
#include "hoist/util.h"
#include "../tap.h"

/* Printable form of s for TAP lines (which must not contain newlines). */
static const char *esc(const char *s)
{
	static char bufs[8][512];
	static unsigned next;
	char *b = bufs[next++ % ARRAY_SIZE(bufs)];
	size_t w = 0;

	for (; *s && w + 5 < sizeof(bufs[0]); s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '\n')
			w += (size_t)snprintf(b + w, 512 - w, "\\n");
		else if (c < 0x20 || c >= 0x7f)
			w += (size_t)snprintf(b + w, 512 - w, "\\x%02x", c);
		else
			b[w++] = (char)c;
	}
	b[w] = '\0';
	return b;
}

static char *corpus_path(const char *name)
{
	return hoist_xasprintf("%s/dockerignore/%s", getenv("HOIST_CORPORA"), name);
}

/* Split s on sep into a strv (an empty s gives no items). */
static void split(const char *s, const char *sep, struct hoist_strv *out)
{
	size_t seplen = strlen(sep);
	if (*s == '\0')
		return;
	for (;;) {
		const char *e = strstr(s, sep);
		if (!e) {
			hoist_strv_push(out, s);
			return;
		}
		hoist_strv_take(out, hoist_xstrndup(s, (size_t)(e - s)));
		s = e + seplen;
	}
}

/* One row: returns "yes", "no" or "error" as the matcher answers. */
static const char *run_row(struct hoist_strv *pats, const char *path, const char *api,
			   bool *new_failed)
{
	struct hoist_ignore *ig = NULL;
	struct hoist_error err;
	unsigned flags = strcmp(api, "Matches") == 0 ? HOIST_IGNORE_MATCH_LEGACY : 0;
	int r;

	*new_failed = false;
	r = hoist_ignore_new((const char *const *)pats->v, pats->n, &ig, &err);
	if (r < 0) {
		*new_failed = true;
		return "error";
	}
	r = hoist_ignore_match_ex(ig, path, flags, &err);
	hoist_ignore_free(ig);
	return r < 0 ? "error" : r ? "yes" : "no";
}

static void test_cases(void)
{
	_cleanup_free_ char *path = corpus_path("cases.tsv");
	_cleanup_free_ char *data = NULL;
	struct hoist_error err;
	size_t len, rows = 0;
	char *line, *next;

	if (hoist_read_file_at(AT_FDCWD, path, 1 << 20, &data, &len, &err) < 0) {
		tap_ok(false, "read cases.tsv: %s", err.msg);
		return;
	}
	for (line = data; line && *line; line = next) {
		_cleanup_strv_ struct hoist_strv cols = HOIST_STRV_INIT;
		_cleanup_strv_ struct hoist_strv pats = HOIST_STRV_INIT;
		bool new_failed;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		split(line, "\t", &cols);
		if (cols.n != 5) {
			tap_ok(false, "malformed row '%s'", line);
			continue;
		}
		split(cols.v[0], " || ", &pats);
		const char *got = run_row(&pats, cols.v[1], cols.v[3], &new_failed);
		bool ok = strcmp(got, cols.v[2]) == 0;
		if (ok && strstr(cols.v[3], "New ok"))
			ok = !new_failed;
		tap_ok(ok, "%s: [%s] vs '%s' -> %s (want %s)", cols.v[3], esc(cols.v[0]),
		       esc(cols.v[1]), got, cols.v[2]);
		rows++;
	}
	tap_ok(rows == 138, "cases.tsv has 138 rows (%zu)", rows);
}

static void test_readall(void)
{
	_cleanup_free_ char *path = corpus_path("readall.dockerignore");
	_cleanup_free_ char *data = NULL;
	struct hoist_error err;
	char **pats = NULL;
	size_t len, n = 0;
	static const char *const want[] = {
	    "test1", "test2", "a/file/here", "lastfile", "!inverted/abs/path", "!", "!",
	};

	if (hoist_read_file_at(AT_FDCWD, path, 1 << 20, &data, &len, &err) < 0) {
		tap_ok(false, "read readall.dockerignore: %s", err.msg);
		return;
	}
	if (!tap_ok(hoist_ignore_read_patterns(data, len, path, &pats, &err) == 0,
		    "readall parses"))
		return;
	for (; pats[n]; n++)
		tap_ok(n < ARRAY_SIZE(want) && strcmp(pats[n], want[n]) == 0,
		       "readall pattern %zu '%s'", n, esc(pats[n]));
	tap_ok(n == ARRAY_SIZE(want), "readall gives %zu patterns", n);
	hoist_strv_free(pats);

	/* The same file fails to compile: a lone "!" is illegal. */
	struct hoist_ignore *ig = NULL;
	int r = hoist_ignore_parse(data, len, "readall.dockerignore", &ig, &err);
	tap_ok(r == -EINVAL && err.line == 8, "readall: lone '!' rejected at line 8 (%d, line %d)",
	       r, err.line);
}

/* Parse text, then expect each "path=1|0|-1" answer. */
static void check(const char *text, const char *const *cases)
{
	struct hoist_ignore *ig = NULL;
	struct hoist_error err;

	if (!tap_ok(hoist_ignore_parse(text, strlen(text), "t", &ig, &err) == 0, "parse '%s'",
		    esc(text))) {
		tap_diag("%s", err.msg);
		return;
	}
	for (; *cases; cases++) {
		const char *eq = strrchr(*cases, '=');
		_cleanup_free_ char *p = hoist_xstrndup(*cases, (size_t)(eq - *cases));
		int want = (int)strtol(eq + 1, NULL, 10),
		    got = hoist_ignore_match_ex(ig, p, 0, &err);
		if (got < 0)
			got = -1;
		tap_ok(got == want, "[%s] '%s' -> %d (want %d)", esc(text), esc(p), got, want);
	}
	hoist_ignore_free(ig);
}

static void test_edges(void)
{
	/* The suffix shortcut: "**foo" is a plain suffix, as in patternmatcher. */
	check("**foo\n", (const char *const[]){"xfoo=1", "a/bfoo=1", "foo/x=1", "fo=0", NULL});
	check("**/foo\n", (const char *const[]){"xfoo=0", "foo=1", "a/foo=1", NULL});
	check("dir**\n", (const char *const[]){"directory=1", "di=0", NULL});
	/* '^' is an anchor only in regexp patterns. */
	check("a^b\n", (const char *const[]){"a^b=1", NULL});
	check("a^b*\n", (const char *const[]){"a^b=0", "a^bc=0", NULL});
	/* A class the regexp reads differently from filepath.Match. */
	check("[*]\n", (const char *const[]){"]=1", "*=0", "[]=1", NULL});
	check("[[:digit:]]x\n", (const char *const[]){"5x=1", "ax=0", NULL});
	check("\\d\n", (const char *const[]){"5=1", "d=0", NULL});
	check("\\12\n", (const char *const[]){"\n=1", NULL});
	/* Lazy compile: a bad regexp fails only the paths that reach it. */
	check("foo\n![z-a]\n", (const char *const[]){"bar=0", "foo=-1", NULL});
	/* Running state: exceptions and re-exclusion. */
	check("docs\n!docs/keep\ndocs/keep/secret\n",
	      (const char *const[]){"docs=1", "docs/a=1", "docs/keep=0", "docs/keep/x=0",
				    "docs/keep/secret=1", "docs/keep/secret/y=1", NULL});
	check("*\n!*.md\n", (const char *const[]){"a.txt=1", "README.md=0", "d/x.md=1", NULL});
	check("**\n!**/*.md\n", (const char *const[]){"a/b/c.md=0", "a/b/c.txt=1", NULL});
	/* Cleaning. */
	check("./a/../b/\n", (const char *const[]){"b=1", "a=0", "./b/c=1", NULL});
	check("/abs\n", (const char *const[]){"abs=1", NULL});
	check("\xEF\xBB\xBF# bom comment\n  #not\n", (const char *const[]){"#not=1", NULL});
	check("x\r\n", (const char *const[]){"x=1", NULL});
	/* '.' and the empty path never match. */
	check("**\n", (const char *const[]){".=0", "=0", "a=1", NULL});
	/* Non-ASCII: '?' is one rune, invalid bytes are one rune each. */
	check("?\n", (const char *const[]){"\xC3\xA9=1", "\xFF=1", "\xFF\xFF=0", NULL});
	/*
	 * patternmatcher's escape bitmap misses '|', '{' and '}', so they act
	 * as regexp operators once the pattern is a regexp (checked against Go).
	 */
	check("|]\n", (const char *const[]){"anything=1", NULL});
	check("a|b*\n", (const char *const[]){"a=1", "xb=1", "x=0", NULL});
	check("[x]{2}\n", (const char *const[]){"xx=1", "x=0", "xxx=0", NULL});
	check("a|b\n", (const char *const[]){"a|b=1", "a=0", NULL});
	check("x{,2}*\n", (const char *const[]){"x{,2}=1", "x{,2}yy=1", NULL});
	check("foo\n!x*{2}\n", (const char *const[]){"bar=0", "foo=-1", NULL});
	/* Many stars do not blow up (NFA, no backtracking). */
	check("a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b\n",
	      (const char *const[]){
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=0",
		  NULL});
}

static void test_limits(void)
{
	struct hoist_ignore *ig = NULL;
	struct hoist_error err;
	_cleanup_free_ char *big = hoist_xmalloc(HOIST_IGNORE_MAX_LINE + 10);

	memset(big, 'a', HOIST_IGNORE_MAX_LINE + 9);
	big[HOIST_IGNORE_MAX_LINE + 9] = '\0';
	tap_ok(hoist_ignore_parse(big, strlen(big), "t", &ig, &err) == -E2BIG,
	       "an over-long line is rejected");
	tap_ok(hoist_ignore_parse("a\0b", 3, "t", &ig, &err) == -EBADMSG, "a NUL byte is rejected");
	tap_ok(hoist_ignore_parse("a\n[\n", 4, "t", &ig, &err) == -EINVAL && err.line == 2,
	       "a syntax error names its line (%d)", err.line);
	tap_ok(hoist_ignore_parse("", 0, "t", &ig, &err) == 0 && hoist_ignore_match(ig, "x") == 0,
	       "an empty file excludes nothing");
	hoist_ignore_free(ig);

	tap_ok(hoist_ignore_parse("a\n!b/c\n", 7, "t", &ig, &err) == 0, "parse exceptions");
	tap_ok(hoist_ignore_has_exceptions(ig), "has exceptions");
	tap_ok(hoist_ignore_descend(ig, "b"), "descend into b for !b/c");
	tap_ok(!hoist_ignore_descend(ig, "a"), "no descent into a");
	tap_ok(!hoist_ignore_descend(ig, "b/c/d") || true, "descend b/c/d is harmless");
	hoist_ignore_free(ig);
	tap_ok(hoist_ignore_parse("a\n!**/c\n", 8, "t", &ig, &err) == 0 &&
		   hoist_ignore_descend(ig, "a"),
	       "wildcard exception: always descend");
	hoist_ignore_free(ig);

	_cleanup_free_ char *c1 = hoist_ignore_clean_path("a//b/./../c/");
	_cleanup_free_ char *c2 = hoist_ignore_clean_path("/../x");
	_cleanup_free_ char *c3 = hoist_ignore_clean_path("../../y/..");
	tap_ok(strcmp(c1, "a/c") == 0 && strcmp(c2, "/x") == 0 && strcmp(c3, "../..") == 0,
	       "clean: '%s' '%s' '%s'", c1, c2, c3);
}

int main(void)
{
	tap_plan_auto();
	tap_corpora("dockerignore/cases.tsv");
	tap_corpora("dockerignore/readall.dockerignore");
	test_cases();
	test_readall();
	test_edges();
	test_limits();
	return tap_done();
}
