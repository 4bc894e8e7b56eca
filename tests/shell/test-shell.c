/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shell expansion against BuildKit's own tables (buildkit-shell/envVarTest
 * and wordsTest, read in place from HOIST_CORPORA) plus cases from
 * BuildKit's lex_test.go and hoist's own edge cases.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "hoist/shell.h"
#include "hoist/util.h"
#include "../tap.h"

/* ---- helpers ------------------------------------------------------------ */

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n' || *s == '\v' || *s == '\f')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n' ||
			 e[-1] == '\v' || e[-1] == '\f'))
		*--e = '\0';
	return s;
}

static char *read_corpus(const char *name)
{
	const char *dir = getenv("HOIST_CORPORA");
	struct hoist_error err;
	char *path, *data = NULL;

	path = hoist_xasprintf("%s/buildkit-shell/%s", dir, name);
	if (hoist_read_file_at(AT_FDCWD, path, (size_t)1 << 20, &data, NULL, &err) < 0) {
		/* main found it there: failing to read it now is a failure */
		tap_ok(false, "read %s: %s", path, err.msg);
		data = hoist_xstrdup("");
	}
	free(path);
	return data;
}

/* Split at every '\n' in place; returns the lines (array freed by caller). */
static char **split_lines(char *data, size_t *ret_n)
{
	size_t n = 0, alloc = 16;
	char **v = hoist_xmalloc(alloc * sizeof(char *));
	char *p = data;

	for (;;) {
		char *nl = strchr(p, '\n');
		if (n == alloc) {
			alloc *= 2;
			v = hoist_xrealloc(v, alloc * sizeof(char *));
		}
		v[n++] = p;
		if (!nl)
			break;
		*nl = '\0';
		p = nl + 1;
	}
	if (n > 0 && v[n - 1][0] == '\0')
		n--;
	*ret_n = n;
	return v;
}

static char *words_join(char **v)
{
	struct hoist_buf b = HOIST_BUF_INIT;

	hoist_buf_init(&b, 0);
	for (size_t i = 0; v[i]; i++) {
		if (i)
			hoist_buf_addc(&b, ',');
		hoist_buf_adds(&b, v[i]);
	}
	return hoist_buf_detach(&b, NULL);
}

