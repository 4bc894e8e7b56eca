/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Parser tests against BuildKit's own expectations, read in place from
 * $HOIST_CORPORA: the testfiles/ dumps, the negative cases, line numbers,
 * the heredoc and JSON tables, and BuildKit's dumps of 68 real Dockerfiles.
 * Then hoist's own edge cases.
 */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>

#include "hoist/dockerfile.h"
#include "hoist/util.h"
#include "src/dockerfile/parser-private.h"
#include "tests/tap.h"

static const char *corpora;

static char *slurp(const char *path, size_t *len)
{
	char *data = NULL;
	struct hoist_error err;

	if (hoist_read_file_at(AT_FDCWD, path, (size_t)64 << 20, &data, len, &err) < 0)
		return NULL;
	return data;
}

static char *dump_str(const char *data, size_t len, struct hoist_error *err)
{
	struct hoist_df_ast *ast = NULL;
	struct hoist_buf b = HOIST_BUF_INIT;

	if (hoist_df_parse(data, len, "Dockerfile", &ast, err) < 0)
		return NULL;
	hoist_buf_add(&b, "", 0);
	hoist_df_ast_dump(ast, &b);
	hoist_df_ast_free(ast);
	return hoist_buf_detach(&b, NULL);
}

static struct hoist_df_ast *parse_str(const char *s, struct hoist_error *err)
{
	struct hoist_df_ast *ast = NULL;

	if (hoist_df_parse(s, strlen(s), "Dockerfile", &ast, err) < 0)
		return NULL;
	return ast;
}

static int sorted_dir(const char *dir, struct dirent ***names)
{
	return scandir(dir, names, NULL, alphasort);
}

static void test_testfiles(void)
{
	_cleanup_free_ char *dir = hoist_xasprintf("%s/buildkit-parser/testfiles", corpora);
	struct dirent **names;
	int n = sorted_dir(dir, &names), count = 0;

	tap_ok(n > 2, "testfiles directory is readable");
	for (int i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.') {
			_cleanup_free_ char *df =
			    hoist_xasprintf("%s/%s/Dockerfile", dir, names[i]->d_name);
			_cleanup_free_ char *rf =
			    hoist_xasprintf("%s/%s/result", dir, names[i]->d_name);
			size_t dl = 0, rl = 0;
			_cleanup_free_ char *d = slurp(df, &dl);
			_cleanup_free_ char *want = slurp(rf, &rl);
			struct hoist_error err;
			_cleanup_free_ char *got = d ? dump_str(d, dl, &err) : NULL;
			if (!tap_ok(got && want && strcmp(got, want) == 0, "testfiles/%s",
				    names[i]->d_name))
				tap_diag("got:\n%s\nwant:\n%s", got ? got : err.msg,
					 want ? want : "");
			count++;
		}
		free(names[i]);
	}
	free(names);
	tap_ok(count == 22, "22 testfiles cases (found %d)", count);
}

static void test_negative(void)
{
	_cleanup_free_ char *dir =
	    hoist_xasprintf("%s/buildkit-parser/testfiles-negative", corpora);
	struct dirent **names;
	int n = sorted_dir(dir, &names), count = 0;

	for (int i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.') {
			_cleanup_free_ char *df =
			    hoist_xasprintf("%s/%s/Dockerfile", dir, names[i]->d_name);
			size_t dl = 0;
			_cleanup_free_ char *d = slurp(df, &dl);
			struct hoist_df_ast *ast = NULL;
			struct hoist_error err;
			int r = d ? hoist_df_parse(d, dl, "Dockerfile", &ast, &err) : 0;
			tap_ok(d && r < 0 && err.line > 0 && err.msg[0] &&
				   strcmp(err.file, "Dockerfile") == 0,
			       "negative/%s fails: %d: %s", names[i]->d_name, d ? err.line : 0,
			       d ? err.msg : "unreadable");
			hoist_df_ast_free(ast);
			count++;
		}
		free(names[i]);
	}
	free(names);
	tap_ok(count == 4, "4 negative cases (found %d)", count);
}

