/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Dockerfile parser, following BuildKit's frontend/dockerfile/parser:
 * physical lines -> parser directives at the top -> logical lines (escape
 * continuations, comments dropped) -> one node per instruction, then heredoc
 * bodies read straight from the following physical lines.
 */
#include <fcntl.h>
#include <string.h>

#include "parser-private.h"

/*
 * BuildKit reads lines with a bufio.Scanner of default size: a physical line
 * (with its newline) longer than 64 KiB stops the scan and fails the parse.
 */
#define SCAN_MAX_TOKEN ((size_t)64 * 1024)

struct scanner {
	const char *data;
	size_t len, pos;
	bool too_long;
	/* the current physical line, newline included */
	const char *line;
	size_t line_len;
};

static bool scan(struct scanner *sc)
{
	const char *nl;
	size_t n;

	if (sc->too_long || sc->pos >= sc->len)
		return false;
	nl = memchr(sc->data + sc->pos, '\n', sc->len - sc->pos);
	n = nl ? (size_t)(nl - (sc->data + sc->pos)) + 1 : sc->len - sc->pos;
	if (n > SCAN_MAX_TOKEN || (!nl && n >= SCAN_MAX_TOKEN)) {
		sc->too_long = true;
		return false;
	}
	sc->line = sc->data + sc->pos;
	sc->line_len = n;
	sc->pos += n;
	return true;
}

struct directives {
	bool done;
	int line;
	bool seen[3];
};

static const char *const directive_names[] = {"syntax", "escape", "check"};

struct pstate {
	const char *filename;
	struct df_ctx ctx;
	struct directives dir;
	struct hoist_df_ast *ast;
	struct hoist_error *err;
	size_t n_alloc;
	size_t dir_alloc;
	size_t warn_alloc;
};

static void trim_newline(const char **s, size_t *len)
{
	while (*len > 0 && ((*s)[*len - 1] == '\r' || (*s)[*len - 1] == '\n'))
		(*len)--;
}

static bool is_comment(const char *s, size_t len)
{
	df_trim_left_space(&s, &len);
	return len > 0 && s[0] == '#';
}

static bool re_space(char c)
{
	return c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' ';
}

/*
 * DirectiveParser.ParseLine: "#" key "=" value while no other line has been
 * seen. Returns 1 for a directive, 0 for none, negative on error.
 */
static int possible_directive(struct pstate *ps, const char *s, size_t len, int lineno)
{
	struct directives *d = &ps->dir;
	size_t i = 0, klen, v0, v1;
	int which = -1;

	d->line++;
	if (d->done)
		return 0;
	if (len == 0 || s[0] != '#') {
		d->done = true;
		return 0;
	}
	s++;
	len--;
	df_trim_left_space(&s, &len);
	/* ^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$ */
	if (len == 0 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'))) {
		d->done = true;
		return 0;
	}
	while (i < len && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
			   (s[i] >= '0' && s[i] <= '9')))
		i++;
	klen = i;
	while (i < len && re_space(s[i]))
		i++;
	if (i >= len || s[i] != '=') {
		d->done = true;
		return 0;
	}
	i++;
	if (i >= len) {
		d->done = true;
		return 0;
	}
	v0 = i;
	while (v0 < len && re_space(s[v0]))
		v0++;
	v1 = len;
	while (v1 > v0 && re_space(s[v1 - 1]))
		v1--;
	if (v0 == v1) {
		/* all blanks: the lazy (.+?) still takes the last one */
		v0 = len - 1;
		v1 = len;
	}
	for (size_t k = 0; k < ARRAY_SIZE(directive_names); k++) {
		const char *name = directive_names[k];
		if (strlen(name) != klen)
			continue;
		bool eq = true;
		for (size_t c = 0; c < klen; c++) {
			char ch = s[c];
			if (ch >= 'A' && ch <= 'Z')
				ch = (char)(ch + 32);
			if (ch != name[c])
				eq = false;
		}
		if (eq)
			which = (int)k;
	}
	if (which < 0) {
		d->done = true;
		return 0;
	}
	if (d->seen[which])
		return hoist_error_set_at(ps->err, -EBADMSG, ps->filename, lineno, 0,
					  "only one %s parser directive can be used",
					  directive_names[which]);
	d->seen[which] = true;

	const char *value = s + v0;
	size_t vlen = v1 - v0;
	if (which == 1) {
		if (vlen != 1 || (value[0] != '`' && value[0] != '\\'))
			return hoist_error_set_at(
			    ps->err, -EBADMSG, ps->filename, lineno, 0,
			    "invalid escape token '%.*s' does not match ` or \\", (int)vlen, value);
		ps->ctx.escape = value[0];
	}

	struct hoist_df_ast *ast = ps->ast;
	if (ast->n_directives == ps->dir_alloc) {
		ps->dir_alloc = ps->dir_alloc ? ps->dir_alloc * 2 : 4;
		ast->directives =
		    hoist_xrealloc(ast->directives, ps->dir_alloc * sizeof(*ast->directives));
	}
	ast->directives[ast->n_directives++] = (struct hoist_df_directive){
	    .name = hoist_xstrdup(directive_names[which]),
	    .value = hoist_xstrndup(value, vlen),
	    .line = lineno,
	};
	return 1;
}

