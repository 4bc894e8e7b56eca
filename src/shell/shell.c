/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shell word expansion with the semantics of BuildKit's shell.Lex
 * (frontend/dockerfile/shell): the same quoting, escaping, ${...} modifiers,
 * word splitting and error cases, including its quirks, because a Dockerfile
 * must expand to the same strings under hoist as under `docker build`.
 *
 * The input is read as Go's text/scanner reads it: rune by rune, a byte that
 * is not valid UTF-8 becomes U+FFFD, and a BOM at the very start is dropped.
 * Values substituted from variables are copied as bytes, except where
 * BuildKit itself walks them rune by rune (word splitting, ${V%pat}).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "hoist/shell.h"
#include "hoist/util.h"

#include "shell-private.h"

#define R_EOF (-1)

struct lex {
	const struct hoist_shell *sh;
	const unsigned char *src;
	size_t len;
	size_t pos;
	int32_t escape;
	bool raw_escapes; /* dynamically scoped, as in BuildKit */
	unsigned depth;
	size_t cap;
	struct shell_match match; /* error sink and step budget of the pattern code */
	struct hoist_error *err;
};

/* ---- scanner ---------------------------------------------------------- */

static int32_t peek(const struct lex *lx)
{
	int32_t r;

	if (lx->pos >= lx->len)
		return R_EOF;
	shell_decode_rune(lx->src + lx->pos, lx->len - lx->pos, &r);
	return r;
}

static int32_t next(struct lex *lx)
{
	int32_t r;

	if (lx->pos >= lx->len)
		return R_EOF;
	lx->pos += shell_decode_rune(lx->src + lx->pos, lx->len - lx->pos, &r);
	return r;
}

/* ---- output ----------------------------------------------------------- */

static int too_big(struct lex *lx)
{
	return hoist_error_set(lx->err, -E2BIG, "expansion is larger than %zu bytes", lx->cap);
}

static int put(struct lex *lx, struct hoist_buf *b, const void *p, size_t n)
{
	if (hoist_buf_add(b, p, n) < 0)
		return too_big(lx);
	return 0;
}

static int puts_(struct lex *lx, struct hoist_buf *b, const char *s)
{
	return put(lx, b, s, strlen(s));
}

static int put_rune(struct lex *lx, struct hoist_buf *b, int32_t r)
{
	char u[4];
	return put(lx, b, u, shell_encode_rune(r, u));
}

static const char *buf_str(const struct hoist_buf *b)
{
	return b->data ? b->data : "";
}

/* ---- word splitting (BuildKit's wordsStruct) ------------------------- */

struct words {
	struct hoist_buf word;
	struct hoist_strv list;
	bool in_word;
};

static int words_raw_char(struct lex *lx, struct words *w, int32_t r)
{
	w->in_word = true;
	return put_rune(lx, &w->word, r);
}

static void words_flush(struct words *w)
{
	if (w->word.len > 0)
		hoist_strv_take(&w->list, hoist_buf_detach(&w->word, NULL));
	w->in_word = false;
}

/* An unquoted character: whitespace ends the current word. */
static int words_char(struct lex *lx, struct words *w, int32_t r)
{
	if (!shell_is_space(r))
		return words_raw_char(lx, w, r);
	/* Only a non-empty word ends here; after "" the word stays open. */
	if (w->in_word && w->word.len > 0)
		words_flush(w);
	return 0;
}

