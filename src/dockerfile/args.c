/* SPDX-License-Identifier: Apache-2.0 */
/*
 * BuildKit's per-instruction argument parsing (line_parsers.go and
 * split_command.go): command word, leading --flags, then one of a handful
 * of argument shapes per instruction. Quirks are kept on purpose, since the
 * point is to produce exactly BuildKit's tree.
 */
#include <math.h>
#include <string.h>

#include "parser-private.h"

#define JSON_MAX_DEPTH 10000 /* encoding/json's maxNestingDepth */

void df_args_push(struct df_args *a, const char *s, size_t len)
{
	if (a->n == a->alloc) {
		a->alloc = a->alloc ? a->alloc * 2 : 8;
		a->v = hoist_xrealloc(a->v, a->alloc * sizeof(*a->v));
		a->lens = hoist_xrealloc(a->lens, a->alloc * sizeof(*a->lens));
	}
	a->v[a->n] = hoist_xmalloc(len + 1);
	if (len)
		memcpy(a->v[a->n], s, len);
	a->v[a->n][len] = '\0';
	a->lens[a->n] = len;
	a->n++;
}

void df_args_release(struct df_args *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	free(a->lens);
	*a = (struct df_args){0};
}

static struct hoist_df_node *node_new(const char *s, size_t len)
{
	struct hoist_df_node *n = hoist_xcalloc(1, sizeof(*n));

	n->value = hoist_xmalloc(len + 1);
	if (len)
		memcpy(n->value, s, len);
	n->value[len] = '\0';
	n->value_len = len;
	return n;
}

/* Chain the arguments as Next nodes. */
static struct hoist_df_node *chain_args(const struct df_args *a)
{
	struct hoist_df_node *head = NULL, **tail = &head;

	for (size_t i = 0; i < a->n; i++) {
		*tail = node_new(a->v[i], a->lens[i]);
		tail = &(*tail)->next;
	}
	return head;
}

static bool is_ws_re(char c)
{
	/* reWhitespace: [\t\v\f\r ]+ */
	return c == '\t' || c == '\v' || c == '\f' || c == '\r' || c == ' ';
}

/* regexp.Split(s, -1) on reWhitespace, empty pieces included as Go does. */
static void split_ws(const char *s, size_t len, struct df_args *out)
{
	size_t beg = 0, end = 0, i = 0;

	if (len == 0) {
		df_args_push(out, "", 0);
		return;
	}
	while (i < len) {
		if (!is_ws_re(s[i])) {
			i++;
			continue;
		}
		size_t m0 = i;
		while (i < len && is_ws_re(s[i]))
			i++;
		df_args_push(out, s + beg, m0 - beg);
		end = m0;
		beg = i;
	}
	if (end != len)
		df_args_push(out, s + beg, len - beg);
}

/* ---- JSON arrays ------------------------------------------------------ */

struct jscan {
	const unsigned char *s;
	size_t len, pos;
	bool overflow; /* a number Go's ParseFloat rejects: Decode fails */
};