/* TAP descriptions are one line: show control characters as \n, \xNN. */
static const char *vis(const char *s)
{
	static char bufs[4][512];
	static int k;
	char *out = bufs[k++ % 4];
	size_t o = 0;

	for (; *s && o + 5 < sizeof(bufs[0]); s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(out + o, 5, "\\x%02x", c);
			o += 4;
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
	return out;
}

/* ---- envVarTest ----------------------------------------------------------- */

static void run_env_var_test(void)
{
	static const char *envp[] = {"PWD=/home", "SHELL=bash", "KOREAN=한국어", "NULL=", NULL};
	struct hoist_shell sh = {
	    .escape = '\\',
	    .lookup = hoist_shell_lookup_envp,
	    .userdata = (void *)envp,
	};
	_cleanup_free_ char *data = read_corpus("envVarTest");
	_cleanup_free_ char **lines = NULL;
	size_t n, rows = 0, pass = 0, skipped = 0;

	lines = split_lines(data, &n);
	for (size_t i = 0; i < n; i++) {
		char *line = lines[i], *f[3], *p;
		int k = 0;

		if (line[0] == '#')
			continue;
		line = trim(line);
		if (!*line)
			continue;
		for (p = line; k < 3; k++) {
			char *bar = strchr(p, '|');
			f[k] = p;
			if (!bar)
				break;
			*bar = '\0';
			p = bar + 1;
		}
		if (k != 2) {
			tap_ok(false, "envVarTest:%zu malformed row", i + 1);
			continue;
		}
		const char *plat = trim(f[0]), *src = trim(f[1]), *exp = trim(f[2]);
		rows++;
		if (strcmp(plat, "W") == 0) {
			tap_ok(true, "envVarTest:%zu '%s' is a windows-only row: not applicable",
			       i + 1, src);
			skipped++;
			continue;
		}
		if (strcmp(plat, "A") != 0 && strcmp(plat, "U") != 0) {
			tap_ok(false, "envVarTest:%zu bad platform '%s'", i + 1, plat);
			continue;
		}

		struct hoist_error err = {0};
		_cleanup_free_ char *out = NULL;
		int r = hoist_shell_expand_word(&sh, src, &out, &err);
		bool ok;
		if (strcmp(exp, "error") == 0)
			ok = tap_ok(r < 0, "envVarTest:%zu '%s' fails (%s)", i + 1, src,
				    r < 0 ? err.msg : out);
		else
			ok = tap_ok(r == 0 && strcmp(out, exp) == 0, "envVarTest:%zu '%s' -> '%s'",
				    i + 1, src, exp);
		if (!ok && r == 0)
			tap_diag("got '%s'", out);
		else if (!ok)
			tap_diag("error: %s", err.msg);
		pass += ok;
	}
	tap_diag("envVarTest: %zu rows, %zu passed, %zu windows-only skipped", rows, pass, skipped);
}

/* ---- wordsTest -------------------------------------------------------------- */

/*
 * Expected words with RawQuotes+SkipUnsetEnv, keyed by input. BuildKit's
 * TestShellParser4Words means to run the table in this mode too, but its
 * second pass reuses the file handle the first pass read to EOF, so it never
 * checks a row. These results follow lex.go: quotes are kept, the unset
 * ${hi} (before `ENV hi=hi`) is kept as written, everything else as plain.
 */
static const struct {
	const char *in, *out;
} raw_words[] = {
    {"hello", "hello"},
    {"hello${hi}bye", "hello${hi}bye"}, /* first occurrence: hi unset */
    {"hello${hi}bye", "hellohibye"},
    {"hello${space}bye", "helloabc,defbye"},
    {"hello\"${space}\"bye", "hello\"abc  def\"bye"},
    {"hello \"${space}\"bye", "hello,\"abc  def\"bye"},
    {"hello${leading}def", "hello,ab,cdef"},
    {"hello\"${leading}\" def", "hello\"  ab c\",def"},
    {"hello\"${leading}\"", "hello\"  ab c\""},
    {"hello${leading}", "hello,ab,c"},
    {"hello${trailing}", "helloab,c"},
    {"hello${trailing}d", "helloab,c,d"},
    {"hello\"${trailing}\"d", "hello\"ab c   \"d"},
    {"hel\"lo${trailing}\"", "hel\"loab c   \""},
    {"hello\" there  \"", "hello\" there  \""},
    {"hello there", "hello,there"},
    {"hello\\ there", "hello there"},
    {"hello\" there", "error"},
    {"hello\\\" there", "hello\",there"},
    {"hello\"\\\\there\"", "hello\"\\there\""},
    {"hello\"\\there\"", "hello\"\\there\""},
    {"hello'\\\\there'", "hello'\\\\there'"},
    {"hello'\\there'", "hello'\\there'"},
    {"hello'$there'", "hello'$there'"},
};

static void run_words_test(bool raw)
{
	_cleanup_free_ char *data = read_corpus("wordsTest");
	_cleanup_free_ char **lines = NULL;
	_cleanup_strv_ struct hoist_strv env = HOIST_STRV_INIT;
	struct hoist_shell sh = {
	    .escape = '\\',
	    .lookup = hoist_shell_lookup_envp,
	    .flags = raw ? HOIST_SHELL_RAW_QUOTES | HOIST_SHELL_SKIP_UNSET_ENV : 0,
	};
	const char *mode = raw ? "wordsTest(raw)" : "wordsTest";
	size_t n, rows = 0, pass = 0, next_raw = 0;

	lines = split_lines(data, &n);
	hoist_strv_push(&env, "_=_"); /* keep env.v non-NULL */
	for (size_t i = 0; i < n; i++) {
		char *line = lines[i];

		if (line[0] == '#')
			continue;
		if (hoist_startswith(line, "ENV ")) {
			char *p = line + 3;
			while (*p == ' ')
				p++;
			hoist_strv_push(&env, p);
			continue;
		}
		char *bar = strchr(line, '|');
		if (!bar || strchr(bar + 1, '|')) {
			tap_ok(false, "%s:%zu must have exactly one |", mode, i + 1);
			continue;
		}
		*bar = '\0';
		const char *in = trim(line);
		const char *exp = bar + 1;
		while (*exp == ' ')
			exp++;
		rows++;
		if (raw) {
			/* The table above lists the rows in order. */
			if (next_raw >= ARRAY_SIZE(raw_words) ||
			    strcmp(raw_words[next_raw].in, in)) {
				tap_ok(false, "%s:%zu '%s' has no raw-mode expectation", mode,
				       i + 1, in);
				continue;
			}
			exp = raw_words[next_raw++].out;
		}

		struct hoist_error err = {0};
		char **words = NULL;
		_cleanup_free_ char *got = NULL;
		sh.userdata = env.v;
		int r = hoist_shell_expand_words(&sh, in, &words, &err);
		got = r < 0 ? hoist_xstrdup("error") : words_join(words);
		hoist_strv_free(words);
		bool ok =
		    tap_ok(strcmp(got, exp) == 0, "%s:%zu '%s' -> '%s'", mode, i + 1, in, exp);
		if (!ok)
			tap_diag("got '%s'%s%s", got, r < 0 ? " " : "", r < 0 ? err.msg : "");
		pass += ok;
	}
	if (raw)
		tap_ok(next_raw == ARRAY_SIZE(raw_words), "%s: every raw-mode row was used", mode);
	tap_diag("%s: %zu rows, %zu passed", mode, rows, pass);
}

/* ---- extra cases ------------------------------------------------------------ */

struct kv {
	const char *k, *v;
};

/* Lookup over a small table; "V" with v == NULL is unset. */
static const char *kv_lookup(const char *name, void *userdata)
{
	for (const struct kv *e = userdata; e->k; e++)
		if (strcmp(e->k, name) == 0)
			return e->v;
	return NULL;
}

static void check(const struct hoist_shell *sh, const char *in, const char *exp)
{
	struct hoist_error err = {0};
	_cleanup_free_ char *out = NULL;
	int r = hoist_shell_expand_word(sh, in, &out, &err);

	if (!exp) {
		tap_ok(r < 0, "'%s' fails (%s)", vis(in), vis(r < 0 ? err.msg : out));
		return;
	}
	if (!tap_ok(r == 0 && strcmp(out, exp) == 0, "'%s' -> '%s'", vis(in), vis(exp)))
		tap_diag("got %s '%s'", r < 0 ? "error" : "", vis(r < 0 ? err.msg : out));
}

static void check_err(const struct hoist_shell *sh, const char *in, int code, const char *msg)
{
	struct hoist_error err = {0};
	_cleanup_free_ char *out = NULL;
	int r = hoist_shell_expand_word(sh, in, &out, &err);

	if (!tap_ok(r == code && strstr(err.msg, msg), "'%s' fails with %d '...%s...'", vis(in),
		    code, msg))
		tap_diag("got %d '%s'", r, vis(r < 0 ? err.msg : out));
}

static void check_words(const struct hoist_shell *sh, const char *in, const char *exp)
{
	char **v = NULL;
	_cleanup_free_ char *got = NULL;
	int r = hoist_shell_expand_words(sh, in, &v, NULL);

	got = r < 0 ? hoist_xstrdup("error") : words_join(v);
	hoist_strv_free(v);
	if (!tap_ok(strcmp(got, exp) == 0, "words '%s' -> '%s'", in, exp))
		tap_diag("got '%s'", got);
}

/* TestProcessWithMatches and TestShellParserMandatoryEnvVars (lex_test.go). */
static void run_lex_test_cases(void)
{
	struct kv env1[] = {{"FOO", "xxx"}, {"BAR", ""}, {NULL, NULL}};
	struct hoist_shell sh = {.escape = '\\', .lookup = kv_lookup, .userdata = env1};

	check(&sh, "x ${UNUSED}", "x ");
	check(&sh, "${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", "xxx  ccc");
	check(&sh, "${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}", "xxx bbb ccc");
	check(&sh, "${FOO:-}", "xxx");
	check(&sh, "${BAZ:-}", "");
	check(&sh, "${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}", "aaa bbb ");
	check(&sh, "${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}", "aaa  ");
	check(&sh, "${FOO?aaa}", "xxx");
	check(&sh, "${BAR?bbb}", "");
	check(&sh, "${BAZ?ccc}", NULL);
	check(&sh, "${FOO:?aaa}", "xxx");
	check(&sh, "${BAR:?bbb}", NULL);
	check(&sh, "${BAZ:?ccc}", NULL);
	check(&sh, "${BAZ:?}", NULL);
	check(&sh, "${FOO=aaa}", NULL);
	check(&sh, "${FOO=:aaa}", NULL);
	check(&sh, "${BAZ=}", NULL);

	struct kv env2[] = {{"FOO", "()[]{}^$.*?|\\x"}, {NULL, NULL}};
	sh.userdata = env2;
	check(&sh, "${FOO#()[]{\\}^$.\\*\\?|\\\\}", "x");

	struct kv env3[] = {{"FOO", "xx**"}, {NULL, NULL}};
	sh.userdata = env3;
	check(&sh, "${FOO%%\\**}", "xx");

	struct kv env4[] = {{"FOO", "xxyy"}, {"BAR", "x"}, {"EMPTY", ""}, {NULL, NULL}};
	sh.userdata = env4;
	check(&sh, "${FOO#*x*y}", "y");
	check(&sh, "${FOO#*}", "xxyy");
	check(&sh, "${FOO#$BAR}", "xyy");
	check(&sh, "${FOO#$EMPTY}", "xxyy");
	check(&sh, "${FOO#}", "xxyy");
	check(&sh, "${FOO##*x}", "yy");
	check(&sh, "${FOO##}", "xxyy");
	check(&sh, "${ABC:-.}${FOO%x}${ABC:-.}", ".xxyy.");
	check(&sh, "${FOO%}", "xxyy");
	check(&sh, "${FOO%%$EMPTY}", "xxyy");
	check(&sh, "${FOO/$EMPTY/ww}", "wwxxyy");
	check(&sh, "${FOO//ww}", NULL);
	check(&sh, "${FOO//}", NULL);
	check(&sh, "${FOO///}", "xxyy");
	check(&sh, "${NOPE///}", "");

	struct kv env5[] = {{"FOO", "???y"}, {NULL, NULL}};
	sh.userdata = env5;
	check(&sh, "${FOO#?\\?}", "?y");

	struct kv env6[] = {{"FOO", "a***yy*"}, {NULL, NULL}};
	sh.userdata = env6;
	check(&sh, "${FOO%%\\**\\*}", "a");

	struct kv env7[] = {{"FOO", "/foo*/*/*.txt"}, {"NEEDLE", "\\*/"}, {NULL, NULL}};
	sh.userdata = env7;
	check(&sh, "${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}", "/foo.*/*.txt - /foo..*.txt");

	struct kv env8[] = {{"FOO", "/tmp/tmp/bar.txt"}, {"NEEDLE", "/tmp"}, {NULL, NULL}};
	sh.userdata = env8;
	check(&sh, "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}", "/tmp/bar.txt - /bar.txt");

	struct kv env9[] = {
	    {"FOO", "/a/foo/b/c.txt"}, {"NEEDLE", "/?/"}, {"REPLACEMENT", "/"}, {NULL, NULL}};
	sh.userdata = env9;
	check(&sh, "${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
	      "/foo/b/c.txt - /foo/c.txt");

	struct kv env10[] = {{"FOO", "http://google.de"},
			     {"NEEDLE", "http://"},
			     {"REPLACEMENT", "https://"},
			     {NULL, NULL}};
	sh.userdata = env10;
	check(&sh, "${FOO/$NEEDLE/$REPLACEMENT}", "https://google.de");

	struct kv env11[] = {{"FOO", "/tmp/foo.txt"}, {NULL, NULL}};
	sh.userdata = env11;
	check(&sh, "${FOO//\\//\\/}", "\\/tmp\\/foo.txt");

	struct kv env12[] = {{"VERSION", "v1.2.3"},
			     {"TARGETOS", "linux"},
			     {"TARGETARCH", "arm"},
			     {"TARGETVARIANT", "v7"},
			     {NULL, NULL}};
	sh.userdata = env12;
	check(&sh,
	      "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}"
	      ".tar.gz",
	      "something-v1.2.3.linux-arm-v7.tar.gz");

	/* TestShellParserMandatoryEnvVars */
	struct kv set[] = {{"VAR", "plain"}, {"ARG", "x"}, {NULL, NULL}};
	struct kv empty[] = {{"VAR", ""}, {"ARG", "x"}, {NULL, NULL}};
	struct kv unset[] = {{"ARG", "x"}, {NULL, NULL}};
	sh.userdata = set;
	check(&sh, "${VAR:?message here$ARG}", "plain");
	check(&sh, "${VAR?message here$ARG}", "plain");
	sh.userdata = empty;
	check_err(&sh, "${VAR:?message here$ARG}", -EINVAL, "VAR: message herex");
	check(&sh, "${VAR?message here$ARG}", "");
	sh.userdata = unset;
	check_err(&sh, "${VAR:?message here$ARG}", -EINVAL, "VAR: message herex");
	check_err(&sh, "${VAR?message here$ARG}", -EINVAL, "VAR: message herex");
	check_err(&sh, "${VAR?}", -EINVAL, "VAR: is not allowed to be unset");
	sh.userdata = empty;
	check_err(&sh, "${VAR:?}", -EINVAL, "VAR: is not allowed to be empty");
}

static void run_edge_cases(void)
{
	struct kv env[] = {{"A", "a b"},  {"E", ""},   {"P", "/usr/local/bin"}, {"N", "x\ny"},
			   {"Q", "it's"}, {"R", "$$"}, {"R0", "<$0>"},		{NULL, NULL}};
	struct hoist_shell sh = {.escape = '\\', .lookup = kv_lookup, .userdata = env};
	struct hoist_shell bt = {.escape = '`', .lookup = kv_lookup, .userdata = env};

	/* backtick escape (# escape=`) */
	check(&bt, "C:\\path\\$A", "C:\\path\\a b");
	check(&bt, "`$A", "$A");
	check(&bt, "a` b", "a b");
	check(&bt, "\"`\"x\"", "\"x");
	check(&bt, "\"a\\b\"", "a\\b");
	check(&bt, "\"``\"", "`");
	check(&bt, "x`", "x");
	check(&bt, "${P%/*}", "/usr/local");

	/* nesting */
	check(&sh, "${X:-${Y:-${Z:-deep}}}", "deep");
	check(&sh, "${X:-\"${A}\"}", "a b");
	check(&sh, "${X:-'${A}'}", "${A}");
	check(&sh, "${A:+[${A:+${A}}]}", "[a b]");
	check(&sh, "${X:-a}}", "a}");
	check(&sh, "${X:-\\}}", "}");
	check(&sh, "${P##*/}", "bin");
	check(&sh, "${P#*/}", "usr/local/bin");
	check(&sh, "${P%%/*}", "");
	check(&sh, "${P%/*}", "/usr/local");
	check(&sh, "${P%%l*}", "/usr/");
	check(&sh, "${P//\\//:}", ":usr:local:bin");
	check(&sh, "${P/l*/X}", "/usr/X");
	check(&sh, "${P//o/$$}", "/usr/lcal/bin"); /* $$ is a (unset) special parameter */
	check(&sh, "${P//o/\\$0}",
	      "/usr/l\\ocal/bin");		       /* the template sees \$0: \ then the match */
	check(&sh, "${P//o/$R}", "/usr/l$cal/bin");    /* Go's Expand: $$ is $ */
	check(&sh, "${P//o/$R0}", "/usr/l<o>cal/bin"); /* $0 is the match */
	check(&sh, "${P/o/$R0}", "/usr/l<$0>cal/bin"); /* a single replacement is literal */
	check(&sh, "${P/#/x}", "/usr/local/bin");      /* no anchors: '#' is literal */
	check(&sh, "${P#[/]}", "/usr/local/bin");      /* no bracket expressions */
	check(&sh, "${P#\\x}", NULL);		       /* invalid escape in pattern */
	check(&sh, "${N#*}", "x\ny");		       /* * does not cross a newline */
	check(&sh, "${N##*}", "\ny");
	check(&sh, "${N%%*}", "x\n");
	check(&sh, "${Q}", "it's");
	check(&sh, "${#A}", NULL); /* no length operator */
	check(&sh, "${A:0:1}", NULL);
	check(&sh, "$", "$");
	check(&sh, "a$", "a$");
	check(&sh, "$'x'", "$x");
	check(&sh, "${", NULL);
	check(&sh, "${A", NULL);
	check(&sh, "${A:", NULL);
	check(&sh, "${A:-", NULL);
	check(&sh, "${A/x", NULL);
	check(&sh, "${A/x/y", NULL);
	check(&sh,
	      "\xEF\xBB\xBF"
	      "bom",
	      "bom");
	check(&sh, "bad\xFF", "bad\xEF\xBF\xBD");
	check(&sh, "$A\xC3\xA9", ""); /* é is a letter: $Aé is one (unset) name */

	/* error messages */
	check_err(&sh, "'abc", -EBADMSG, "looking for matching single-quote");
	check_err(&sh, "\"abc", -EBADMSG, "looking for matching double-quote");
	check_err(&sh, "${}", -EBADMSG, "bad substitution");
	check_err(&sh, "${A", -EBADMSG, "missing '}'");
	check_err(&sh, "${A:-x", -EBADMSG, "missing '}'");
	check_err(&sh, "${A/x", -EBADMSG, "missing '/'");
	check_err(&sh, "${A:=x}", -EBADMSG, "unsupported modifier (:=)");
	check_err(&sh, "${A^}", -EBADMSG, "unsupported modifier (^)");
	check_err(&sh, "${A#\\x}", -EBADMSG, "invalid escape");
	check_err(&sh, "x${A", -EBADMSG, "failed to process 'x${A'");

	/* flags */
	struct hoist_shell skip = sh;
	skip.flags = HOIST_SHELL_SKIP_UNSET_ENV;
	check(&skip, "$U ${U} ${U:-d} ${U#p} ${U//a/b} $A", "$U ${U} ${U:-d} ${U#p} ${U/a/b} a b");
	check(&skip, "${U:x}", "${U:x}");
	check(&skip, "${A:x}", NULL);

	struct hoist_shell nq = sh;
	nq.flags = HOIST_SHELL_SKIP_PROCESS_QUOTES;
	check(&nq, "'$A' \"b\"", "'a b' \"b\"");
	check(&nq, "\\'x\\$A", "'x$A");

	struct hoist_shell re = sh;
	re.flags = HOIST_SHELL_RAW_ESCAPES;
	check(&re, "a\\ b\\$A", "a\\ b\\$A");
	check(&re, "\"\\$A\"", "\\$A");

	struct hoist_shell rq = sh;
	rq.flags = HOIST_SHELL_RAW_QUOTES;
	check(&rq, "'x'\"$A\"", "'x'\"a b\"");

	/* words */
	check_words(&sh, "$A \"$A\" '$A'", "a,b,a b,$A");
	check_words(&sh, "  x  \"\"  y  ", "x,y");
	check_words(&sh, "\"\"", "");
	check_words(&sh, "$E", "");
	check_words(&sh, "a$E b", "a,b");
	check_words(&sh, "a\\ b c", "a b,c");
	check_words(&sh, "x${A}y", "xa,by");

	/* NULL lookup: everything unset */
	struct hoist_shell none = {.escape = '\\'};
	check(&none, "[$X${Y:-d}]", "[d]");

	/* envp lookup: last wins, bare K is set-and-empty */
	const char *envp[] = {"K=1", "K=2", "J", "KK=3", "L=a=b", NULL};
	struct hoist_shell ep = {.lookup = hoist_shell_lookup_envp, .userdata = (void *)envp};
	check(&ep, "$K ${J-unset} ${KK} $L ${M-unset}", "2  3 a=b unset");
}

static void run_bounds(void)
{
	struct kv env[] = {{"A", "0123456789"}, {NULL, NULL}};
	struct hoist_shell sh = {
	    .escape = '\\', .lookup = kv_lookup, .userdata = env, .max_output = 64};
	struct hoist_buf b = HOIST_BUF_INIT;

	check(&sh, "$A$A$A$A$A$A", "012345678901234567890123456789012345678901234567890123456789");
	check_err(&sh, "$A$A$A$A$A$A$A", -E2BIG, "larger than 64 bytes");

	/* ${ nesting is bounded */
	sh.max_output = 0;
	hoist_buf_init(&b, 0);
	for (int i = 0; i < HOIST_SHELL_MAX_DEPTH + 2; i++)
		hoist_buf_adds(&b, "${X:-");
	for (int i = 0; i < HOIST_SHELL_MAX_DEPTH + 2; i++)
		hoist_buf_adds(&b, "}");
	check_err(&sh, b.data, -E2BIG, "nested deeper");
	hoist_buf_release(&b);

	hoist_buf_init(&b, 0);
	for (int i = 0; i < HOIST_SHELL_MAX_DEPTH - 1; i++)
		hoist_buf_adds(&b, "${X:-");
	hoist_buf_adds(&b, "ok");
	for (int i = 0; i < HOIST_SHELL_MAX_DEPTH - 1; i++)
		hoist_buf_adds(&b, "}");
	check(&sh, b.data, "ok");
	hoist_buf_release(&b);

	/* a pathological pattern stays linear: many stars against a long value */
	_cleanup_free_ char *big = hoist_xmalloc(20001);
	memset(big, 'a', 20000);
	big[20000] = '\0';
	struct kv env2[] = {{"B", big}, {NULL, NULL}};
	sh.userdata = env2;
	check(&sh, "${B##*a*a*a*a*a*a*a*a*b}", big);
	check(&sh, "${B%%a*a*a*a*a*a*a*a*a*}", "");
}

int main(void)
{
	tap_plan_auto();
	tap_corpora("buildkit-shell/envVarTest");
	tap_corpora("buildkit-shell/wordsTest");
	run_env_var_test();
	run_words_test(false);
	run_words_test(true);
	run_lex_test_cases();
	run_edge_cases();
	run_bounds();
	return tap_done();
}