/* The result of an unquoted $ expansion: split it, rune by rune. */
static int words_string(struct lex *lx, struct words *w, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		int32_t r;
		i += shell_decode_rune(p + i, n - i, &r);
		int ret = words_char(lx, w, r);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int words_raw_string(struct lex *lx, struct words *w, const char *s, size_t n)
{
	w->in_word = true;
	return put(lx, &w->word, s, n);
}

/* ---- the lexer -------------------------------------------------------- */

static int process_stop_on(struct lex *lx, int32_t stop, bool raw_escapes, struct hoist_buf *res,
			   struct words *w);
static int process_dollar(struct lex *lx, struct hoist_buf *out);

static const char *lookup(struct lex *lx, const char *name)
{
	if (!lx->sh->lookup)
		return NULL;
	return lx->sh->lookup(name, lx->sh->userdata);
}

static void buf_init(struct lex *lx, struct hoist_buf *b)
{
	hoist_buf_init(b, lx->cap);
}

/* Single quotes: everything literal up to the next ', which cannot be escaped. */
static int process_single_quote(struct lex *lx, struct hoist_buf *out)
{
	bool raw = lx->sh->flags & HOIST_SHELL_RAW_QUOTES;
	int32_t ch = next(lx);
	int r;

	if (raw && (r = put_rune(lx, out, ch)) < 0)
		return r;
	for (;;) {
		ch = next(lx);
		if (ch == R_EOF)
			return hoist_error_set(lx->err, -EBADMSG,
					       "unexpected end of statement while looking for "
					       "matching single-quote");
		if (ch == '\'') {
			if (raw)
				return put_rune(lx, out, ch);
			return 0;
		}
		if ((r = put_rune(lx, out, ch)) < 0)
			return r;
	}
}

/*
 * Double quotes: $ expands; the escape character escapes only ", $ and
 * itself and otherwise stays.
 */
static int process_double_quote(struct lex *lx, struct hoist_buf *out)
{
	bool raw = lx->sh->flags & HOIST_SHELL_RAW_QUOTES;
	int32_t ch = next(lx);
	int r;

	if (raw && (r = put_rune(lx, out, ch)) < 0)
		return r;
	for (;;) {
		switch (peek(lx)) {
		case R_EOF:
			return hoist_error_set(lx->err, -EBADMSG,
					       "unexpected end of statement while looking for "
					       "matching double-quote");
		case '"':
			ch = next(lx);
			if (raw)
				return put_rune(lx, out, ch);
			return 0;
		case '$': {
			_cleanup_buf_ struct hoist_buf v = HOIST_BUF_INIT;
			buf_init(lx, &v);
			if ((r = process_dollar(lx, &v)) < 0)
				return r;
			if ((r = put(lx, out, buf_str(&v), v.len)) < 0)
				return r;
			break;
		}
		default:
			ch = next(lx);
			if (ch == lx->escape) {
				int32_t n = peek(lx);
				if (lx->raw_escapes && (r = put_rune(lx, out, ch)) < 0)
					return r;
				if (n == R_EOF)
					continue; /* the missing " is reported next */
				if (n == '"' || n == '$' || n == lx->escape)
					ch = next(lx);
			}
			if ((r = put_rune(lx, out, ch)) < 0)
				return r;
		}
	}
}

/*
 * A name after $ or ${: a run of digits (a positional parameter), one
 * special parameter character, or letters, digits and _ (Unicode-aware, as
 * Go's unicode.IsLetter/IsDigit).
 */
static int process_name(struct lex *lx, struct hoist_buf *name)
{
	int32_t ch;
	int r;

	while ((ch = peek(lx)) != R_EOF) {
		if (name->len == 0 && shell_is_digit(ch)) {
			while (peek(lx) != R_EOF && shell_is_digit(peek(lx)))
				if ((r = put_rune(lx, name, next(lx))) < 0)
					return r;
			return 0;
		}
		if (name->len == 0) {
			switch (ch) {
			case '@':
			case '*':
			case '#':
			case '?':
			case '-':
			case '$':
			case '!':
			case '0':
				return put_rune(lx, name, next(lx));
			default:
				break;
			}
		}
		if (!shell_is_letter(ch) && !shell_is_digit(ch) && ch != '_')
			break;
		if ((r = put_rune(lx, name, next(lx))) < 0)
			return r;
	}
	return 0;
}

static int unsupported(struct lex *lx, const struct hoist_buf *chs)
{
	return hoist_error_set(lx->err, -EBADMSG, "unsupported modifier (%s) in substitution",
			       buf_str(chs));
}

/* At the end of the input any failure inside ${...} is reported as the missing }. */
static int missing_close(struct lex *lx, int r, const char *what)
{
	if ((r == -EBADMSG || r == -EINVAL) && peek(lx) == R_EOF)
		return hoist_error_set(lx->err, -EBADMSG, "syntax error: missing '%s'", what);
	return r;
}

/* ${name/pattern/replacement} and ${name//pattern/replacement}. */
static int process_replace(struct lex *lx, const char *name, struct hoist_buf *out)
{
	_cleanup_buf_ struct hoist_buf pat = HOIST_BUF_INIT;
	_cleanup_buf_ struct hoist_buf rep = HOIST_BUF_INIT;
	bool all = false;
	const char *value;
	int r;

	buf_init(lx, &pat);
	buf_init(lx, &rep);
	if (peek(lx) == '/') {
		next(lx);
		all = true;
	}
	r = process_stop_on(lx, '/', true, &pat, NULL);
	if (r < 0) {
		if ((r == -EBADMSG || r == -EINVAL) && peek(lx) == R_EOF)
			return hoist_error_set(lx->err, -EBADMSG,
					       "syntax error: missing '/' in ${}");
		return r;
	}
	r = process_stop_on(lx, '}', true, &rep, NULL);
	if (r < 0)
		return missing_close(lx, r, "}");

	value = lookup(lx, name);
	if (!value && (lx->sh->flags & HOIST_SHELL_SKIP_UNSET_ENV)) {
		/* BuildKit writes one / here even for //. */
		if ((r = puts_(lx, out, "${")) < 0 || (r = puts_(lx, out, name)) < 0 ||
		    (r = puts_(lx, out, "/")) < 0 ||
		    (r = put(lx, out, buf_str(&pat), pat.len)) < 0 ||
		    (r = puts_(lx, out, "/")) < 0 || (r = put(lx, out, buf_str(&rep), rep.len)) < 0)
			return r;
		return puts_(lx, out, "}");
	}
	if (!value)
		value = "";
	return shell_replace(&lx->match, buf_str(&pat), pat.len, buf_str(&rep), rep.len, value,
			     strlen(value), all, out);
}

/* ${name<op>word} for the ops - + ? # % (each optionally after :). */
static int process_modifier(struct lex *lx, const char *name, int32_t op, bool null_is_unset,
			    const struct hoist_buf *chs, struct hoist_buf *out)
{
	_cleanup_buf_ struct hoist_buf word = HOIST_BUF_INIT;
	const char *value;
	bool unset_or_null;
	int r;

	buf_init(lx, &word);
	/* Patterns keep their escapes: the pattern syntax reads them. */
	r = process_stop_on(lx, '}', op == '#' || op == '%', &word, NULL);
	if (r < 0)
		return missing_close(lx, r, "}");

	value = lookup(lx, name);
	if (!value && (lx->sh->flags & HOIST_SHELL_SKIP_UNSET_ENV)) {
		if ((r = puts_(lx, out, "${")) < 0 || (r = puts_(lx, out, name)) < 0 ||
		    (r = put(lx, out, buf_str(chs), chs->len)) < 0 ||
		    (r = put(lx, out, buf_str(&word), word.len)) < 0)
			return r;
		return puts_(lx, out, "}");
	}
	unset_or_null = !value || (null_is_unset && !*value);

	switch (op) {
	case '-':
		if (unset_or_null)
			return put(lx, out, buf_str(&word), word.len);
		return puts_(lx, out, value);
	case '+':
		if (unset_or_null)
			return 0;
		return put(lx, out, buf_str(&word), word.len);
	case '?':
		if (!value)
			return hoist_error_set(lx->err, -EINVAL, "%s: %s", name,
					       word.len ? buf_str(&word)
							: "is not allowed to be unset");
		if (null_is_unset && !*value)
			return hoist_error_set(lx->err, -EINVAL, "%s: %s", name,
					       word.len ? buf_str(&word)
							: "is not allowed to be empty");
		return puts_(lx, out, value);
	case '#':
	case '%': {
		const char *pat = buf_str(&word);
		size_t plen = word.len;
		bool greedy = false;

		/* ## and %% take the longest match. */
		if (plen > 0 && pat[0] == (char)op) {
			greedy = true;
			pat++;
			plen--;
		}
		if (!value)
			value = "";
		if (op == '%')
			return shell_trim_suffix(&lx->match, pat, plen, value, strlen(value),
						 greedy, out);
		return shell_trim_prefix(&lx->match, pat, plen, value, strlen(value), greedy, out);
	}
	default:
		return unsupported(lx, chs);
	}
}

static int process_dollar(struct lex *lx, struct hoist_buf *out)
{
	_cleanup_buf_ struct hoist_buf name = HOIST_BUF_INIT;
	_cleanup_buf_ struct hoist_buf chs = HOIST_BUF_INIT;
	const char *value;
	bool null_is_unset = false;
	int32_t ch;
	int r;

	buf_init(lx, &name);
	buf_init(lx, &chs);
	next(lx); /* $ */

	if (peek(lx) != '{') {
		if ((r = process_name(lx, &name)) < 0)
			return r;
		if (name.len == 0)
			return puts_(lx, out, "$"); /* $ before a non-name is literal */
		value = lookup(lx, name.data);
		if (!value && (lx->sh->flags & HOIST_SHELL_SKIP_UNSET_ENV)) {
			if ((r = puts_(lx, out, "$")) < 0)
				return r;
			return puts_(lx, out, name.data);
		}
		return value ? puts_(lx, out, value) : 0;
	}

	next(lx); /* { */
	switch (peek(lx)) {
	case R_EOF:
		return hoist_error_set(lx->err, -EBADMSG, "syntax error: missing '}'");
	case '{':
	case '}':
	case ':':
		return hoist_error_set(lx->err, -EBADMSG, "syntax error: bad substitution");
	default:
		break;
	}
	if (lx->depth >= HOIST_SHELL_MAX_DEPTH)
		return hoist_error_set(lx->err, -E2BIG, "substitutions nested deeper than %d",
				       HOIST_SHELL_MAX_DEPTH);
	if ((r = process_name(lx, &name)) < 0)
		return r;
	if ((r = puts_(lx, &name, "")) < 0) /* make name.data non-NULL */
		return r;
	ch = next(lx);
	if (ch == R_EOF)
		/* BuildKit reports "unsupported modifier" here; the real cause is clearer. */
		return hoist_error_set(lx->err, -EBADMSG, "syntax error: missing '}'");
	if ((r = put_rune(lx, &chs, ch)) < 0)
		return r;

	lx->depth++;
	switch (ch) {
	case '}':
		value = lookup(lx, name.data);
		if (!value && (lx->sh->flags & HOIST_SHELL_SKIP_UNSET_ENV)) {
			if ((r = puts_(lx, out, "${")) >= 0 && (r = puts_(lx, out, name.data)) >= 0)
				r = puts_(lx, out, "}");
		} else {
			r = value ? puts_(lx, out, value) : 0;
		}
		break;
	case ':':
		null_is_unset = true;
		ch = next(lx);
		/* Whatever follows the colon is the operator, even EOF (U+FFFD, like Go). */
		if ((r = put_rune(lx, &chs, ch)) < 0)
			break;
		r = process_modifier(lx, name.data, ch, null_is_unset, &chs, out);
		break;
	case '+':
	case '-':
	case '?':
	case '#':
	case '%':
		r = process_modifier(lx, name.data, ch, null_is_unset, &chs, out);
		break;
	case '/':
		r = process_replace(lx, name.data, out);
		break;
	default:
		r = unsupported(lx, &chs);
		break;
	}
	lx->depth--;
	return r;
}

/*
 * The main loop (BuildKit's processStopOn): copy characters to res (and,
 * when w is set, split them into words) until stop, handling $, quotes and
 * the escape character. raw_escapes is in force for this call and the
 * quotes inside it.
 */
static int process_stop_on(struct lex *lx, int32_t stop, bool raw_escapes, struct hoist_buf *res,
			   struct words *w)
{
	bool saved = lx->raw_escapes;
	bool quotes = !(lx->sh->flags & HOIST_SHELL_SKIP_PROCESS_QUOTES);
	int32_t ch;
	int r = 0;

	lx->raw_escapes = raw_escapes;
	while ((ch = peek(lx)) != R_EOF) {
		if (stop != R_EOF && ch == stop) {
			next(lx);
			goto out;
		}
		if (ch == '$' || (quotes && (ch == '\'' || ch == '"'))) {
			_cleanup_buf_ struct hoist_buf tmp = HOIST_BUF_INIT;

			buf_init(lx, &tmp);
			if (ch == '$')
				r = process_dollar(lx, &tmp);
			else if (ch == '\'')
				r = process_single_quote(lx, &tmp);
			else
				r = process_double_quote(lx, &tmp);
			if (r < 0)
				goto out;
			if ((r = put(lx, res, buf_str(&tmp), tmp.len)) < 0)
				goto out;
			if (w) {
				/* Only unquoted expansions split. */
				if (ch == '$')
					r = words_string(lx, w, buf_str(&tmp), tmp.len);
				else
					r = words_raw_string(lx, w, buf_str(&tmp), tmp.len);
				if (r < 0)
					goto out;
			}
			continue;
		}
		ch = next(lx);
		if (ch == lx->escape) {
			if (lx->raw_escapes) {
				if (w && (r = words_raw_char(lx, w, ch)) < 0)
					goto out;
				if ((r = put_rune(lx, res, ch)) < 0)
					goto out;
			}
			ch = next(lx);
			if (ch == R_EOF)
				break; /* a trailing escape is dropped */
			if (w && (r = words_raw_char(lx, w, ch)) < 0)
				goto out;
		} else if (w && (r = words_char(lx, w, ch)) < 0) {
			goto out;
		}
		if ((r = put_rune(lx, res, ch)) < 0)
			goto out;
	}
	if (stop != R_EOF) {
		char u[4];
		size_t n = shell_encode_rune(stop, u);
		r = hoist_error_set(lx->err, -EBADMSG,
				    "unexpected end of statement while looking for matching %.*s",
				    (int)n, u);
	}
out:
	lx->raw_escapes = saved;
	return r;
}

static int run(const struct hoist_shell *sh, const char *word, struct hoist_buf *res,
	       struct words *w, struct hoist_error *err)
{
	struct lex lx = {
	    .sh = sh,
	    .src = (const unsigned char *)word,
	    .len = strlen(word),
	    .escape = sh->escape ? (unsigned char)sh->escape : '\\',
	    .raw_escapes = sh->flags & HOIST_SHELL_RAW_ESCAPES,
	    .cap = sh->max_output ? sh->max_output : HOIST_SHELL_MAX_OUTPUT,
	    .match = {.err = err, .budget = SHELL_MATCH_BUDGET},
	    .err = err,
	};
	int r;

	/* Go's text/scanner skips a byte order mark at the start. */
	if (lx.len >= 3 && memcmp(word, "\xEF\xBB\xBF", 3) == 0)
		lx.pos = 3;
	hoist_buf_init(res, lx.cap);
	if (w)
		hoist_buf_init(&w->word, lx.cap);
	r = process_stop_on(&lx, R_EOF, lx.raw_escapes, res, w);
	if (r < 0) {
		if (err)
			hoist_error_prefix(err, "failed to process '%.200s%s'", word,
					   lx.len > 200 ? "..." : "");
		return r;
	}
	return 0;
}

int hoist_shell_expand_word(const struct hoist_shell *sh, const char *word, char **ret,
			    struct hoist_error *err)
{
	_cleanup_buf_ struct hoist_buf res = HOIST_BUF_INIT;
	int r;

	r = run(sh, word, &res, NULL, err);
	if (r < 0)
		return r;
	*ret = hoist_buf_detach(&res, NULL);
	return 0;
}

int hoist_shell_expand_words(const struct hoist_shell *sh, const char *word, char ***ret,
			     struct hoist_error *err)
{
	_cleanup_buf_ struct hoist_buf res = HOIST_BUF_INIT;
	struct words w = {.list = HOIST_STRV_INIT};
	int r;

	r = run(sh, word, &res, &w, err);
	if (r >= 0)
		words_flush(&w);
	hoist_buf_release(&w.word);
	if (r < 0) {
		hoist_strv_release(&w.list);
		return r;
	}
	if (!w.list.v)
		w.list.v = hoist_xcalloc(1, sizeof(char *));
	*ret = w.list.v;
	return 0;
}

const char *hoist_shell_lookup_envp(const char *name, void *userdata)
{
	char **envp = userdata;
	const char *found = NULL;
	size_t n = strlen(name);

	if (!envp)
		return NULL;
	for (char **e = envp; *e; e++) {
		if (strncmp(*e, name, n) != 0)
			continue;
		/* "K" alone means K is set and empty, as BuildKit's BuildEnvs has it. */
		if ((*e)[n] == '=')
			found = *e + n + 1;
		else if ((*e)[n] == '\0')
			found = "";
	}
	return found;
}