/*
 * processLine: drop the newline, optionally leading blanks, look for a
 * directive, and blank out comment lines.
 */
static int process_line(struct pstate *ps, const char *line, size_t len, bool strip_left,
			int lineno, const char **ret, size_t *ret_len)
{
	int r;

	trim_newline(&line, &len);
	if (strip_left)
		df_trim_left_space(&line, &len);
	r = possible_directive(ps, line, len, lineno);
	if (r < 0)
		return r;
	if (is_comment(line, len))
		len = 0;
	*ret = line;
	*ret_len = len;
	return r;
}

/*
 * The continuation regex ([^E])E[ \t]*$|^E[ \t]*$ for escape E: an escape
 * char at the end (blanks after it allowed) not itself escaped. On a match
 * the char and the blanks go; returns true when the line continues.
 */
static bool trim_continuation(const struct pstate *ps, const char *s, size_t *len)
{
	size_t n = *len;

	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n == 0 || s[n - 1] != ps->ctx.escape)
		return false;
	if (n >= 2 && s[n - 2] == ps->ctx.escape)
		return false;
	*len = n - 1;
	return true;
}

static void add_warning(struct pstate *ps, int line, char *msg)
{
	struct hoist_df_ast *ast = ps->ast;

	if (ast->n_warnings == ps->warn_alloc) {
		ps->warn_alloc = ps->warn_alloc ? ps->warn_alloc * 2 : 4;
		ast->warnings =
		    hoist_xrealloc(ast->warnings, ps->warn_alloc * sizeof(*ast->warnings));
	}
	ast->warnings[ast->n_warnings++] = (struct hoist_df_warning){.msg = msg, .line = line};
}

static void add_child(struct pstate *ps, struct hoist_df_node *child)
{
	struct hoist_df_node *root = ps->ast->root;

	if (root->n_children == ps->n_alloc) {
		ps->n_alloc = ps->n_alloc ? ps->n_alloc * 2 : 16;
		root->children =
		    hoist_xrealloc(root->children, ps->n_alloc * sizeof(*root->children));
	}
	if (root->n_children == 0)
		root->start_line = child->start_line;
	root->end_line = child->end_line;
	root->children[root->n_children++] = child;
}

static void set_lines(struct hoist_df_node *n, int start, int end)
{
	n->start_line = start;
	n->end_line = end;
	/* the nested ONBUILD instruction shares its parent's lines */
	if (n->next && n->next->n_children > 0)
		set_lines(n->next->children[0], start, end);
}

