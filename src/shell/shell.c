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

#include "shell-unicode.h"

#define R_EOF (-1)
#define R_ERROR 0xFFFD
#define R_BOM 0xFEFF

/* Pattern matching (${V#p}, ${V/p/r}) costs at most this many thread steps per call. */
#define MATCH_BUDGET ((uint64_t)64 << 20)

struct lex {
	const struct hoist_shell *sh;
	const unsigned char *src;
	size_t len;
	size_t pos;
	int32_t escape;
	bool raw_escapes; /* dynamically scoped, as in BuildKit */
	unsigned depth;
	size_t cap;
	uint64_t budget;
	struct hoist_error *err;
};

/* ---- UTF-8 and character classes ------------------------------------- */

/* Decode one rune like Go's utf8.DecodeRune: bad input is (U+FFFD, 1). */
static size_t decode_rune(const unsigned char *s, size_t len, int32_t *ret)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xBF;
	size_t need;
	int32_t r;

	if (c < 0x80) {
		*ret = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		need = 2;
		r = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		need = 3;
		r = c & 0x0F;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F; /* no surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 4;
		r = c & 0x07;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else {
		*ret = R_ERROR;
		return 1;
	}
	if (len < need || s[1] < lo || s[1] > hi) {
		*ret = R_ERROR;
		return 1;
	}
	r = (r << 6) | (s[1] & 0x3F);
	for (size_t i = 2; i < need; i++) {
		if (s[i] < 0x80 || s[i] > 0xBF) {
			*ret = R_ERROR;
			return 1;
		}
		r = (r << 6) | (s[i] & 0x3F);
	}
	*ret = r;
	return need;
}

static size_t encode_rune(int32_t r, char out[4])
{
	uint32_t u = (uint32_t)r;

	if (r < 0 || u > 0x10FFFF || (u >= 0xD800 && u <= 0xDFFF))
		u = R_ERROR;
	if (u < 0x80) {
		out[0] = (char)u;
		return 1;
	}
	if (u < 0x800) {
		out[0] = (char)(0xC0 | (u >> 6));
		out[1] = (char)(0x80 | (u & 0x3F));
		return 2;
	}
	if (u < 0x10000) {
		out[0] = (char)(0xE0 | (u >> 12));
		out[1] = (char)(0x80 | ((u >> 6) & 0x3F));
		out[2] = (char)(0x80 | (u & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (u >> 18));
	out[1] = (char)(0x80 | ((u >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((u >> 6) & 0x3F));
	out[3] = (char)(0x80 | (u & 0x3F));
	return 4;
}

static bool in_ranges(const struct urange *t, size_t n, int32_t r)
{
	size_t lo = 0, hi = n;

	if (r < 0)
		return false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if ((uint32_t)r < t[mid].lo)
			hi = mid;
		else if ((uint32_t)r > t[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

/* Go's unicode.IsLetter / IsDigit / IsSpace, which BuildKit uses. */
static bool is_letter(int32_t r)
{
	if (r < 0x80)
		return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z');
	return in_ranges(unicode_letters, ARRAY_SIZE(unicode_letters), r);
}

static bool is_digit(int32_t r)
{
	if (r < 0x80)
		return r >= '0' && r <= '9';
	return in_ranges(unicode_digits, ARRAY_SIZE(unicode_digits), r);
}

static bool is_space(int32_t r)
{
	switch (r) {
	case '\t':
	case '\n':
	case '\v':
	case '\f':
	case '\r':
	case ' ':
	case 0x85:
	case 0xA0:
	case 0x1680:
	case 0x2028:
	case 0x2029:
	case 0x202F:
	case 0x205F:
	case 0x3000:
		return true;
	default:
		return r >= 0x2000 && r <= 0x200A;
	}
}

/* ---- scanner ---------------------------------------------------------- */

static int32_t peek(const struct lex *lx)
{
	int32_t r;

	if (lx->pos >= lx->len)
		return R_EOF;
	decode_rune(lx->src + lx->pos, lx->len - lx->pos, &r);
	return r;
}

static int32_t next(struct lex *lx)
{
	int32_t r;

	if (lx->pos >= lx->len)
		return R_EOF;
	lx->pos += decode_rune(lx->src + lx->pos, lx->len - lx->pos, &r);
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
	return put(lx, b, u, encode_rune(r, u));
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
	if (!is_space(r))
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
		i += decode_rune(p + i, n - i, &r);
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

/* ---- glob patterns ---------------------------------------------------- */

/*
 * BuildKit turns a pattern into a Go regexp (`*` is `.*` or `.*?`, `?` is
 * `.`, everything else literal, no bracket expressions) and takes Go's
 * leftmost-first match. Go's `.` does not match a newline, so neither do
 * `*` and `?` here. The same semantics come from a small Pike VM over the
 * linear pattern: threads are kept in priority order, which is what makes
 * a match leftmost-first, and it runs in O(text * pattern).
 */
enum atom_kind { ATOM_LIT, ATOM_ANY, ATOM_STAR };

struct atom {
	enum atom_kind kind;
	int32_t r;
};

struct pattern {
	struct atom *a;
	size_t n;
	bool greedy;
};

static void pattern_release(struct pattern *p)
{
	free(p->a);
	p->a = NULL;
}

/* A string as runes; off[i] is the byte offset of rune i, off[n] the length. */
struct text {
	int32_t *r;
	size_t *off;
	size_t n;
};

static void text_release(struct text *t)
{
	free(t->r);
	free(t->off);
	t->r = NULL;
	t->off = NULL;
}

static void text_decode(const char *s, size_t len, struct text *t)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	t->r = hoist_xcalloc(len + 1, sizeof(*t->r));
	t->off = hoist_xcalloc(len + 1, sizeof(*t->off));
	t->n = 0;
	while (i < len) {
		t->off[t->n] = i;
		i += decode_rune(p + i, len - i, &t->r[t->n]);
		t->n++;
	}
	t->off[t->n] = len;
}

static int compile_pattern(struct lex *lx, const char *pat, size_t len, bool greedy,
			   struct pattern *ret)
{
	struct text t;
	size_t i = 0;

	text_decode(pat, len, &t);
	ret->a = hoist_xcalloc(t.n + 1, sizeof(*ret->a));
	ret->n = 0;
	ret->greedy = greedy;
	/* The pattern goes through its own text/scanner, which drops a BOM. */
	if (t.n > 0 && t.r[0] == R_BOM)
		i = 1;
	for (; i < t.n; i++) {
		int32_t r = t.r[i];
		struct atom *a = &ret->a[ret->n];

		if (r == '*') {
			a->kind = ATOM_STAR;
		} else if (r == '?') {
			a->kind = ATOM_ANY;
		} else if (r == '\\') {
			/* \} and \/ only kept ${...} from ending; the \ is not part of the pattern.
			 */
			if (i + 1 < t.n && (t.r[i + 1] == '}' || t.r[i + 1] == '/'))
				continue;
			if (i + 1 >= t.n ||
			    (t.r[i + 1] != '*' && t.r[i + 1] != '?' && t.r[i + 1] != '\\')) {
				char u[4] = {0};
				size_t un = i + 1 < t.n ? encode_rune(t.r[i + 1], u) : 0;
				hoist_error_set(
				    lx->err, -EBADMSG,
				    "invalid pattern (%.*s) in substitution: invalid escape "
				    "'\\%.*s'",
				    (int)(len > 200 ? 200 : len), pat, (int)un, u);
				text_release(&t);
				pattern_release(ret);
				return -EBADMSG;
			}
			i++;
			a->kind = ATOM_LIT;
			a->r = t.r[i];
		} else {
			a->kind = ATOM_LIT;
			a->r = r;
		}
		ret->n++;
	}
	text_release(&t);
	return 0;
}

struct tlist {
	size_t *pc;
	size_t *start;
	size_t n;
	uint32_t *mark;
	uint32_t gen;
};

static void tlist_push(struct tlist *l, size_t pc, size_t start)
{
	l->pc[l->n] = pc;
	l->start[l->n] = start;
	l->n++;
}

/*
 * Add the epsilon closure of pc in priority order. The closure of a star is
 * (greedy) its own loop then what follows, or (lazy) the reverse; the walk
 * ends at a consuming atom, the end of the pattern (a match), or a pc that a
 * higher-priority thread already holds.
 */
static void add_thread(const struct pattern *p, struct tlist *l, size_t pc, size_t start)
{
	size_t i = pc;
	bool terminal = false;

	for (;; i++) {
		if (l->mark[i] == l->gen)
			break;
		l->mark[i] = l->gen;
		if (i == p->n || p->a[i].kind != ATOM_STAR) {
			terminal = true;
			break;
		}
		if (p->greedy)
			tlist_push(l, i, start);
	}
	if (terminal)
		tlist_push(l, i, start);
	if (!p->greedy)
		for (size_t k = i; k > pc; k--)
			tlist_push(l, k - 1, start);
}

/*
 * Find the leftmost-first match of p in t starting at rune from (anchored:
 * only there). Returns 1 with the match in *ms and *me (rune indices), 0 for no match.
 */
static int search(struct lex *lx, const struct pattern *p, const struct text *t, size_t from,
		  bool anchored, size_t *ms, size_t *me)
{
	struct tlist lists[2];
	struct tlist *cl = &lists[0], *nl = &lists[1];
	bool matched = false;
	int ret = 0;

	for (int k = 0; k < 2; k++) {
		lists[k].pc = hoist_xcalloc(p->n + 1, sizeof(size_t));
		lists[k].start = hoist_xcalloc(p->n + 1, sizeof(size_t));
		lists[k].mark = hoist_xcalloc(p->n + 1, sizeof(uint32_t));
		lists[k].n = 0;
		lists[k].gen = 1;
	}

	for (size_t i = from;; i++) {
		if (!matched && (!anchored || i == from))
			add_thread(p, cl, 0, i);
		if (cl->n == 0)
			break;
		if (lx->budget < cl->n) {
			ret = hoist_error_set(lx->err, -E2BIG,
					      "pattern matching takes too many steps");
			goto out;
		}
		lx->budget -= cl->n;
		nl->n = 0;
		nl->gen++;
		for (size_t k = 0; k < cl->n; k++) {
			size_t pc = cl->pc[k];
			const struct atom *a;

			if (pc == p->n) {
				/* Lower-priority threads can no longer win. */
				matched = true;
				*ms = cl->start[k];
				*me = i;
				ret = 1;
				break;
			}
			if (i >= t->n)
				continue;
			a = &p->a[pc];
			switch (a->kind) {
			case ATOM_LIT:
				if (t->r[i] == a->r)
					add_thread(p, nl, pc + 1, cl->start[k]);
				break;
			case ATOM_ANY:
				if (t->r[i] != '\n')
					add_thread(p, nl, pc + 1, cl->start[k]);
				break;
			case ATOM_STAR:
				if (t->r[i] != '\n')
					add_thread(p, nl, pc, cl->start[k]);
				break;
			}
		}
		if (i >= t->n)
			break;
		struct tlist *tmp = cl;
		cl = nl;
		nl = tmp;
	}
out:
	for (int k = 0; k < 2; k++) {
		free(lists[k].pc);
		free(lists[k].start);
		free(lists[k].mark);
	}
	return ret;
}

/* ${V#p} / ${V##p}: drop the shortest / longest matching prefix. */
static int trim_prefix(struct lex *lx, const char *pat, size_t plen, const char *value, size_t vlen,
		       bool greedy, struct hoist_buf *out)
{
	struct pattern p;
	struct text t;
	size_t ms = 0, me = 0;
	int r;

	r = compile_pattern(lx, pat, plen, greedy, &p);
	if (r < 0)
		return r;
	text_decode(value, vlen, &t);
	r = search(lx, &p, &t, 0, true, &ms, &me);
	if (r >= 0) {
		size_t skip = r > 0 ? t.off[me] : 0;
		r = put(lx, out, value + skip, vlen - skip);
	}
	text_release(&t);
	pattern_release(&p);
	return r;
}

/*
 * ${V%p} / ${V%%p}: BuildKit reverses pattern and value and trims a prefix,
 * so the result is rebuilt from runes (bad bytes come out as U+FFFD). An
 * escape pair `\x` keeps its order when the pattern is reversed.
 */
static int trim_suffix(struct lex *lx, const char *pat, size_t plen, const char *value, size_t vlen,
		       bool greedy, struct hoist_buf *out)
{
	_cleanup_buf_ struct hoist_buf rp = HOIST_BUF_INIT;
	struct text tp, tv;
	struct pattern p = {0};
	size_t ms = 0, me = 0;
	int r;

	text_decode(pat, plen, &tp);
	hoist_buf_init(&rp, lx->cap);
	{
		/* Reverse the runes as reversePattern does: an escape pair keeps its order. */
		int32_t *rev = hoist_xcalloc(tp.n + 1, sizeof(int32_t));
		size_t last = tp.n ? tp.n - 1 : 0;

		for (size_t i = 0; i < tp.n;) {
			size_t o = last - i;
			if (tp.r[i] == '\\' && i != last) {
				rev[o - 1] = tp.r[i];
				rev[o] = tp.r[i + 1];
				i += 2;
			} else {
				rev[o] = tp.r[i];
				i++;
			}
		}
		r = 0;
		for (size_t i = 0; i < tp.n && r >= 0; i++)
			r = put_rune(lx, &rp, rev[i]);
		free(rev);
	}
	text_release(&tp);
	if (r < 0)
		return r;

	r = compile_pattern(lx, buf_str(&rp), rp.len, greedy, &p);
	if (r < 0)
		return r;
	text_decode(value, vlen, &tv);
	for (size_t i = 0; i < tv.n / 2; i++) {
		int32_t c = tv.r[i];
		tv.r[i] = tv.r[tv.n - 1 - i];
		tv.r[tv.n - 1 - i] = c;
	}
	r = search(lx, &p, &tv, 0, true, &ms, &me);
	if (r >= 0) {
		size_t keep = tv.n - (r > 0 ? me : 0);
		r = 0;
		/* The kept runes are the first `keep` of the value, in original order. */
		for (size_t i = 0; i < keep && r >= 0; i++)
			r = put_rune(lx, out, tv.r[tv.n - 1 - i]);
	}
	text_release(&tv);
	pattern_release(&p);
	return r;
}

/*
 * Go's Regexp.Expand template, which ReplaceAllString applies to the
 * replacement: $$ is $, $0 / ${0} the match, any other $name or ${name}
 * nothing (the regexp has no groups), a malformed reference a literal $.
 */
static int expand_template(struct lex *lx, const char *tpl, size_t tlen, const char *match,
			   size_t mlen, struct hoist_buf *out)
{
	const unsigned char *s = (const unsigned char *)tpl;
	size_t i = 0;
	int r;

	while (i < tlen) {
		const char *dollar = memchr(tpl + i, '$', tlen - i);
		size_t j, name_start, name_end;
		bool brace = false;

		if (!dollar)
			break;
		r = put(lx, out, tpl + i, (size_t)(dollar - (tpl + i)));
		if (r < 0)
			return r;
		i = (size_t)(dollar - tpl) + 1;
		if (i < tlen && tpl[i] == '$') {
			r = put(lx, out, "$", 1);
			if (r < 0)
				return r;
			i++;
			continue;
		}
		j = i;
		if (j < tlen && tpl[j] == '{') {
			brace = true;
			j++;
		}
		name_start = j;
		while (j < tlen) {
			int32_t c;
			size_t w = decode_rune(s + j, tlen - j, &c);
			if (!is_letter(c) && !is_digit(c) && c != '_')
				break;
			j += w;
		}
		name_end = j;
		if (name_end == name_start || (brace && (j >= tlen || tpl[j] != '}'))) {
			r = put(lx, out, "$", 1);
			if (r < 0)
				return r;
			continue;
		}
		if (brace)
			j++;
		/* Only group 0 exists; "0" is its only spelling (no leading zeros). */
		if (name_end - name_start == 1 && tpl[name_start] == '0') {
			r = put(lx, out, match, mlen);
			if (r < 0)
				return r;
		}
		i = j;
	}
	return put(lx, out, tpl + i, tlen - i);
}

/* ${V/p/r} and ${V//p/r}, as Go's FindStringIndex / ReplaceAllString do them. */
static int replace(struct lex *lx, const char *pat, size_t plen, const char *repl, size_t rlen,
		   const char *value, size_t vlen, bool all, struct hoist_buf *out)
{
	struct pattern p;
	struct text t;
	size_t ms = 0, me = 0, last_end = 0, search_pos = 0;
	int r;

	r = compile_pattern(lx, pat, plen, true, &p);
	if (r < 0)
		return r;
	text_decode(value, vlen, &t);
	if (!all) {
		r = search(lx, &p, &t, 0, false, &ms, &me);
		if (r > 0) {
			r = put(lx, out, value, t.off[ms]);
			if (r >= 0)
				r = put(lx, out, repl, rlen);
			if (r >= 0)
				r = put(lx, out, value + t.off[me], vlen - t.off[me]);
		} else if (r == 0) {
			r = put(lx, out, value, vlen);
		}
		goto out;
	}
	while (search_pos <= t.n) {
		r = search(lx, &p, &t, search_pos, false, &ms, &me);
		if (r < 0)
			goto out;
		if (r == 0)
			break;
		r = put(lx, out, value + t.off[last_end], t.off[ms] - t.off[last_end]);
		if (r < 0)
			goto out;
		/* No second replacement for an empty match right after a match. */
		if (me > last_end || ms == 0) {
			r = expand_template(lx, repl, rlen, value + t.off[ms],
					    t.off[me] - t.off[ms], out);
			if (r < 0)
				goto out;
		}
		last_end = me;
		if (search_pos + 1 > me)
			search_pos++;
		else
			search_pos = me;
	}
	r = put(lx, out, value + t.off[last_end], vlen - t.off[last_end]);
out:
	text_release(&t);
	pattern_release(&p);
	return r < 0 ? r : 0;
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
		if (name->len == 0 && is_digit(ch)) {
			while (peek(lx) != R_EOF && is_digit(peek(lx)))
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
		if (!is_letter(ch) && !is_digit(ch) && ch != '_')
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
	return replace(lx, buf_str(&pat), pat.len, buf_str(&rep), rep.len, value, strlen(value),
		       all, out);
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
			return trim_suffix(lx, pat, plen, value, strlen(value), greedy, out);
		return trim_prefix(lx, pat, plen, value, strlen(value), greedy, out);
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
		size_t n = encode_rune(stop, u);
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
	    .budget = MATCH_BUDGET,
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
