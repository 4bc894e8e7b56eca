/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Heredoc detection as BuildKit does it: split the instruction line into
 * shell words (quotes and escapes kept raw, unset variables kept as
 * written), then match each word against ^(\d*)<<(-?)\s*([^<]*)$ and lex
 * the terminator twice, with and without raw quotes: if the quote counts
 * differ, part of it was quoted and the body is not expanded.
 *
 * This is the small subset of BuildKit's shell lexer (shell/lex.go) that
 * word splitting needs with an empty environment; it is private so the
 * parser does not depend on the full expansion module.
 */
#include <limits.h>
#include <string.h>

#include "parser-private.h"

#define LEX_EOF (-1)

struct lex {
	const char *s;
	size_t len, pos;
	bool raw_quotes;
	bool raw_escapes;
	int depth; /* nested ${...} */
	char errmsg[160];
};

/*
 * Go's stacks grow; ours do not. Deeper nesting than this in one line is
 * treated like a lexing error (no heredocs), which no real Dockerfile hits.
 */
#define LEX_MAX_DEPTH 256

static int32_t lex_peek(struct lex *lx)
{
	size_t w;

	if (lx->pos >= lx->len)
		return LEX_EOF;
	return (int32_t)df_decode_rune(lx->s + lx->pos, lx->len - lx->pos, &w);
}

static int32_t lex_next(struct lex *lx)
{
	size_t w;
	uint32_t r;

	if (lx->pos >= lx->len)
		return LEX_EOF;
	r = df_decode_rune(lx->s + lx->pos, lx->len - lx->pos, &w);
	lx->pos += w;
	return (int32_t)r;
}

static int lex_fail(struct lex *lx, const char *msg)
{
	snprintf(lx->errmsg, sizeof(lx->errmsg), "%s", msg);
	return -EINVAL;
}

static void add_rune(struct hoist_buf *b, int32_t r)
{
	/* string(rune(-1)) in Go is U+FFFD */
	df_buf_add_rune(b, r < 0 ? DF_RUNE_ERROR : (uint32_t)r);
}

/* wordsStruct */
struct words {
	struct hoist_buf word;
	bool in_word;
	struct df_args out;
};

static void words_raw_char(struct words *w, int32_t ch)
{
	add_rune(&w->word, ch);
	w->in_word = true;
}

static void words_push(struct words *w)
{
	df_args_push(&w->out, w->word.data ? w->word.data : "", w->word.len);
	hoist_buf_reset(&w->word);
	w->in_word = false;
}

static void words_char(struct words *w, int32_t ch)
{
	bool space = ch >= 0 && df_rune_is_space((uint32_t)ch);

	if (space && w->in_word) {
		if (w->word.len != 0)
			words_push(w);
	} else if (!space) {
		words_raw_char(w, ch);
	}
}

static void words_string(struct words *w, const char *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		size_t n;
		uint32_t r = df_decode_rune(s + i, len - i, &n);
		words_char(w, (int32_t)r);
		i += n;
	}
}

static void words_raw_string(struct words *w, const char *s, size_t len)
{
	hoist_buf_add(&w->word, s, len);
	w->in_word = true;
}

static void words_release(struct words *w)
{
	hoist_buf_release(&w->word);
	df_args_release(&w->out);
}

static int process_stop_on(struct lex *lx, int32_t stop, bool raw_escapes, struct hoist_buf *result,
			   struct df_args *ret_words);

static bool is_special_param(int32_t c)
{
	return c == '@' || c == '*' || c == '#' || c == '?' || c == '-' || c == '$' || c == '!' ||
	       c == '0';
}

static void process_name(struct lex *lx, struct hoist_buf *name)
{
	while (lex_peek(lx) != LEX_EOF) {
		int32_t ch = lex_peek(lx);
		if (name->len == 0 && df_rune_is_digit((uint32_t)ch)) {
			while (lex_peek(lx) != LEX_EOF && df_rune_is_digit((uint32_t)lex_peek(lx)))
				add_rune(name, lex_next(lx));
			return;
		}
		if (name->len == 0 && is_special_param(ch)) {
			add_rune(name, lex_next(lx));
			return;
		}
		if (!df_rune_is_alnum((uint32_t)ch) && ch != '_')
			break;
		add_rune(name, lex_next(lx));
	}
}