static int read_heredocs(struct pstate *ps, struct scanner *sc, struct hoist_df_node *child,
			 const char *line, size_t len, int start_line, int *current_line)
{
	struct hoist_df_heredoc *docs = NULL;
	size_t n = 0;
	int r;

	r = df_heredocs_from_line(line, len, &docs, &n, ps->err);
	if (r < 0) {
		ps->err->line = start_line;
		snprintf(ps->err->file, sizeof(ps->err->file), "%s", ps->filename);
		return r;
	}
	child->heredocs = docs;
	child->n_heredocs = n;
	for (size_t i = 0; i < n; i++) {
		struct hoist_df_heredoc *h = &docs[i];
		_cleanup_buf_ struct hoist_buf content = HOIST_BUF_INIT;
		size_t name_len = strlen(h->name);
		bool terminated = false;

		hoist_buf_init(&content, HOIST_DF_MAX_SIZE);
		hoist_buf_add(&content, "", 0);
		while (scan(sc)) {
			const char *t = sc->line;
			size_t tlen = sc->line_len;
			(*current_line)++;
			trim_newline(&t, &tlen);
			if (h->chomp)
				while (tlen > 0 && t[0] == '\t') {
					t++;
					tlen--;
				}
			if (tlen == name_len && memcmp(t, h->name, tlen) == 0) {
				terminated = true;
				break;
			}
			if (hoist_buf_add(&content, sc->line, sc->line_len) < 0)
				return hoist_error_set_at(ps->err, -EFBIG, ps->filename, start_line,
							  0, "heredoc too large");
		}
		if (!terminated)
			return hoist_error_set_at(ps->err, -EBADMSG, ps->filename, start_line, 0,
						  "unterminated heredoc");
		h->content = hoist_buf_detach(&content, &h->content_len);
	}
	return 0;
}

static void comments_push(struct hoist_strv *c, const char *s, size_t len)
{
	hoist_strv_take(c, hoist_xstrndup(s, len));
}

static int parse(struct pstate *ps, const char *data, size_t len)
{
	struct scanner sc = {data, len, 0, false, NULL, 0};
	_cleanup_strv_ struct hoist_strv comments = HOIST_STRV_INIT;
	_cleanup_buf_ struct hoist_buf buf = HOIST_BUF_INIT;
	int current_line = 0;
	int r;

	hoist_buf_init(&buf, HOIST_DF_MAX_LINE);
	while (scan(&sc)) {
		const char *raw = sc.line, *s;
		size_t raw_len = sc.line_len, n;

		if (current_line == 0 && raw_len >= 3 && memcmp(raw, "\xEF\xBB\xBF", 3) == 0) {
			raw += 3;
			raw_len -= 3;
		}
		if (is_comment(raw, raw_len)) {
			/* BuildKit takes the text after the line's first byte */
			const char *c = raw + 1;
			size_t clen = raw_len - 1;
			df_trim_space(&c, &clen);
			if (clen == 0)
				hoist_strv_release(&comments);
			else
				comments_push(&comments, c, clen);
		}
		r = process_line(ps, raw, raw_len, true, current_line + 1, &s, &n);
		if (r < 0)
			return r;
		if (r > 0 && comments.n > 0) {
			/* a directive is not a comment of the next instruction */
			free(comments.v[--comments.n]);
			comments.v[comments.n] = NULL;
		}
		current_line++;

		int start_line = current_line;
		bool cont = trim_continuation(ps, s, &n);
		if (!cont && n == 0)
			continue;
		hoist_buf_reset(&buf);
		hoist_buf_add(&buf, "", 0);
		if (hoist_buf_add(&buf, s, n) < 0)
			goto too_long;

		bool empty_cont = false;
		while (cont && scan(&sc)) {
			r = process_line(ps, sc.line, sc.line_len, false, current_line + 1, &s, &n);
			if (r < 0)
				return r;
			current_line++;
			if (is_comment(sc.line, sc.line_len))
				continue;
			const char *t = s;
			size_t tlen = n;
			df_trim_left_space(&t, &tlen);
			if (tlen == 0) {
				empty_cont = true;
				continue;
			}
			cont = trim_continuation(ps, s, &n);
			if (hoist_buf_add(&buf, s, n) < 0)
				goto too_long;
		}

		if (empty_cont)
			add_warning(
			    ps, current_line,
			    hoist_xasprintf("empty continuation line found in: %s", buf.data));

		struct hoist_df_node *child = NULL;
		r = df_node_from_line(&ps->ctx, buf.data, buf.len, &child, ps->err);
		if (r < 0) {
			ps->err->line = start_line;
			snprintf(ps->err->file, sizeof(ps->err->file), "%s", ps->filename);
			return r;
		}
		if (comments.n) {
			child->prev_comment = TAKE_PTR(comments.v);
			comments.n = comments.alloc = 0;
		}
		if (df_node_can_contain_heredoc(child) && memmem(buf.data, buf.len, "<<", 2)) {
			r = read_heredocs(ps, &sc, child, buf.data, buf.len, start_line,
					  &current_line);
			if (r < 0) {
				hoist_df_node_free(child);
				return r;
			}
		}
		set_lines(child, start_line, current_line);
		if (ps->ast->root->n_children >= HOIST_DF_MAX_INSTRUCTIONS) {
			hoist_df_node_free(child);
			return hoist_error_set_at(ps->err, -EFBIG, ps->filename, start_line, 0,
						  "more than %d instructions",
						  HOIST_DF_MAX_INSTRUCTIONS);
		}
		add_child(ps, child);
		hoist_strv_release(&comments);
		continue;
	too_long:
		return hoist_error_set_at(ps->err, -EFBIG, ps->filename, start_line, 0,
					  "instruction longer than %zu bytes", HOIST_DF_MAX_LINE);
	}

	if (ps->ast->root->n_children == 0)
		return hoist_error_set_at(ps->err, -EBADMSG, ps->filename,
					  current_line > 0 ? current_line : 1, 0,
					  "file with no instructions");
	if (sc.too_long)
		return hoist_error_set_at(ps->err, -EFBIG, ps->filename, current_line + 1, 0,
					  "dockerfile line greater than max allowed size of %zu",
					  SCAN_MAX_TOKEN - 1);
	return 0;
}

