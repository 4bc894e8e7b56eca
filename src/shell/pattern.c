/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pattern operators of ${V#p} ${V##p} ${V%p} ${V%%p} ${V/p/r} ${V//p/r},
 * as BuildKit runs them through Go's regexp.
 */
#include <errno.h>
#include <string.h>

#include "hoist/util.h"

#include "shell-private.h"

static int put(struct shell_match *m, struct hoist_buf *b, const void *p, size_t n)
{
	if (hoist_buf_add(b, p, n) < 0)
		return hoist_error_set(m->err, -E2BIG, "expansion is larger than %zu bytes",
				       b->cap ? b->cap : HOIST_BUF_DEFAULT_CAP);
	return 0;
}

static int put_rune(struct shell_match *m, struct hoist_buf *b, int32_t r)
{
	char u[4];
	return put(m, b, u, shell_encode_rune(r, u));
}

static const char *buf_str(const struct hoist_buf *b)
{
	return b->data ? b->data : "";
}

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
		i += shell_decode_rune(p + i, len - i, &t->r[t->n]);
		t->n++;
	}
	t->off[t->n] = len;
}

static int compile_pattern(struct shell_match *m, const char *pat, size_t len, bool greedy,
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
				size_t un = i + 1 < t.n ? shell_encode_rune(t.r[i + 1], u) : 0;
				hoist_error_set(
				    m->err, -EBADMSG,
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
static int search(struct shell_match *m, const struct pattern *p, const struct text *t, size_t from,
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
		if (m->budget < cl->n) {
			ret = hoist_error_set(m->err, -E2BIG,
					      "pattern matching takes too many steps");
			goto out;
		}
		m->budget -= cl->n;
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
int shell_trim_prefix(struct shell_match *m, const char *pat, size_t plen, const char *value,
		      size_t vlen, bool greedy, struct hoist_buf *out)
{
	struct pattern p;
	struct text t;
	size_t ms = 0, me = 0;
	int r;

	r = compile_pattern(m, pat, plen, greedy, &p);
	if (r < 0)
		return r;
	text_decode(value, vlen, &t);
	r = search(m, &p, &t, 0, true, &ms, &me);
	if (r >= 0) {
		size_t skip = r > 0 ? t.off[me] : 0;
		r = put(m, out, value + skip, vlen - skip);
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
int shell_trim_suffix(struct shell_match *m, const char *pat, size_t plen, const char *value,
		      size_t vlen, bool greedy, struct hoist_buf *out)
{
	_cleanup_buf_ struct hoist_buf rp = HOIST_BUF_INIT;
	struct text tp, tv;
	struct pattern p = {0};
	size_t ms = 0, me = 0;
	int r;

	text_decode(pat, plen, &tp);
	hoist_buf_init(&rp, out->cap);
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
			r = put_rune(m, &rp, rev[i]);
		free(rev);
	}
	text_release(&tp);
	if (r < 0)
		return r;

	r = compile_pattern(m, buf_str(&rp), rp.len, greedy, &p);
	if (r < 0)
		return r;
	text_decode(value, vlen, &tv);
	for (size_t i = 0; i < tv.n / 2; i++) {
		int32_t c = tv.r[i];
		tv.r[i] = tv.r[tv.n - 1 - i];
		tv.r[tv.n - 1 - i] = c;
	}
	r = search(m, &p, &tv, 0, true, &ms, &me);
	if (r >= 0) {
		size_t keep = tv.n - (r > 0 ? me : 0);
		r = 0;
		/* The kept runes are the first `keep` of the value, in original order. */
		for (size_t i = 0; i < keep && r >= 0; i++)
			r = put_rune(m, out, tv.r[tv.n - 1 - i]);
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
static int expand_template(struct shell_match *m, const char *tpl, size_t tlen, const char *match,
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
		r = put(m, out, tpl + i, (size_t)(dollar - (tpl + i)));
		if (r < 0)
			return r;
		i = (size_t)(dollar - tpl) + 1;
		if (i < tlen && tpl[i] == '$') {
			r = put(m, out, "$", 1);
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
			size_t w = shell_decode_rune(s + j, tlen - j, &c);
			if (!shell_is_letter(c) && !shell_is_digit(c) && c != '_')
				break;
			j += w;
		}
		name_end = j;
		if (name_end == name_start || (brace && (j >= tlen || tpl[j] != '}'))) {
			r = put(m, out, "$", 1);
			if (r < 0)
				return r;
			continue;
		}
		if (brace)
			j++;
		/* Only group 0 exists; "0" is its only spelling (no leading zeros). */
		if (name_end - name_start == 1 && tpl[name_start] == '0') {
			r = put(m, out, match, mlen);
			if (r < 0)
				return r;
		}
		i = j;
	}
	return put(m, out, tpl + i, tlen - i);
}

/* ${V/p/r} and ${V//p/r}, as Go's FindStringIndex / ReplaceAllString do them. */
int shell_replace(struct shell_match *m, const char *pat, size_t plen, const char *repl,
		  size_t rlen, const char *value, size_t vlen, bool all, struct hoist_buf *out)
{
	struct pattern p;
	struct text t;
	size_t ms = 0, me = 0, last_end = 0, search_pos = 0;
	int r;

	r = compile_pattern(m, pat, plen, true, &p);
	if (r < 0)
		return r;
	text_decode(value, vlen, &t);
	if (!all) {
		r = search(m, &p, &t, 0, false, &ms, &me);
		if (r > 0) {
			r = put(m, out, value, t.off[ms]);
			if (r >= 0)
				r = put(m, out, repl, rlen);
			if (r >= 0)
				r = put(m, out, value + t.off[me], vlen - t.off[me]);
		} else if (r == 0) {
			r = put(m, out, value, vlen);
		}
		goto out;
	}
	while (search_pos <= t.n) {
		r = search(m, &p, &t, search_pos, false, &ms, &me);
		if (r < 0)
			goto out;
		if (r == 0)
			break;
		r = put(m, out, value + t.off[last_end], t.off[ms] - t.off[last_end]);
		if (r < 0)
			goto out;
		/* No second replacement for an empty match right after a match. */
		if (me > last_end || ms == 0) {
			r = expand_template(m, repl, rlen, value + t.off[ms], t.off[me] - t.off[ms],
					    out);
			if (r < 0)
				goto out;
		}
		last_end = me;
		if (search_pos + 1 > me)
			search_pos++;
		else
			search_pos = me;
	}
	r = put(m, out, value + t.off[last_end], vlen - t.off[last_end]);
out:
	text_release(&t);
	pattern_release(&p);
	return r < 0 ? r : 0;
}