static void skip_ws(struct jscan *j)
{
	while (j->pos < j->len) {
		unsigned char c = j->s[j->pos];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		j->pos++;
	}
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int32_t getu4(const unsigned char *s, size_t len)
{
	int32_t r = 0;

	if (len < 6 || s[0] != '\\' || s[1] != 'u')
		return -1;
	for (int i = 2; i < 6; i++) {
		int h = hexval(s[i]);
		if (h < 0)
			return -1;
		r = r * 16 + h;
	}
	return r;
}

/* Scan a string at j->pos (on the opening quote); decode into out if non-NULL. */
static int scan_string(struct jscan *j, struct hoist_buf *out)
{
	j->pos++;
	while (j->pos < j->len) {
		unsigned char c = j->s[j->pos];
		if (c == '"') {
			j->pos++;
			return 0;
		}
		if (c < 0x20)
			return -EINVAL;
		if (c == '\\') {
			if (j->pos + 1 >= j->len)
				return -EINVAL;
			unsigned char e = j->s[j->pos + 1];
			char lit = 0;
			switch (e) {
			case '"':
			case '\\':
			case '/':
				lit = (char)e;
				break;
			case 'b':
				lit = '\b';
				break;
			case 'f':
				lit = '\f';
				break;
			case 'n':
				lit = '\n';
				break;
			case 'r':
				lit = '\r';
				break;
			case 't':
				lit = '\t';
				break;
			case 'u': {
				int32_t r = getu4(j->s + j->pos, j->len - j->pos);
				if (r < 0)
					return -EINVAL;
				j->pos += 6;
				if (r >= 0xD800 && r < 0xE000) {
					int32_t r2 = getu4(j->s + j->pos, j->len - j->pos);
					if (r < 0xDC00 && r2 >= 0xDC00 && r2 < 0xE000) {
						r = 0x10000 + ((r - 0xD800) << 10) + (r2 - 0xDC00);
						j->pos += 6;
					} else {
						r = DF_RUNE_ERROR;
					}
				}
				if (out)
					df_buf_add_rune(out, (uint32_t)r);
				continue;
			}
			default:
				return -EINVAL;
			}
			if (out)
				hoist_buf_addc(out, lit);
			j->pos += 2;
			continue;
		}
		if (c < 0x80) {
			if (out)
				hoist_buf_addc(out, (char)c);
			j->pos++;
			continue;
		}
		size_t w;
		uint32_t r = df_decode_rune((const char *)j->s + j->pos, j->len - j->pos, &w);
		if (out) {
			if (r == DF_RUNE_ERROR && w == 1)
				df_buf_add_rune(out, DF_RUNE_ERROR);
			else
				hoist_buf_add(out, j->s + j->pos, w);
		}
		j->pos += w;
	}
	return -EINVAL;
}

static bool isdig(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int scan_number(struct jscan *j)
{
	size_t start = j->pos;

	if (j->pos < j->len && j->s[j->pos] == '-')
		j->pos++;
	if (j->pos >= j->len)
		return -EINVAL;
	if (j->s[j->pos] == '0') {
		j->pos++;
	} else if (isdig(j->s[j->pos])) {
		while (j->pos < j->len && isdig(j->s[j->pos]))
			j->pos++;
	} else {
		return -EINVAL;
	}
	if (j->pos < j->len && j->s[j->pos] == '.') {
		j->pos++;
		if (j->pos >= j->len || !isdig(j->s[j->pos]))
			return -EINVAL;
		while (j->pos < j->len && isdig(j->s[j->pos]))
			j->pos++;
	}
	if (j->pos < j->len && (j->s[j->pos] == 'e' || j->s[j->pos] == 'E')) {
		j->pos++;
		if (j->pos < j->len && (j->s[j->pos] == '+' || j->s[j->pos] == '-'))
			j->pos++;
		if (j->pos >= j->len || !isdig(j->s[j->pos]))
			return -EINVAL;
		while (j->pos < j->len && isdig(j->s[j->pos]))
			j->pos++;
	}
	/* Go decodes numbers into float64 and fails the whole Decode on overflow */
	_cleanup_free_ char *num = hoist_xstrndup((const char *)j->s + start, j->pos - start);
	if (isinf(strtod(num, NULL)))
		j->overflow = true;
	return 0;
}

static int scan_literal(struct jscan *j, const char *lit)
{
	size_t n = strlen(lit);

	if (j->len - j->pos < n || memcmp(j->s + j->pos, lit, n) != 0)
		return -EINVAL;
	j->pos += n;
	return 0;
}

int df_parse_json_array(const char *s, size_t len, struct df_args *ret)
{
	struct jscan j = {(const unsigned char *)s, len, 0, false};
	_cleanup_free_ char *stack = hoist_xmalloc(JSON_MAX_DEPTH + 1); /* 'a' or 'o' */
	size_t depth = 0;
	bool not_string = false;
	struct df_args out = {0};
	_cleanup_buf_ struct hoist_buf str = HOIST_BUF_INIT;
	int r;

	skip_ws(&j);
	if (j.pos >= j.len || j.s[j.pos] != '[')
		return -EINVAL;
	/* Iterative so hostile nesting cannot exhaust the C stack. */
	enum { VALUE, VALUE_OR_END, KEY, KEY_OR_END, AFTER } state = VALUE;
	for (;;) {
		skip_ws(&j);
		if (state == AFTER) {
			if (depth == 0)
				break;
			if (j.pos >= j.len)
				goto syntax;
			unsigned char c = j.s[j.pos++];
			if (c == ',') {
				state = stack[depth - 1] == 'a' ? VALUE : KEY;
			} else if ((c == ']' && stack[depth - 1] == 'a') ||
				   (c == '}' && stack[depth - 1] == 'o')) {
				depth--;
				state = AFTER;
			} else {
				goto syntax;
			}
			continue;
		}
		if (j.pos >= j.len)
			goto syntax;
		unsigned char c = j.s[j.pos];
		if (state == KEY || state == KEY_OR_END) {
			if (c == '}' && state == KEY_OR_END) {
				j.pos++;
				depth--;
				state = AFTER;
				continue;
			}
			if (c != '"' || scan_string(&j, NULL) < 0)
				goto syntax;
			skip_ws(&j);
			if (j.pos >= j.len || j.s[j.pos] != ':')
				goto syntax;
			j.pos++;
			state = VALUE;
			continue;
		}
		if (state == VALUE_OR_END && c == ']') {
			j.pos++;
			depth--;
			state = AFTER;
			continue;
		}
		/* a value; the top-level array's elements must be strings */
		bool top_elem = depth == 1;
		if (top_elem && c != '"')
			not_string = true;
		if (c == '[' || c == '{') {
			if (depth >= JSON_MAX_DEPTH)
				goto syntax;
			stack[depth++] = c == '[' ? 'a' : 'o';
			j.pos++;
			state = c == '[' ? VALUE_OR_END : KEY_OR_END;
			continue;
		}
		if (c == '"') {
			hoist_buf_reset(&str);
			r = scan_string(&j, top_elem ? &str : NULL);
			if (r < 0)
				goto syntax;
			if (top_elem)
				df_args_push(&out, str.data ? str.data : "", str.len);
		} else if (c == 't') {
			r = scan_literal(&j, "true");
		} else if (c == 'f') {
			r = scan_literal(&j, "false");
		} else if (c == 'n') {
			r = scan_literal(&j, "null");
		} else if (c == '-' || isdig(c)) {
			r = scan_number(&j);
		} else {
			r = -EINVAL;
		}
		if (r < 0)
			goto syntax;
		state = AFTER;
	}
	if (j.overflow)
		goto syntax;
	if (not_string) {
		df_args_release(&out);
		return -EBADMSG;
	}
	*ret = out;
	return 0;
syntax:
	df_args_release(&out);
	return -EINVAL;
}

/* ---- words ------------------------------------------------------------ */

/* parseWords: quote-aware splitting that keeps quotes and escapes. */
static void parse_words(const char *s, size_t len, char esc, struct df_args *out)
{
	enum { SPACES, WORD, QUOTE } phase = SPACES;
	_cleanup_buf_ struct hoist_buf word = HOIST_BUF_INIT;
	uint32_t quote = 0, ch = 0;
	bool blank_ok = false;
	size_t w = 1;

	hoist_buf_add(&word, "", 0);
	for (size_t pos = 0; pos <= len;) {
		if (pos != len)
			ch = df_decode_rune(s + pos, len - pos, &w);
		if (phase == SPACES) {
			if (pos == len)
				break;
			if (df_rune_is_space(ch)) {
				pos += w;
				continue;
			}
			phase = WORD;
		}
		if (pos == len) {
			if (blank_ok || word.len > 0)
				df_args_push(out, word.data, word.len);
			break;
		}
		if (phase == WORD) {
			if (df_rune_is_space(ch)) {
				phase = SPACES;
				if (blank_ok || word.len > 0)
					df_args_push(out, word.data, word.len);
				hoist_buf_reset(&word);
				hoist_buf_add(&word, "", 0);
				blank_ok = false;
				pos += w;
				continue;
			}
			if (ch == '\'' || ch == '"') {
				quote = ch;
				blank_ok = true;
				phase = QUOTE;
			}
			if (ch == (uint32_t)esc) {
				if (pos + w == len) {
					pos += w;
					continue;
				}
				df_buf_add_rune(&word, ch);
				pos += w;
				ch = df_decode_rune(s + pos, len - pos, &w);
			}
			df_buf_add_rune(&word, ch);
			pos += w;
			continue;
		}
		/* QUOTE */
		if (ch == quote)
			phase = WORD;
		if (ch == (uint32_t)esc && quote != '\'') {
			if (pos + w == len) {
				phase = WORD;
				pos += w;
				continue;
			}
			pos += w;
			df_buf_add_rune(&word, ch);
			ch = df_decode_rune(s + pos, len - pos, &w);
		}
		df_buf_add_rune(&word, ch);
		pos += w;
	}
}

/* ---- flags ------------------------------------------------------------ */

/* Go's word.WriteRune(rune(line[pos])): a byte >= 0x80 becomes U+0080..U+00FF. */
static void add_byte_rune(struct hoist_buf *b, unsigned char c)
{
	df_buf_add_rune(b, c);
}

static bool buf_is(const struct hoist_buf *b, const char *s)
{
	return b->len == strlen(s) && memcmp(b->data, s, b->len) == 0;
}

/*
 * extractBuilderFlags: the leading --words (quotes removed, escapes applied);
 * a bare -- ends them. *ret_rest points at what is left of line.
 */
static void extract_flags(const char *line, size_t len, char esc, struct hoist_strv *flags,
			  const char **ret_rest, size_t *ret_rest_len)
{
	enum { SPACES, WORD, QUOTE } phase = SPACES;
	_cleanup_buf_ struct hoist_buf word = HOIST_BUF_INIT;
	unsigned char quote = 0, ch = 0;
	bool blank_ok = false;

	hoist_buf_add(&word, "", 0);
	for (size_t pos = 0; pos <= len; pos++) {
		if (pos != len)
			ch = (unsigned char)line[pos];
		if (phase == SPACES) {
			if (pos == len)
				break;
			if (df_byte_is_space(ch))
				continue;
			if (ch != '-' || pos + 1 == len || line[pos + 1] != '-') {
				*ret_rest = line + pos;
				*ret_rest_len = len - pos;
				return;
			}
			phase = WORD;
		}
		if (pos == len) {
			if (!buf_is(&word, "--") && (blank_ok || word.len > 0))
				hoist_strv_push(flags, word.data);
			break;
		}
		if (phase == WORD) {
			if (df_byte_is_space(ch)) {
				phase = SPACES;
				if (buf_is(&word, "--")) {
					*ret_rest = line + pos;
					*ret_rest_len = len - pos;
					return;
				}
				if (blank_ok || word.len > 0)
					hoist_strv_push(flags, word.data);
				hoist_buf_reset(&word);
				hoist_buf_add(&word, "", 0);
				blank_ok = false;
				continue;
			}
			if (ch == '\'' || ch == '"') {
				quote = ch;
				blank_ok = true;
				phase = QUOTE;
				continue;
			}
			if (ch == (unsigned char)esc) {
				if (pos + 1 == len)
					continue;
				pos++;
				ch = (unsigned char)line[pos];
			}
			add_byte_rune(&word, ch);
			continue;
		}
		/* QUOTE */
		if (ch == quote) {
			phase = WORD;
			continue;
		}
		if (ch == (unsigned char)esc) {
			if (pos + 1 == len) {
				phase = WORD;
				continue;
			}
			pos++;
			ch = (unsigned char)line[pos];
		}
		add_byte_rune(&word, ch);
	}
	*ret_rest = line + len;
	*ret_rest_len = 0;
}

/* ---- line parsers ------------------------------------------------------ */

struct parsed {
	struct hoist_df_node *next;
	bool json;
};

static int parse_name_val(const struct df_ctx *ctx, const char *rest, size_t len, const char *key,
			  struct parsed *p, struct hoist_error *err)
{
	struct df_args words = {0};
	struct df_args out = {0};
	int r = 0;

	parse_words(rest, len, ctx->escape, &words);
	if (words.n == 0)
		goto done;
	if (!memchr(words.v[0], '=', words.lens[0])) {
		/* the old form, KEY name value: split once on whitespace */
		size_t i = 0;
		while (i < len && !is_ws_re(rest[i]))
			i++;
		if (i == len) {
			r = hoist_error_set(err, -EBADMSG, "%s must have two arguments", key);
			goto done;
		}
		size_t j = i;
		while (j < len && is_ws_re(rest[j]))
			j++;
		df_args_push(&out, rest, i);
		df_args_push(&out, rest + j, len - j);
		df_args_push(&out, "", 0);
	} else {
		for (size_t k = 0; k < words.n; k++) {
			const char *eq = memchr(words.v[k], '=', words.lens[k]);
			if (!eq) {
				_cleanup_buf_ struct hoist_buf q = HOIST_BUF_INIT;
				df_quote(&q, words.v[k], words.lens[k]);
				r = hoist_error_set(err, -EBADMSG,
						    "syntax error - can't find = in %s, must be of "
						    "the form: name=value",
						    q.data);
				goto done;
			}
			size_t klen = (size_t)(eq - words.v[k]);
			df_args_push(&out, words.v[k], klen);
			df_args_push(&out, eq + 1, words.lens[k] - klen - 1);
			df_args_push(&out, "=", 1);
		}
	}
	p->next = chain_args(&out);
done:
	df_args_release(&words);
	df_args_release(&out);
	return r;
}

static int parse_json(const char *rest, size_t len, struct parsed *p)
{
	struct df_args a = {0};
	int r;

	df_trim_left_space(&rest, &len);
	if (len == 0 || rest[0] != '[')
		return -EINVAL;
	r = df_parse_json_array(rest, len, &a);
	if (r < 0)
		return r;
	p->next = chain_args(&a);
	p->json = true;
	df_args_release(&a);
	return 0;
}

static int not_string_array(struct hoist_error *err)
{
	return hoist_error_set(
	    err, -EBADMSG,
	    "when using JSON array syntax, arrays must be comprised of strings only");
}

static int parse_maybe_json(const char *rest, size_t len, struct parsed *p, struct hoist_error *err)
{
	int r;

	if (len == 0)
		return 0;
	r = parse_json(rest, len, p);
	if (r == 0)
		return 0;
	if (r == -EBADMSG)
		return not_string_array(err);
	p->next = node_new(rest, len);
	return 0;
}

static void parse_ws_delimited(const char *rest, size_t len, struct parsed *p)
{
	struct df_args a = {0};

	if (len == 0)
		return;
	split_ws(rest, len, &a);
	p->next = chain_args(&a);
	df_args_release(&a);
}

static int parse_maybe_json_to_list(const char *rest, size_t len, struct parsed *p,
				    struct hoist_error *err)
{
	int r = parse_json(rest, len, p);

	if (r == 0)
		return 0;
	if (r == -EBADMSG)
		return not_string_array(err);
	parse_ws_delimited(rest, len, p);
	return 0;
}

static int parse_health(const char *rest, size_t len, struct parsed *p, struct hoist_error *err)
{
	size_t sep = 0, next;
	struct parsed cmd = {0};
	int r;

	while (sep < len && !df_byte_is_space((unsigned char)rest[sep]))
		sep++;
	next = sep;
	while (next < len && df_byte_is_space((unsigned char)rest[next]))
		next++;
	if (sep == 0)
		return 0;
	r = parse_maybe_json(rest + next, len - next, &cmd, err);
	if (r < 0)
		return r;
	p->next = node_new(rest, sep);
	p->next->next = cmd.next;
	p->json = cmd.json;
	return 0;
}

static bool word_eq(const char *s, size_t len, const char *lower)
{
	size_t n = strlen(lower);

	if (len != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c + 32);
		if (c != lower[i])
			return false;
	}
	return true;
}

static int node_from_line(const struct df_ctx *ctx, const char *line, size_t len,
			  struct hoist_df_node **ret, struct hoist_error *err);

static int parse_sub_command(const struct df_ctx *ctx, const char *rest, size_t len,
			     struct parsed *p, struct hoist_error *err)
{
	struct hoist_df_node *child = NULL;
	size_t n = 0;
	int r;

	if (len == 0)
		return 0;
	/*
	 * BuildKit rejects these triggers when it builds typed instructions;
	 * doing it here also keeps ONBUILD ONBUILD ... from recursing deeply.
	 */
	while (n < len && !is_ws_re(rest[n]))
		n++;
	if (word_eq(rest, n, "onbuild"))
		return hoist_error_set(err, -EBADMSG,
				       "chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
	if (word_eq(rest, n, "from") || word_eq(rest, n, "maintainer"))
		return hoist_error_set(err, -EBADMSG, "%s isn't allowed as an ONBUILD trigger",
				       word_eq(rest, n, "from") ? "FROM" : "MAINTAINER");
	r = node_from_line(ctx, rest, len, &child, err);
	if (r < 0)
		return r;
	p->next = node_new("", 0);
	p->next->children = hoist_xcalloc(1, sizeof(*p->next->children));
	p->next->children[0] = child;
	p->next->n_children = 1;
	return 0;
}

static int node_from_line(const struct df_ctx *ctx, const char *line, size_t len,
			  struct hoist_df_node **ret, struct hoist_error *err)
{
	_cleanup_strv_ struct hoist_strv flags = HOIST_STRV_INIT;
	const char *s = line, *cmd, *args = "";
	size_t n = len, cmd_len, args_len = 0;
	struct parsed p = {0};
	struct hoist_df_node *node;
	int r = 0;

	/* splitCommand: trim, split off the first word, then the flags */
	df_trim_space(&s, &n);
	cmd = s;
	cmd_len = 0;
	while (cmd_len < n && !is_ws_re(s[cmd_len]))
		cmd_len++;
	if (cmd_len < n) {
		size_t j = cmd_len;
		while (j < n && is_ws_re(s[j]))
			j++;
		extract_flags(s + j, n - j, ctx->escape, &flags, &args, &args_len);
		df_trim_space(&args, &args_len);
	}

	size_t lower_len;
	_cleanup_free_ char *lower = df_to_lower(cmd, cmd_len, &lower_len);
	const char *c = lower;

	if (!strcmp(c, "add") || !strcmp(c, "copy") || !strcmp(c, "volume"))
		r = parse_maybe_json_to_list(args, args_len, &p, err);
	else if (!strcmp(c, "run") || !strcmp(c, "cmd") || !strcmp(c, "entrypoint") ||
		 !strcmp(c, "shell"))
		r = parse_maybe_json(args, args_len, &p, err);
	else if (!strcmp(c, "arg")) {
		struct df_args a = {0};
		parse_words(args, args_len, ctx->escape, &a);
		p.next = chain_args(&a);
		df_args_release(&a);
	} else if (!strcmp(c, "env"))
		r = parse_name_val(ctx, args, args_len, "ENV", &p, err);
	else if (!strcmp(c, "label"))
		r = parse_name_val(ctx, args, args_len, "LABEL", &p, err);
	else if (!strcmp(c, "expose") || !strcmp(c, "from"))
		parse_ws_delimited(args, args_len, &p);
	else if (!strcmp(c, "healthcheck"))
		r = parse_health(args, args_len, &p, err);
	else if (!strcmp(c, "maintainer") || !strcmp(c, "stopsignal") || !strcmp(c, "user") ||
		 !strcmp(c, "workdir")) {
		if (args_len)
			p.next = node_new(args, args_len);
	} else if (!strcmp(c, "onbuild"))
		r = parse_sub_command(ctx, args, args_len, &p, err);
	else
		p.next = node_new("", 0); /* parseIgnore: unknown words keep an empty argument */
	if (r < 0) {
		hoist_df_node_free(p.next);
		return r;
	}

	node = node_new(lower, lower_len);
	node->next = p.next;
	node->json = p.json;
	node->original = hoist_xmalloc(len + 1);
	if (len)
		memcpy(node->original, line, len);
	node->original[len] = '\0';
	node->original_len = len;
	if (flags.n) {
		node->n_flags = flags.n;
		node->flags = TAKE_PTR(flags.v);
		flags.n = flags.alloc = 0;
	}
	*ret = node;
	return 0;
}

int df_node_from_line(const struct df_ctx *ctx, const char *line, size_t len,
		      struct hoist_df_node **ret, struct hoist_error *err)
{
	return node_from_line(ctx, line, len, ret, err);
}