/* ${...} and $name with no variables set and unset ones kept as written. */
static int process_dollar(struct lex *lx, struct hoist_buf *out)
{
	_cleanup_buf_ struct hoist_buf name = HOIST_BUF_INIT;
	_cleanup_buf_ struct hoist_buf chs = HOIST_BUF_INIT;
	int32_t ch;
	int r;

	lex_next(lx);
	if (lex_peek(lx) != '{') {
		process_name(lx, &name);
		hoist_buf_addc(out, '$');
		return hoist_buf_add(out, name.data, name.len) < 0 ? -E2BIG : 0;
	}
	lex_next(lx);
	switch (lex_peek(lx)) {
	case LEX_EOF:
		return lex_fail(lx, "syntax error: missing '}'");
	case '{':
	case '}':
	case ':':
		return lex_fail(lx, "syntax error: bad substitution");
	default:
		break;
	}
	process_name(lx, &name);
	ch = lex_next(lx);
	add_rune(&chs, ch);
	switch (ch) {
	case '}':
		hoist_buf_adds(out, "${");
		hoist_buf_add(out, name.data, name.len);
		return hoist_buf_addc(out, '}') < 0 ? -E2BIG : 0;
	case ':':
		ch = lex_next(lx);
		add_rune(&chs, ch);
		__attribute__((fallthrough));
	case '+':
	case '-':
	case '?':
	case '#':
	case '%': {
		_cleanup_buf_ struct hoist_buf word = HOIST_BUF_INIT;
		r = process_stop_on(lx, '}', ch == '#' || ch == '%', &word, NULL);
		if (r < 0) {
			if (lex_peek(lx) == LEX_EOF)
				return lex_fail(lx, "syntax error: missing '}'");
			return r;
		}
		hoist_buf_adds(out, "${");
		hoist_buf_add(out, name.data, name.len);
		hoist_buf_add(out, chs.data, chs.len);
		hoist_buf_add(out, word.data, word.len);
		return hoist_buf_addc(out, '}') < 0 ? -E2BIG : 0;
	}
	case '/': {
		_cleanup_buf_ struct hoist_buf pattern = HOIST_BUF_INIT;
		_cleanup_buf_ struct hoist_buf repl = HOIST_BUF_INIT;
		if (lex_peek(lx) == '/')
			lex_next(lx);
		r = process_stop_on(lx, '/', true, &pattern, NULL);
		if (r < 0) {
			if (lex_peek(lx) == LEX_EOF)
				return lex_fail(lx, "syntax error: missing '/' in ${}");
			return r;
		}
		r = process_stop_on(lx, '}', true, &repl, NULL);
		if (r < 0) {
			if (lex_peek(lx) == LEX_EOF)
				return lex_fail(lx, "syntax error: missing '}'");
			return r;
		}
		hoist_buf_adds(out, "${");
		hoist_buf_add(out, name.data, name.len);
		hoist_buf_addc(out, '/');
		hoist_buf_add(out, pattern.data, pattern.len);
		hoist_buf_addc(out, '/');
		hoist_buf_add(out, repl.data, repl.len);
		return hoist_buf_addc(out, '}') < 0 ? -E2BIG : 0;
	}
	default:
		snprintf(lx->errmsg, sizeof(lx->errmsg),
			 "unsupported modifier (%.*s) in substitution", (int)chs.len,
			 chs.data ? chs.data : "");
		return -EINVAL;
	}
}

static int process_single_quote(struct lex *lx, struct hoist_buf *out)
{
	int32_t ch = lex_next(lx);

	if (lx->raw_quotes)
		add_rune(out, ch);
	for (;;) {
		ch = lex_next(lx);
		if (ch == LEX_EOF)
			return lex_fail(lx, "unexpected end of statement while looking for "
					    "matching single-quote");
		if (ch == '\'') {
			if (lx->raw_quotes)
				add_rune(out, ch);
			return 0;
		}
		add_rune(out, ch);
	}
}