static void test_lines(void)
{
	_cleanup_free_ char *f =
	    hoist_xasprintf("%s/buildkit-parser/testfile-line/Dockerfile", corpora);
	struct hoist_df_ast *ast = NULL;
	struct hoist_error err;
	static const int want[][2] = {{5, 5}, {11, 12}, {17, 31}};

	if (!tap_ok(hoist_df_parse_file(f, &ast, &err) == 0, "testfile-line parses")) {
		tap_diag("%s", err.msg);
		return;
	}
	tap_ok(ast->root->n_children == 3, "testfile-line has 3 instructions");
	for (size_t i = 0; i < 3 && i < ast->root->n_children; i++) {
		struct hoist_df_node *c = ast->root->children[i];
		tap_ok(c->start_line == want[i][0] && c->end_line == want[i][1],
		       "testfile-line instruction %zu spans (%d,%d), want (%d,%d)", i,
		       c->start_line, c->end_line, want[i][0], want[i][1]);
	}
	tap_ok(ast->root->start_line == 5 && ast->root->end_line == 31, "root spans (5,31)");
	hoist_df_ast_free(ast);
}

static void test_extracts(void)
{
	_cleanup_free_ char *f =
	    hoist_xasprintf("%s/buildkit-parser/heredoc/extracts.Dockerfile", corpora);
	_cleanup_free_ char *jf =
	    hoist_xasprintf("%s/buildkit-parser/heredoc/extracts.expected.json", corpora);
	struct hoist_df_ast *ast = NULL;
	struct hoist_error err;
	json_error_t jerr;
	json_t *j = json_load_file(jf, 0, &jerr), *cases, *c;
	size_t i;

	if (!tap_ok(j != NULL, "extracts.expected.json loads"))
		return;
	if (!tap_ok(hoist_df_parse_file(f, &ast, &err) == 0, "extracts.Dockerfile parses")) {
		tap_diag("%s:%d: %s", err.file, err.line, err.msg);
		json_decref(j);
		return;
	}
	cases = json_object_get(j, "cases");
	tap_ok(json_array_size(cases) == 27, "27 heredoc cases");
	json_array_foreach(cases, i, c)
	{
		size_t idx = (size_t)json_integer_value(json_object_get(c, "child"));
		const char *instr = json_string_value(json_object_get(c, "instruction"));
		json_t *hs = json_object_get(c, "heredocs"), *h;
		struct hoist_df_node *n =
		    idx < ast->root->n_children ? ast->root->children[idx] : NULL;
		bool ok =
		    n && strcmp(n->original, instr) == 0 && n->n_heredocs == json_array_size(hs);
		size_t k;
		json_array_foreach(hs, k, h)
		{
			if (!ok)
				break;
			const struct hoist_df_heredoc *d = &n->heredocs[k];
			const char *content = json_string_value(json_object_get(h, "content"));
			ok = strcmp(d->name, json_string_value(json_object_get(h, "name"))) == 0 &&
			     d->content_len == strlen(content) &&
			     memcmp(d->content, content, d->content_len) == 0 &&
			     d->expand == json_is_true(json_object_get(h, "expand")) &&
			     d->chomp == json_is_true(json_object_get(h, "chomp")) &&
			     d->fd == json_integer_value(json_object_get(h, "fd"));
		}
		tap_ok(ok, "heredoc extract %zu: %s", idx, instr);
	}
	hoist_df_ast_free(ast);
	json_decref(j);
}