int hoist_df_parse(const char *data, size_t len, const char *filename, struct hoist_df_ast **ret,
		   struct hoist_error *err)
{
	struct hoist_error local;
	struct pstate ps = {0};
	int r;

	if (!err)
		err = &local;
	hoist_error_clear(err);
	if (!filename)
		filename = "Dockerfile";
	if (len > HOIST_DF_MAX_SIZE)
		return hoist_error_set_at(err, -EFBIG, filename, 0, 0,
					  "dockerfile larger than %zu bytes", HOIST_DF_MAX_SIZE);
	ps.filename = filename;
	ps.err = err;
	ps.ctx.escape = '\\';
	ps.ast = hoist_xcalloc(1, sizeof(*ps.ast));
	ps.ast->root = hoist_xcalloc(1, sizeof(*ps.ast->root));
	ps.ast->root->value = hoist_xstrdup("");
	ps.ast->root->start_line = -1;
	r = parse(&ps, data ? data : "", data ? len : 0);
	if (r < 0) {
		hoist_df_ast_free(ps.ast);
		return r;
	}
	ps.ast->escape = ps.ctx.escape;
	*ret = ps.ast;
	return 0;
}

int hoist_df_parse_file(const char *path, struct hoist_df_ast **ret, struct hoist_error *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	int r;

	r = hoist_read_file_at(AT_FDCWD, path, HOIST_DF_MAX_SIZE, &data, &len, err);
	if (r < 0)
		return r;
	return hoist_df_parse(data, len, path, ret, err);
}

void hoist_df_node_free(struct hoist_df_node *n)
{
	while (n) {
		struct hoist_df_node *next = n->next;
		for (size_t i = 0; i < n->n_children; i++)
			hoist_df_node_free(n->children[i]);
		free(n->children);
		for (size_t i = 0; i < n->n_heredocs; i++)
			hoist_df_heredoc_release(&n->heredocs[i]);
		free(n->heredocs);
		hoist_strv_free(n->flags);
		hoist_strv_free(n->prev_comment);
		free(n->original);
		free(n->value);
		free(n);
		n = next;
	}
}

void hoist_df_ast_free(struct hoist_df_ast *ast)
{
	if (!ast)
		return;
	hoist_df_node_free(ast->root);
	for (size_t i = 0; i < ast->n_directives; i++) {
		free(ast->directives[i].name);
		free(ast->directives[i].value);
	}
	free(ast->directives);
	for (size_t i = 0; i < ast->n_warnings; i++)
		free(ast->warnings[i].msg);
	free(ast->warnings);
	free(ast);
}