static int process_double_quote(struct lex *lx, struct hoist_buf *out)
{
	int32_t ch = lex_next(lx);
	int r;

	if (lx->raw_quotes)
		add_rune(out, ch);
	for (;;) {
		switch (lex_peek(lx)) {
		case LEX_EOF:
			return lex_fail(lx, "unexpected end of statement while looking for "
					    "matching double-quote");
		case '"':
			ch = lex_next(lx);
			if (lx->raw_quotes)
				add_rune(out, ch);
			return 0;
		case '$':
			r = process_dollar(lx, out);
			if (r < 0)
				return r;
			break;
		default:
			ch = lex_next(lx);
			if (ch == '\\') {
				if (lx->raw_escapes)
					add_rune(out, ch);
				int32_t p = lex_peek(lx);
				if (p == LEX_EOF)
					continue;
				if (p == '"' || p == '$' || p == '\\')
					ch = lex_next(lx);
			}
			add_rune(out, ch);
		}
	}
}

/* "<<" plus an optional "-" and following blanks stay glued to the word. */
static void process_possible_heredoc(struct lex *lx, struct hoist_buf *out)
{
	lex_next(lx);
	if (lex_peek(lx) != '<') {
		hoist_buf_addc(out, '<');
		return;
	}
	lex_next(lx);
	hoist_buf_adds(out, "<<");
	if (lex_peek(lx) == '-')
		add_rune(out, lex_next(lx));
	while (lex_peek(lx) != LEX_EOF && df_rune_is_space((uint32_t)lex_peek(lx)))
		add_rune(out, lex_next(lx));
}

static int process_stop_on(struct lex *lx, int32_t stop, bool raw_escapes, struct hoist_buf *result,
			   struct df_args *ret_words)
{
	struct words w = {HOIST_BUF_INIT, false, {0}};
	bool saved = lx->raw_escapes;
	int r = 0;

	if (lx->depth >= LEX_MAX_DEPTH) {
		words_release(&w);
		return lex_fail(lx, "too deeply nested");
	}
	lx->depth++;
	lx->raw_escapes = raw_escapes;
	while (lex_peek(lx) != LEX_EOF) {
		int32_t ch = lex_peek(lx);
		_cleanup_buf_ struct hoist_buf tmp = HOIST_BUF_INIT;

		if (stop != LEX_EOF && ch == stop) {
			lex_next(lx);
			goto out;
		}
		if (ch == '$' || ch == '\'' || ch == '"' || ch == '<') {
			if (ch == '$')
				r = process_dollar(lx, &tmp);
			else if (ch == '\'')
				r = process_single_quote(lx, &tmp);
			else if (ch == '"')
				r = process_double_quote(lx, &tmp);
			else
				process_possible_heredoc(lx, &tmp);
			if (r < 0)
				goto out;
			hoist_buf_add(result, tmp.data, tmp.len);
			if (ch == '$')
				words_string(&w, tmp.data, tmp.len);
			else
				words_raw_string(&w, tmp.data, tmp.len);
			continue;
		}
		ch = lex_next(lx);
		if (ch == '\\') {
			if (lx->raw_escapes) {
				words_raw_char(&w, ch);
				add_rune(result, ch);
			}
			ch = lex_next(lx);
			if (ch == LEX_EOF)
				break;
			words_raw_char(&w, ch);
		} else {
			words_char(&w, ch);
		}
		add_rune(result, ch);
	}
	if (stop != LEX_EOF) {
		snprintf(lx->errmsg, sizeof(lx->errmsg),
			 "unexpected end of statement while looking for matching %c", (char)stop);
		r = -EINVAL;
	}
out:
	lx->depth--;
	lx->raw_escapes = saved;
	if (r >= 0 && ret_words) {
		if (w.word.len > 0)
			words_push(&w);
		*ret_words = w.out;
		w.out = (struct df_args){0};
	}
	words_release(&w);
	return r;
}

/* ProcessWords with SkipUnsetEnv and no variables. */
static int process_words(const char *s, size_t len, bool raw_quotes, bool raw_escapes,
			 struct df_args *ret, char *errmsg, size_t errsize)
{
	struct lex lx = {s, len, 0, raw_quotes, raw_escapes, 0, ""};

	/* Go's text/scanner drops a BOM in front of the first character */
	if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		lx.pos = 3;
	_cleanup_buf_ struct hoist_buf result = HOIST_BUF_INIT;
	int r = process_stop_on(&lx, LEX_EOF, raw_escapes, &result, ret);

	if (r < 0 && errmsg)
		snprintf(errmsg, errsize, "%s", lx.errmsg);
	return r;
}

static size_t count_quotes(const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		if (s[i] == '\'' || s[i] == '"')
			n++;
	return n;
}