static char *trim_fields(char *s)
{
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

static void test_heredoc_word(void)
{
	_cleanup_free_ char *f =
	    hoist_xasprintf("%s/buildkit-parser/heredoc/parse_heredoc_word.tsv", corpora);
	size_t len = 0;
	_cleanup_free_ char *data = slurp(f, &len);
	int count = 0;

	if (!tap_ok(data != NULL, "parse_heredoc_word.tsv readable"))
		return;
	for (char *line = data, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		trim_fields(line);
		if (line[0] == '#' || !strchr(line, '\t'))
			continue;
		char *tab = strchr(line, '\t');
		*tab = '\0';
		const char *word = line, *want = tab + 1;
		struct hoist_df_heredoc h = {0};
		bool is = false;
		int r = hoist_df_parse_heredoc_word(word, &is, &h);
		bool ok;
		if (strcmp(want, "error") == 0)
			ok = r < 0;
		else if (strcmp(want, "not-heredoc") == 0)
			ok = r == 0 && !is;
		else
			ok = r == 0 && is && hoist_startswith(want, "valid:") &&
			     strcmp(h.name, want + 6) == 0;
		tap_ok(ok, "parse_heredoc_word '%s' -> %s", word, want);
		hoist_df_heredoc_release(&h);
		count++;
	}
	tap_ok(count == 20, "20 parse_heredoc_word rows (found %d)", count);
}

static void test_heredocs_from_line(void)
{
	_cleanup_free_ char *f =
	    hoist_xasprintf("%s/buildkit-parser/heredoc/heredocs_from_line.tsv", corpora);
	size_t len = 0;
	_cleanup_free_ char *data = slurp(f, &len);
	int count = 0;

	if (!tap_ok(data != NULL, "heredocs_from_line.tsv readable"))
		return;
	for (char *line = data, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		trim_fields(line);
		if (line[0] == '#' || !strchr(line, '\t'))
			continue;
		char *tab = strchr(line, '\t');
		*tab = '\0';
		struct hoist_df_heredoc *docs = NULL;
		size_t n = 0;
		struct hoist_error err;
		struct hoist_buf names = HOIST_BUF_INIT;
		int r = df_heredocs_from_line(line, strlen(line), &docs, &n, &err);
		hoist_buf_add(&names, "", 0);
		for (size_t i = 0; r == 0 && i < n; i++) {
			if (i)
				hoist_buf_addc(&names, ',');
			hoist_buf_adds(&names, docs[i].name);
		}
		tap_ok(r == 0 && strcmp(names.data, tab + 1) == 0,
		       "heredocs_from_line '%s' -> '%s'", line, names.data);
		for (size_t i = 0; i < n; i++)
			hoist_df_heredoc_release(&docs[i]);
		free(docs);
		hoist_buf_release(&names);
		count++;
	}
	tap_ok(count == 10, "10 heredocs_from_line rows (found %d)", count);
}

static void test_json_no_heredoc(void)
{
	_cleanup_free_ char *f =
	    hoist_xasprintf("%s/buildkit-parser/heredoc/json-no-heredoc.Dockerfile", corpora);
	struct hoist_df_ast *ast = NULL;
	struct hoist_error err;
	bool ok = true;

	if (!tap_ok(hoist_df_parse_file(f, &ast, &err) == 0, "json-no-heredoc parses"))
		return;
	for (size_t i = 1; i < ast->root->n_children; i++) {
		struct hoist_df_node *n = ast->root->children[i];
		ok = ok && n->json && n->n_heredocs == 0;
	}
	tap_ok(ok && ast->root->n_children == 4, "JSON-form RUN never reads heredocs");
	hoist_df_ast_free(ast);
}

static void test_json_arrays(void)
{
	_cleanup_free_ char *f = hoist_xasprintf("%s/buildkit-parser/json_arrays.json", corpora);
	json_error_t jerr;
	json_t *j = json_load_file(f, JSON_ALLOW_NUL, &jerr), *cases, *c;
	size_t i;

	if (!tap_ok(j != NULL, "json_arrays.json loads"))
		return;
	cases = json_object_get(j, "cases");
	tap_ok(json_array_size(cases) == 16, "16 JSON array cases");
	json_array_foreach(cases, i, c)
	{
		const char *input = json_string_value(json_object_get(c, "input"));
		json_t *want = json_object_get(c, "expected");
		_cleanup_free_ char *df = hoist_xasprintf("RUN %s\n", input);
		struct hoist_error err;
		struct hoist_df_ast *ast = parse_str(df, &err);
		bool ok;

		if (!want) {
			ok = !ast && err.line == 1;
		} else {
			struct hoist_df_node *n = ast ? ast->root->children[0] : NULL;
			struct hoist_df_node *a = n ? n->next : NULL;
			size_t k;
			json_t *w;
			ok = n && n->json;
			json_array_foreach(want, k, w)
			{
				ok = ok && a && a->value_len == json_string_length(w) &&
				     memcmp(a->value, json_string_value(w), a->value_len) == 0;
				a = a ? a->next : NULL;
			}
			ok = ok && !a;
		}
		tap_ok(ok, "json array %s", input);
		hoist_df_ast_free(ast);
	}
	json_decref(j);
}

/* ---- dockerfiles-parsed --------------------------------------------- */

static int parsed_pass, parsed_total;

static bool check_parse_json(const char *jpath, const struct hoist_df_ast *ast)
{
	json_error_t jerr;
	json_t *j = json_load_file(jpath, 0, &jerr), *children, *c;
	size_t i;
	bool ok;

	if (!j)
		return true; /* .parse.json is optional */
	children = json_object_get(j, "children");
	ok = json_array_size(children) == ast->root->n_children &&
	     ast->escape == json_string_value(json_object_get(j, "escape_token"))[0];
	json_array_foreach(children, i, c)
	{
		if (!ok)
			break;
		const struct hoist_df_node *n = ast->root->children[i];
		json_t *flags = json_object_get(c, "flags");
		_cleanup_buf_ struct hoist_buf d = HOIST_BUF_INIT;
		hoist_df_node_dump(n, &d);
		ok = strcasecmp(n->value, json_string_value(json_object_get(c, "cmd"))) == 0 &&
		     n->start_line == json_integer_value(json_object_get(c, "start_line")) &&
		     n->end_line == json_integer_value(json_object_get(c, "end_line")) &&
		     strcmp(n->original, json_string_value(json_object_get(c, "original"))) == 0 &&
		     n->json == json_is_true(json_object_get(c, "json_form")) &&
		     n->n_flags == json_array_size(flags) && d.data &&
		     strcmp(d.data, json_string_value(json_object_get(c, "dump"))) == 0;
		for (size_t k = 0; ok && k < n->n_flags; k++)
			ok = strcmp(n->flags[k], json_string_value(json_array_get(flags, k))) == 0;
		if (!ok)
			tap_diag("%s: instruction %zu differs", jpath, i);
	}
	json_decref(j);
	return ok;
}

static int visit_ast(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	size_t plen = strlen(path), rlen;
	_cleanup_free_ char *parsed_root = hoist_xasprintf("%s/dockerfiles-parsed/", corpora);

	(void)st;
	(void)ftw;
	if (type != FTW_F || !hoist_endswith(path, ".ast"))
		return 0;
	rlen = strlen(parsed_root);
	_cleanup_free_ char *rel = hoist_xstrndup(path + rlen, plen - rlen - 4);
	_cleanup_free_ char *df = hoist_xasprintf("%s/dockerfiles/%s", corpora, rel);
	_cleanup_free_ char *jp = hoist_xasprintf("%.*s.parse.json", (int)(plen - 4), path);
	size_t dl = 0, al = 0;
	_cleanup_free_ char *d = slurp(df, &dl);
	_cleanup_free_ char *want = slurp(path, &al);
	struct hoist_df_ast *ast = NULL;
	struct hoist_error err;
	bool ok = d && want && hoist_df_parse(d, dl, df, &ast, &err) == 0;
	if (ok) {
		_cleanup_buf_ struct hoist_buf b = HOIST_BUF_INIT;
		hoist_buf_add(&b, "", 0);
		hoist_df_ast_dump(ast, &b);
		ok = strcmp(b.data, want) == 0 && check_parse_json(jp, ast);
	}
	hoist_df_ast_free(ast);
	parsed_total++;
	if (tap_ok(ok, "dockerfiles-parsed/%s", rel))
		parsed_pass++;
	return 0;
}

static void test_dockerfiles_parsed(void)
{
	_cleanup_free_ char *root = hoist_xasprintf("%s/dockerfiles-parsed", corpora);

	tap_ok(nftw(root, visit_ast, 16, FTW_PHYS) == 0, "walked dockerfiles-parsed");
	tap_ok(parsed_total >= 68, "at least 68 parsed Dockerfiles (found %d, %d equal)",
	       parsed_total, parsed_pass);
}

/* ---- hoist's own cases ------------------------------------------------ */

struct dump_case {
	const char *in;
	const char *want; /* NULL: must fail */
};

static const struct dump_case own_cases[] = {
    /* directives */
    {"# ESCAPE = `\nFROM a`\n b\n", "(from \"a\" \"b\")\n"},
    {"# escape=\\\n# escape=`\nFROM a\n", NULL},
    {"# syntax=x\n# syntax=y\nFROM a\n", NULL},
    {"# escape=x\nFROM a\n", NULL},
    {"# escape= \nFROM a\n", NULL},
    {"# check=skip=all\n# escape=`\nRUN a`\nb\n", "(run \"ab\")\n"},
    {"FROM a\n# escape=`\nRUN a`\n", "(from \"a\")\n(run \"a`\")\n"},
    {"\xEF\xBB\xBF# escape=`\nRUN a`\nb\n", "(run \"ab\")\n"},
    /* CRLF, trailing blanks after the escape, comments in continuations */
    {"RUN a \\ \t\r\n  # c\r\n  b\r\n", "(run \"a   b\")\n"},
    {"RUN a\\\\\nRUN b\n", "(run \"a\\\\\\\\\")\n(run \"b\")\n"},
    {"\\\n", "(\"\")\n"},
    {"RUN \\\n", "(run)\n"},
    /* flags */
    {"COPY --from=a --chown=\"b c\" -- --x y\n",
     "(copy [\"--from=a\" \"--chown=b c\"] \"--x\" \"y\")\n"},
    {"COPY --link\n", "(copy [\"--link\"])\n"},
    {"RUN --a=\xC3\xA9 x\n", "(run [\"--a=\xC3\x83\xC2\xA9\"] \"x\")\n"},
    /* argument shapes */
    {"FOO bar baz\n", "(foo \"\")\n"},
    {"COPY \"a b\" c\n", "(copy \"\\\"a\" \"b\\\"\" \"c\")\n"},
    {"ENV a=1 b=\"x y\"\n", "(env \"a\" \"1\" \"=\" \"b\" \"\\\"x y\\\"\" \"=\")\n"},
    {"ENV a b c\n", "(env \"a\" \"b c\" \"\")\n"},
    {"ENV a=1 b\n", NULL},
    {"ENV\n", "(env)\n"},
    {"ARG a=\"x y\" b\n", "(arg \"a=\\\"x y\\\"\" \"b\")\n"},
    {"CMD [\"a\"] trailing\n", "(cmd \"a\")\n"},
    {"CMD [\"a\", 1e999]\n", "(cmd \"[\\\"a\\\", 1e999]\")\n"},
    {"CMD [\"a\", 1]\n", NULL},
    {"CMD [\"\\ud800\"]\n", "(cmd \"\xEF\xBF\xBD\")\n"},
    {"RUN [\"a\",\n", "(run \"[\\\"a\\\",\")\n"},
    {"ONBUILD RUN x\n", "(onbuild (run \"x\"))\n"},
    {"ONBUILD --f ADD [\"a\",\"b\"]\n", "(onbuild [\"--f\"] (add \"a\" \"b\"))\n"},
    {"ONBUILD ONBUILD RUN x\n", NULL},
    {"onbuild from x\n", NULL},
    {"ONBUILD MAINTAINER x\n", NULL},
    {"HEALTHCHECK NONE\n", "(healthcheck \"NONE\")\n"},
    {"STOPSIGNAL  SIGKILL \n", "(stopsignal \"SIGKILL\")\n"},
    /* Go quoting */
    {"RUN a\x01\x7f\xff\"\\\t\xE2\x80\x8B\n", "(run \"a\\x01\\x7f\\xff\\\"\\\\\\t\\u200b\")\n"},
    /* heredocs */
    {"RUN <<EOF\nx\nEOF\n", "(run \"<<EOF\")\n"},
    {"RUN <<EOF\nx\n", NULL},
    {"ONBUILD RUN <<EOF\nx\nEOF\nRUN y\n", "(onbuild (run \"<<EOF\"))\n(run \"y\")\n"},
    {"RUN \"<<EOF\nEOF\n", "(run \"\\\"<<EOF\")\n(eof \"\")\n"},
    {"# just a comment\n\n", NULL},
    {"", NULL},
};

static void test_own_cases(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(own_cases); i++) {
		const struct dump_case *c = &own_cases[i];
		struct hoist_error err;
		_cleanup_free_ char *got = dump_str(c->in, strlen(c->in), &err);
		bool ok = c->want ? got && strcmp(got, c->want) == 0 : !got && err.line > 0;
		if (!tap_ok(ok, "own case %zu", i))
			tap_diag("input %s\ngot: %s", c->in, got ? got : err.msg);
	}
}

static void test_details(void)
{
	struct hoist_error err;
	struct hoist_df_ast *ast;

	ast = parse_str("# syntax=docker/dockerfile:1\n# Check = skip=all\n\n# hello\n"
			"# world\nRUN a \\\n\n  b\nONBUILD COPY <<A <<-B /d\nx\nA\n\ty\n\tB\n",
			&err);
	if (!tap_ok(ast != NULL, "details parse")) {
		tap_diag("%s", err.msg);
		return;
	}
	tap_ok(ast->n_directives == 2 && strcmp(ast->directives[0].name, "syntax") == 0 &&
		   strcmp(ast->directives[0].value, "docker/dockerfile:1") == 0 &&
		   strcmp(ast->directives[1].name, "check") == 0 && ast->directives[1].line == 2,
	       "directives recorded with lower-cased names and lines");
	struct hoist_df_node *run = ast->root->children[0];
	tap_ok(run->prev_comment && strcmp(run->prev_comment[0], "hello") == 0 &&
		   strcmp(run->prev_comment[1], "world") == 0 && !run->prev_comment[2],
	       "comments before an instruction are kept");
	tap_ok(ast->n_warnings == 1 && ast->warnings[0].line == 8,
	       "empty continuation line warns at the instruction's last line");
	tap_ok(run->start_line == 6 && run->end_line == 8, "RUN spans 6-8");
	struct hoist_df_node *ob = ast->root->children[1];
	tap_ok(ob->n_heredocs == 2 && strcmp(ob->heredocs[1].name, "B") == 0 &&
		   ob->heredocs[1].chomp && strcmp(ob->heredocs[1].content, "\ty\n") == 0 &&
		   ob->end_line == 13 && ob->next->children[0]->start_line == 9,
	       "ONBUILD COPY heredocs attach to the ONBUILD node, body lines counted");
	json_t *j = hoist_df_ast_to_json(ast);
	json_t *i1 = json_array_get(json_object_get(j, "instructions"), 1);
	tap_ok(json_is_object(json_object_get(i1, "onbuild")) &&
		   json_array_size(json_object_get(i1, "heredocs")) == 2 &&
		   strcmp(json_string_value(json_object_get(j, "escape")), "\\") == 0,
	       "JSON tree has the nested instruction and heredocs");
	json_decref(j);
	hoist_df_ast_free(ast);

	ast = parse_str("RUN [\"a\\u0000b\"]\n", &err);
	_cleanup_buf_ struct hoist_buf b = HOIST_BUF_INIT;
	if (ast)
		hoist_df_ast_dump(ast, &b);
	tap_ok(ast && ast->root->children[0]->next->value_len == 3 && b.data &&
		   strcmp(b.data, "(run \"a\\x00b\")\n") == 0,
	       "NUL from a JSON escape is kept and dumped");
	hoist_df_ast_free(ast);

	/* BuildKit's 64 KiB physical line limit */
	size_t n = 70000;
	_cleanup_free_ char *big = hoist_xmalloc(n + 16);
	/* with no instruction before it, BuildKit reports "no instructions" instead */
	memcpy(big, "FROM x\nRUN ", 11);
	memset(big + 11, 'a', n);
	memcpy(big + 11 + n, "\n", 2);
	ast = parse_str(big, &err);
	tap_ok(!ast && strstr(err.msg, "line greater than max") != NULL,
	       "a physical line over 64 KiB fails: %s", err.msg);
	hoist_df_ast_free(ast);

	ast = parse_str("FROM a\nRUN <<EOF\n", &err);
	tap_ok(!ast && err.line == 2 && strcmp(err.msg, "unterminated heredoc") == 0,
	       "unterminated heredoc reported at its instruction");
	hoist_df_ast_free(ast);
}

int main(void)
{
	tap_plan_auto();
	corpora = tap_corpora("buildkit-parser");
	tap_corpora("dockerfiles");
	tap_corpora("dockerfiles-parsed");
	test_testfiles();
	test_negative();
	test_lines();
	test_extracts();
	test_heredoc_word();
	test_heredocs_from_line();
	test_json_no_heredoc();
	test_json_arrays();
	test_dockerfiles_parsed();
	test_own_cases();
	test_details();
	return tap_done();
}