static bool is_re_space(char c)
{
	/* RE2's \s */
	return c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' ';
}

static int parse_heredoc_word(const char *word, size_t len, bool *ret_is,
			      struct hoist_df_heredoc *ret, struct hoist_error *err)
{
	size_t i = 0, digits;
	bool chomp = false;
	long long fd = 0;
	struct df_args words = {0}, raw = {0};
	char msg[160];
	int r;

	*ret_is = false;
	while (i < len && word[i] >= '0' && word[i] <= '9')
		i++;
	digits = i;
	if (len - i < 2 || word[i] != '<' || word[i + 1] != '<')
		return 0;
	i += 2;
	if (i < len && word[i] == '-') {
		chomp = true;
		i++;
	}
	while (i < len && is_re_space(word[i]))
		i++;
	if (memchr(word + i, '<', len - i))
		return 0;
	if (i == len)
		return 0;
	for (size_t k = 0; k < digits; k++) {
		fd = fd * 10 + (word[k] - '0');
		if (fd > INT_MAX)
			fd = INT_MAX; /* Go saturates on overflow too, at a larger bound */
	}

	const char *rest = word + i;
	size_t rest_len = len - i;
	r = process_words(rest, rest_len, false, false, &words, msg, sizeof(msg));
	if (r < 0) {
		r = hoist_error_set(err, -EBADMSG, "failed to process '%.*s': %s", (int)rest_len,
				    rest, msg);
		goto out;
	}
	if (words.n != 1) {
		r = 0;
		goto out;
	}
	r = process_words(rest, rest_len, true, false, &raw, msg, sizeof(msg));
	if (r < 0) {
		r = hoist_error_set(err, -EBADMSG, "failed to process '%.*s': %s", (int)rest_len,
				    rest, msg);
		goto out;
	}
	if (raw.n != words.n) {
		r = hoist_error_set(
		    err, -EBADMSG, "internal lexing of heredoc produced inconsistent results: %.*s",
		    (int)rest_len, rest);
		goto out;
	}
	*ret = (struct hoist_df_heredoc){0};
	ret->name = hoist_xstrndup(words.v[0], words.lens[0]);
	ret->expand =
	    count_quotes(words.v[0], words.lens[0]) == count_quotes(raw.v[0], raw.lens[0]);
	ret->chomp = chomp;
	ret->fd = (int)fd;
	*ret_is = true;
	r = 0;
out:
	df_args_release(&words);
	df_args_release(&raw);
	return r;
}

int hoist_df_parse_heredoc_word(const char *word, bool *ret_is_heredoc,
				struct hoist_df_heredoc *ret)
{
	return parse_heredoc_word(word, strlen(word), ret_is_heredoc, ret, NULL);
}

void hoist_df_heredoc_release(struct hoist_df_heredoc *h)
{
	if (!h)
		return;
	free(h->name);
	free(h->content);
	*h = (struct hoist_df_heredoc){0};
}

bool df_node_can_contain_heredoc(const struct hoist_df_node *n)
{
	if (!strcmp(n->value, "onbuild") && n->next && n->next->n_children > 0)
		n = n->next->children[0];
	if (strcmp(n->value, "run") && strcmp(n->value, "copy") && strcmp(n->value, "add"))
		return false;
	return !n->json;
}

int df_heredocs_from_line(const char *line, size_t len, struct hoist_df_heredoc **ret,
			  size_t *ret_n, struct hoist_error *err)
{
	struct df_args words = {0};
	struct hoist_df_heredoc *docs = NULL;
	size_t n = 0;
	int r = 0;

	/* a line the lexer rejects simply has no heredocs, as in BuildKit */
	if (process_words(line, len, true, true, &words, NULL, 0) < 0)
		words = (struct df_args){0};
	for (size_t i = 0; i < words.n; i++) {
		struct hoist_df_heredoc h;
		bool is;
		r = parse_heredoc_word(words.v[i], words.lens[i], &is, &h, err);
		if (r < 0)
			break;
		if (!is)
			continue;
		docs = hoist_xrealloc(docs, (n + 1) * sizeof(*docs));
		docs[n++] = h;
	}
	df_args_release(&words);
	if (r < 0) {
		for (size_t i = 0; i < n; i++)
			hoist_df_heredoc_release(&docs[i]);
		free(docs);
		return r;
	}
	*ret = docs;
	*ret_n = n;
	return 0;
}
