/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The regexp subset of ignore-re.h. The text parsed here is what
 * patternmatcher generates from a .dockerignore pattern, so the parser
 * follows RE2's grammar (Go's regexp/syntax with the Perl flags) closely
 * enough that the same text is accepted or rejected the same way and matches
 * the same strings.
 */
#include <errno.h>
#include <string.h>

#include "hoist/util.h"
#include "ignore-re.h"

#define MAX_RUNE 0x10FFFFu
#define RUNE_ERROR 0xFFFDu

enum node_kind {
	N_SET,	  /* one rune from a class (ranges, maybe negated) */
	N_ANY,	  /* any rune but \n (Go's `.` without the s flag) */
	N_BOL,	  /* ^ or \A: start of text */
	N_EOL,	  /* $ or \z: end of text */
	N_WORDB,  /* \b */
	N_NWORDB, /* \B */
	N_FORK,	  /* go on, or jump to skip (the optional "**" group, alternation) */
	N_JMP,	  /* jump to skip (end of an alternative) */
};

enum quant {
	Q_ONE,
	Q_STAR,
	Q_OPT,
};

struct node {
	uint8_t kind;
	uint8_t quant;
	bool negate;
	bool fixed; /* part of a group: takes no quantifier */
	uint32_t rstart, rcount;
	uint32_t skip;
};

struct ire_prog {
	bool anchored; /* starts with ^: no match can start after position 0 */
	struct node *nodes;
	size_t n, alloc;
	uint32_t (*ranges)[2];
	size_t nranges, ralloc;
};

/* ---- UTF-8 ------------------------------------------------------------ */

size_t ire_decode_rune(const char *str, size_t n, uint32_t *ret)
{
	const unsigned char *s = (const unsigned char *)str;
	uint32_t r;
	size_t w;

	if (s[0] < 0x80) {
		*ret = s[0];
		return 1;
	}
	if (s[0] >= 0xC2 && s[0] <= 0xDF) {
		w = 2;
		r = s[0] & 0x1F;
	} else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
		w = 3;
		r = s[0] & 0x0F;
	} else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		w = 4;
		r = s[0] & 0x07;
	} else {
		goto bad;
	}
	if (n < w)
		goto bad;
	for (size_t i = 1; i < w; i++) {
		if ((s[i] & 0xC0) != 0x80)
			goto bad;
		r = (r << 6) | (s[i] & 0x3F);
	}
	/* Overlong forms, surrogates and values past U+10FFFF are invalid. */
	if ((w == 3 && r < 0x800) || (w == 4 && r < 0x10000) || r > MAX_RUNE ||
	    (r >= 0xD800 && r <= 0xDFFF))
		goto bad;
	*ret = r;
	return w;
bad:
	*ret = RUNE_ERROR;
	return 1;
}

size_t ire_encode_rune(uint32_t r, char out[4])
{
	if (r < 0x80) {
		out[0] = (char)r;
		return 1;
	}
	if (r < 0x800) {
		out[0] = (char)(0xC0 | (r >> 6));
		out[1] = (char)(0x80 | (r & 0x3F));
		return 2;
	}
	if (r < 0x10000) {
		out[0] = (char)(0xE0 | (r >> 12));
		out[1] = (char)(0x80 | ((r >> 6) & 0x3F));
		out[2] = (char)(0x80 | (r & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (r >> 18));
	out[1] = (char)(0x80 | ((r >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((r >> 6) & 0x3F));
	out[3] = (char)(0x80 | (r & 0x3F));
	return 4;
}

/* ---- character groups --------------------------------------------------- */

struct group {
	const char *name;
	const uint32_t (*r)[2];
	size_t n;
};

static const uint32_t g_digit[][2] = {{'0', '9'}};
static const uint32_t g_space_perl[][2] = {{'\t', '\n'}, {'\f', '\r'}, {' ', ' '}};
static const uint32_t g_word[][2] = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
static const uint32_t g_alnum[][2] = {{'0', '9'}, {'A', 'Z'}, {'a', 'z'}};
static const uint32_t g_alpha[][2] = {{'A', 'Z'}, {'a', 'z'}};
static const uint32_t g_ascii[][2] = {{0, 0x7F}};
static const uint32_t g_blank[][2] = {{'\t', '\t'}, {' ', ' '}};
static const uint32_t g_cntrl[][2] = {{0, 0x1F}, {0x7F, 0x7F}};
static const uint32_t g_graph[][2] = {{'!', '~'}};
static const uint32_t g_lower[][2] = {{'a', 'z'}};
static const uint32_t g_print[][2] = {{' ', '~'}};
static const uint32_t g_punct[][2] = {{'!', '/'}, {':', '@'}, {'[', '`'}, {'{', '~'}};
static const uint32_t g_space[][2] = {{'\t', '\r'}, {' ', ' '}};
static const uint32_t g_upper[][2] = {{'A', 'Z'}};
static const uint32_t g_xdigit[][2] = {{'0', '9'}, {'A', 'F'}, {'a', 'f'}};

#define GROUP(name, tab)                                                                           \
	{                                                                                          \
		name, tab, ARRAY_SIZE(tab)                                                         \
	}

static const struct group posix_groups[] = {
    GROUP("alnum", g_alnum), GROUP("alpha", g_alpha),	GROUP("ascii", g_ascii),
    GROUP("blank", g_blank), GROUP("cntrl", g_cntrl),	GROUP("digit", g_digit),
    GROUP("graph", g_graph), GROUP("lower", g_lower),	GROUP("print", g_print),
    GROUP("punct", g_punct), GROUP("space", g_space),	GROUP("upper", g_upper),
    GROUP("word", g_word),   GROUP("xdigit", g_xdigit),
};

/* \d \s \w (lower case); upper case is the negation. */
static const struct group *perl_group(char c)
{
	static const struct group d = GROUP("d", g_digit);
	static const struct group s = GROUP("s", g_space_perl);
	static const struct group w = GROUP("w", g_word);
	switch (c | 0x20) {
	case 'd':
		return &d;
	case 's':
		return &s;
	case 'w':
		return &w;
	}
	return NULL;
}

/* ---- program building ------------------------------------------------- */

static void add_range(struct ire_prog *p, uint32_t lo, uint32_t hi)
{
	if (p->nranges == p->ralloc) {
		p->ralloc = p->ralloc ? p->ralloc * 2 : 16;
		p->ranges = hoist_xrealloc(p->ranges, p->ralloc * sizeof(*p->ranges));
	}
	p->ranges[p->nranges][0] = lo;
	p->ranges[p->nranges][1] = hi;
	p->nranges++;
}

/* Append a group's ranges, or their complement (tables are sorted). */
static void add_group(struct ire_prog *p, const struct group *g, bool negate)
{
	uint32_t next = 0;

	if (!negate) {
		for (size_t i = 0; i < g->n; i++)
			add_range(p, g->r[i][0], g->r[i][1]);
		return;
	}
	for (size_t i = 0; i < g->n; i++) {
		if (g->r[i][0] > next)
			add_range(p, next, g->r[i][0] - 1);
		next = g->r[i][1] + 1;
	}
	if (next <= MAX_RUNE)
		add_range(p, next, MAX_RUNE);
}

static struct node *add_node(struct ire_prog *p, enum node_kind kind)
{
	if (p->n == p->alloc) {
		p->alloc = p->alloc ? p->alloc * 2 : 16;
		p->nodes = hoist_xrealloc(p->nodes, p->alloc * sizeof(*p->nodes));
	}
	struct node *nd = &p->nodes[p->n++];
	*nd = (struct node){.kind = kind, .quant = Q_ONE, .rstart = (uint32_t)p->nranges};
	return nd;
}

static void add_literal(struct ire_prog *p, uint32_t r)
{
	struct node *nd = add_node(p, N_SET);
	add_range(p, r, r);
	nd->rcount = 1;
}

/* ---- parser ------------------------------------------------------------- */

/* Bounds so that "a{1000}{...}" style input cannot build a huge program. */
#define IRE_MAX_NODES 100000
#define IRE_MAX_ALTS 4096

struct parser {
	struct ire_prog *prog;
	const char *s;
	size_t len, pos;
	const char *reason;
	bool last_repeat; /* the previous token was a repetition operator */
};

static int fail(struct parser *ps, const char *reason)
{
	ps->reason = reason;
	return -EINVAL;
}

static uint32_t next_rune(struct parser *ps)
{
	uint32_t r;
	ps->pos += ire_decode_rune(ps->s + ps->pos, ps->len - ps->pos, &r);
	return r;
}

static int unhex(uint32_t c)
{
	if (c >= '0' && c <= '9')
		return (int)(c - '0');
	if (c >= 'a' && c <= 'f')
		return (int)(c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (int)(c - 'A' + 10);
	return -1;
}

static bool is_alnum(uint32_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool is_octal(const struct parser *ps)
{
	return ps->pos < ps->len && ps->s[ps->pos] >= '0' && ps->s[ps->pos] <= '7';
}

/* An escape that stands for one rune (RE2's parseEscape); pos is at '\'. */
static int parse_escape(struct parser *ps, uint32_t *ret)
{
	uint32_t c, r;

	ps->pos++;
	if (ps->pos >= ps->len)
		return fail(ps, "trailing backslash at end of expression");
	c = next_rune(ps);
	if (c < 0x80 && !is_alnum(c)) {
		/* Escaped punctuation is always itself. */
		*ret = c;
		return 0;
	}
	switch (c) {
	case '1':
	case '2':
	case '3':
	case '4':
	case '5':
	case '6':
	case '7':
		/* A lone non-zero digit would be a backreference: unsupported. */
		if (!is_octal(ps))
			break;
		__attribute__((fallthrough));
	case '0':
		r = c - '0';
		for (int i = 1; i < 3 && is_octal(ps); i++)
			r = r * 8 + (uint32_t)(ps->s[ps->pos++] - '0');
		*ret = r;
		return 0;
	case 'x': {
		int x, y;
		if (ps->pos >= ps->len)
			break;
		c = next_rune(ps);
		if (c == '{') {
			int nhex = 0;
			r = 0;
			for (;;) {
				if (ps->pos >= ps->len)
					return fail(ps, "invalid escape sequence");
				c = next_rune(ps);
				if (c == '}')
					break;
				x = unhex(c);
				if (x < 0)
					return fail(ps, "invalid escape sequence");
				r = r * 16 + (uint32_t)x;
				if (r > MAX_RUNE)
					return fail(ps, "invalid escape sequence");
				nhex++;
			}
			if (nhex == 0)
				break;
			*ret = r;
			return 0;
		}
		x = unhex(c);
		if (ps->pos >= ps->len)
			break;
		y = unhex(next_rune(ps));
		if (x < 0 || y < 0)
			break;
		*ret = (uint32_t)(x * 16 + y);
		return 0;
	}
	case 'a':
		*ret = '\a';
		return 0;
	case 'f':
		*ret = '\f';
		return 0;
	case 'n':
		*ret = '\n';
		return 0;
	case 'r':
		*ret = '\r';
		return 0;
	case 't':
		*ret = '\t';
		return 0;
	case 'v':
		*ret = '\v';
		return 0;
	}
	return fail(ps, "invalid escape sequence");
}

static int class_char(struct parser *ps, uint32_t *ret)
{
	if (ps->pos >= ps->len)
		return fail(ps, "missing closing ]");
	if (ps->s[ps->pos] == '\\')
		return parse_escape(ps, ret);
	*ret = next_rune(ps);
	return 0;
}

/* A bracket expression; pos is at '['. */
static int parse_class(struct parser *ps)
{
	struct ire_prog *p = ps->prog;
	size_t rstart = p->nranges;
	bool negate = false, first = true;
	int r;

	ps->pos++;
	if (ps->pos < ps->len && ps->s[ps->pos] == '^') {
		negate = true;
		ps->pos++;
	}
	/* ']' (and '-') are literal as the first member. */
	while (ps->pos >= ps->len || ps->s[ps->pos] != ']' || first) {
		const char *t = ps->s + ps->pos;
		size_t left = ps->len - ps->pos;
		uint32_t lo, hi;

		if (left == 0)
			return fail(ps, "missing closing ]");
		first = false;
		if (left > 2 && t[0] == '[' && t[1] == ':') {
			/* RE2 looks for the closing ":]" anywhere further on. */
			const char *end = memmem(t + 2, left - 2, ":]", 2);
			if (end) {
				const char *name = t + 2;
				size_t nlen = (size_t)(end - name);
				bool neg = false;
				const struct group *g = NULL;
				if (nlen > 0 && name[0] == '^') {
					neg = true;
					name++;
					nlen--;
				}
				for (size_t i = 0; i < ARRAY_SIZE(posix_groups); i++)
					if (strlen(posix_groups[i].name) == nlen &&
					    memcmp(posix_groups[i].name, name, nlen) == 0)
						g = &posix_groups[i];
				if (!g)
					return fail(ps, "invalid character class range");
				add_group(p, g, neg);
				ps->pos = (size_t)(end + 2 - ps->s);
				continue;
			}
		}
		if (left >= 2 && t[0] == '\\' && (t[1] == 'p' || t[1] == 'P'))
			return fail(ps, "unicode character classes are not supported");
		if (left >= 2 && t[0] == '\\' && perl_group(t[1])) {
			add_group(p, perl_group(t[1]), t[1] >= 'A' && t[1] <= 'Z');
			ps->pos += 2;
			continue;
		}
		if ((r = class_char(ps, &lo)) < 0)
			return r;
		hi = lo;
		/* "[a-]" means a or '-'. */
		if (ps->len - ps->pos >= 2 && ps->s[ps->pos] == '-' && ps->s[ps->pos + 1] != ']') {
			ps->pos++;
			if ((r = class_char(ps, &hi)) < 0)
				return r;
			if (hi < lo)
				return fail(ps, "invalid character class range");
		}
		add_range(p, lo, hi);
	}
	ps->pos++;
	struct node *nd = add_node(p, N_SET);
	nd->rstart = (uint32_t)rstart;
	nd->rcount = (uint32_t)(p->nranges - rstart);
	nd->negate = negate;
	return 0;
}

static int parse_backslash(struct parser *ps)
{
	struct ire_prog *p = ps->prog;
	uint32_t r;
	int ret;

	if (ps->pos + 1 < ps->len) {
		char c = ps->s[ps->pos + 1];
		const struct group *g = perl_group(c);
		switch (c) {
		case 'A':
			add_node(p, N_BOL);
			ps->pos += 2;
			return 0;
		case 'z':
			add_node(p, N_EOL);
			ps->pos += 2;
			return 0;
		case 'b':
			add_node(p, N_WORDB);
			ps->pos += 2;
			return 0;
		case 'B':
			add_node(p, N_NWORDB);
			ps->pos += 2;
			return 0;
		case 'C':
			return fail(ps, "invalid escape sequence");
		case 'Q': {
			/* Everything up to \E (or the end) is literal. */
			size_t start = ps->pos + 2, end;
			const char *e = memmem(ps->s + start, ps->len - start, "\\E", 2);
			end = e ? (size_t)(e - ps->s) : ps->len;
			ps->pos = start;
			while (ps->pos < end)
				add_literal(p, next_rune(ps));
			ps->pos = e ? end + 2 : ps->len;
			return 0;
		}
		case 'p':
		case 'P':
			return fail(ps, "unicode character classes are not supported");
		}
		if (g) {
			struct node *nd;
			size_t rstart = p->nranges;
			add_group(p, g, c >= 'A' && c <= 'Z');
			nd = add_node(p, N_SET);
			nd->rstart = (uint32_t)rstart;
			nd->rcount = (uint32_t)(p->nranges - rstart);
			ps->pos += 2;
			return 0;
		}
	}
	if ((ret = parse_escape(ps, &r)) < 0)
		return ret;
	add_literal(p, r);
	return 0;
}

/* RE2's parseRepeat: "{n}", "{n,}" or "{n,m}" at pos; false if it is not one. */
static bool scan_repeat(const struct parser *ps, int *ret_min, int *ret_max, size_t *ret_end)
{
	size_t i = ps->pos + 1;
	int v[2] = {-1, -1}, k = 0;
	bool comma = false;

	for (;;) {
		size_t start = i;
		long n = 0;
		while (i < ps->len && ps->s[i] >= '0' && ps->s[i] <= '9') {
			/* Clamp: anything past 1000 is an error anyway. */
			if (n <= 100000)
				n = n * 10 + (ps->s[i] - '0');
			i++;
		}
		if (i > start)
			v[k] = (int)(n > 100000 ? 100001 : n);
		else if (k == 0)
			return false;
		if (i >= ps->len)
			return false;
		if (ps->s[i] == ',' && k == 0) {
			comma = true;
			k = 1;
			i++;
			continue;
		}
		if (ps->s[i] != '}')
			return false;
		break;
	}
	*ret_min = v[0];
	*ret_max = comma ? v[1] : v[0];
	*ret_end = i + 1;
	return true;
}

/*
 * Apply {min,max} (max -1: unbounded) to the last node of the current
 * alternative, which starts at seq_start.
 */
static int apply_repeat(struct parser *ps, size_t seq_start, int min, int max)
{
	struct ire_prog *p = ps->prog;
	struct node tmpl;

	if (ps->last_repeat)
		return fail(ps, "invalid nested repetition operator");
	if (p->n <= seq_start)
		return fail(ps, "missing argument to repetition operator");
	tmpl = p->nodes[p->n - 1];
	if (tmpl.fixed || tmpl.quant != Q_ONE)
		return fail(ps, "invalid nested repetition operator");
	p->n--;
	if (tmpl.kind != N_SET && tmpl.kind != N_ANY) {
		/* A repeated assertion is the assertion, or nothing when optional. */
		if (min > 0)
			p->nodes[p->n++] = tmpl;
		ps->last_repeat = true;
		return 0;
	}
	if (p->n + (size_t)(max < 0 ? min + 1 : max) > IRE_MAX_NODES)
		return fail(ps, "expression too large");
	for (int i = 0; i < min; i++)
		*add_node(p, N_SET) = tmpl;
	if (max < 0) {
		*add_node(p, N_SET) = tmpl;
		p->nodes[p->n - 1].quant = Q_STAR;
	} else {
		for (int i = min; i < max; i++) {
			*add_node(p, N_SET) = tmpl;
			p->nodes[p->n - 1].quant = Q_OPT;
		}
	}
	ps->last_repeat = true;
	return 0;
}

/* One alternative, up to a top-level '|' or the end. */
static int parse_seq(struct parser *ps)
{
	static const char group[] = "(.*/)?";
	struct ire_prog *p = ps->prog;
	size_t seq_start = p->n;
	int r = 0, min, max;
	size_t end;

	ps->last_repeat = false;
	while (ps->pos < ps->len && ps->s[ps->pos] != '|') {
		bool repeat = false;
		if (p->n > IRE_MAX_NODES)
			return fail(ps, "expression too large");
		switch (ps->s[ps->pos]) {
		case '^':
			add_node(p, N_BOL);
			ps->pos++;
			break;
		case '$':
			add_node(p, N_EOL);
			ps->pos++;
			break;
		case '.':
			add_node(p, N_ANY);
			ps->pos++;
			break;
		case '[':
			r = parse_class(ps);
			break;
		case '\\':
			r = parse_backslash(ps);
			break;
		case '*':
			ps->pos++;
			r = apply_repeat(ps, seq_start, 0, -1);
			repeat = true;
			break;
		case '?':
			ps->pos++;
			r = apply_repeat(ps, seq_start, 0, 1);
			repeat = true;
			break;
		case '{':
			/*
			 * patternmatcher escapes only characters below 64 (its bitmap
			 * is too small), so '{', '}' and '|' reach RE2 as operators.
			 */
			if (!scan_repeat(ps, &min, &max, &end)) {
				add_literal(p, '{');
				ps->pos++;
				break;
			}
			if (min > 1000 || max > 1000 || (max >= 0 && min > max))
				return fail(ps, "invalid repeat count");
			ps->pos = end;
			r = apply_repeat(ps, seq_start, min, max);
			repeat = true;
			break;
		case '(': {
			/* The only group patternmatcher writes: the one for "**". */
			size_t entry = p->n;
			if (ps->len - ps->pos < sizeof(group) - 1 ||
			    memcmp(ps->s + ps->pos, group, sizeof(group) - 1) != 0)
				return fail(ps, "unsupported group");
			add_node(p, N_FORK);
			add_node(p, N_ANY);
			p->nodes[p->n - 1].quant = Q_STAR;
			p->nodes[p->n - 1].fixed = true;
			add_literal(p, '/');
			p->nodes[p->n - 1].fixed = true;
			p->nodes[entry].fixed = true;
			p->nodes[entry].skip = (uint32_t)p->n;
			ps->pos += sizeof(group) - 1;
			repeat = true; /* the group carries its own '?' */
			break;
		}
		case ')':
			return fail(ps, "unexpected )");
		case '+':
			return fail(ps, "unsupported operator");
		default:
			add_literal(p, next_rune(ps));
			break;
		}
		if (r < 0)
			return r;
		if (!repeat)
			ps->last_repeat = false;
	}
	return 0;
}

/*
 * The whole expression: alternatives A|B|C laid out as
 * FORK(->B) A JMP(->end) FORK(->C) B JMP(->end) C.
 */
static int parse(struct parser *ps)
{
	struct ire_prog *p = ps->prog;
	size_t bounds[IRE_MAX_ALTS + 1], k = 0, total;
	struct node *nodes;
	int r;

	for (;;) {
		bounds[k++] = p->n;
		if ((r = parse_seq(ps)) < 0)
			return r;
		if (ps->pos >= ps->len)
			break;
		ps->pos++; /* '|' */
		if (k >= IRE_MAX_ALTS)
			return fail(ps, "expression too large");
	}
	bounds[k] = p->n;
	if (k == 1)
		return 0;

	total = p->n + 2 * (k - 1);
	nodes = hoist_xcalloc(total, sizeof(*nodes));
	size_t w = 0;
	for (size_t i = 0; i < k; i++) {
		size_t shift = (w + (i + 1 < k ? 1 : 0)) - bounds[i];
		if (i + 1 < k) {
			/* The fork's skip is the next alternative's first node. */
			nodes[w] = (struct node){.kind = N_FORK, .fixed = true};
			nodes[w].skip = (uint32_t)(w + 1 + (bounds[i + 1] - bounds[i]) + 1);
			w++;
		}
		for (size_t j = bounds[i]; j < bounds[i + 1]; j++) {
			nodes[w] = p->nodes[j];
			if (nodes[w].kind == N_FORK)
				nodes[w].skip = (uint32_t)(nodes[w].skip + shift);
			w++;
		}
		if (i + 1 < k) {
			nodes[w] =
			    (struct node){.kind = N_JMP, .fixed = true, .skip = (uint32_t)total};
			w++;
		}
	}
	free(p->nodes);
	p->nodes = nodes;
	p->n = p->alloc = total;
	return 0;
}

void ire_free(struct ire_prog *p)
{
	if (!p)
		return;
	free(p->nodes);
	free(p->ranges);
	free(p);
}

int ire_compile(const char *re, size_t len, struct ire_prog **ret, const char **ret_reason)
{
	struct parser ps = {.s = re, .len = len};
	int r;

	ps.prog = hoist_xcalloc(1, sizeof(*ps.prog));
	r = parse(&ps);
	if (r < 0) {
		ire_free(ps.prog);
		if (ret_reason)
			*ret_reason = ps.reason;
		return r;
	}
	ps.prog->anchored = ps.prog->n > 0 && ps.prog->nodes[0].kind == N_BOL;
	*ret = ps.prog;
	return 0;
}

/* ---- matching ------------------------------------------------------------ */

struct ctx {
	bool at_start, at_end;
	bool prev_word, next_word;
};

struct sim {
	const struct ire_prog *p;
	uint32_t *mark; /* generation stamps, one per state */
	uint32_t gen;
	uint32_t *stack;
};

static bool is_word(uint32_t r)
{
	return is_alnum(r) || r == '_';
}

static bool node_matches(const struct ire_prog *p, const struct node *nd, uint32_t r)
{
	if (nd->kind == N_ANY)
		return r != '\n';
	bool in = false;
	for (uint32_t i = 0; i < nd->rcount && !in; i++)
		in = p->ranges[nd->rstart + i][0] <= r && r <= p->ranges[nd->rstart + i][1];
	return in != nd->negate;
}

/*
 * Expand the kernel states (reached by consuming a rune) through the
 * empty-width transitions into out; returns the count. State p->n accepts.
 */
static size_t closure(struct sim *sm, const uint32_t *kernel, size_t nk, bool add_start,
		      const struct ctx *c, uint32_t *out)
{
	const struct ire_prog *p = sm->p;
	size_t nout = 0, sp = 0;

	sm->gen++;
	for (size_t i = nk; i-- > 0;)
		sm->stack[sp++] = kernel[i];
	/* Go's MatchString searches: a match may start at any position. */
	if (add_start)
		sm->stack[sp++] = 0;
	while (sp > 0) {
		uint32_t s = sm->stack[--sp];
		if (sm->mark[s] == sm->gen)
			continue;
		sm->mark[s] = sm->gen;
		out[nout++] = s;
		if (s == p->n)
			continue;
		const struct node *nd = &p->nodes[s];
		switch (nd->kind) {
		case N_BOL:
			if (c->at_start)
				sm->stack[sp++] = s + 1;
			break;
		case N_EOL:
			if (c->at_end)
				sm->stack[sp++] = s + 1;
			break;
		case N_WORDB:
			if (c->prev_word != c->next_word)
				sm->stack[sp++] = s + 1;
			break;
		case N_NWORDB:
			if (c->prev_word == c->next_word)
				sm->stack[sp++] = s + 1;
			break;
		case N_FORK:
			sm->stack[sp++] = nd->skip;
			sm->stack[sp++] = s + 1;
			break;
		case N_JMP:
			sm->stack[sp++] = nd->skip;
			break;
		default:
			if (nd->quant != Q_ONE)
				sm->stack[sp++] = s + 1;
			break;
		}
	}
	return nout;
}

static bool accepts(const struct sim *sm, const uint32_t *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (list[i] == sm->p->n)
			return true;
	return false;
}

bool ire_match_ends(const struct ire_prog *p, const char *s, size_t len, const size_t *ends,
		    size_t nends)
{
	/* Small programs run on the stack; the rest allocate once per call. */
	enum { SMALL = 128 };
	uint32_t small[4][SMALL + 1];
	uint32_t small_stack[3 * SMALL + 8];
	_cleanup_free_ uint32_t *heap = NULL;
	uint32_t *kernel, *list, *mark, *tmp;
	size_t nstates = p->n + 1, nk = 0, nl, e = 0, pos = 0;
	uint32_t prev = 0;
	bool have_prev = false, found = false;
	struct sim sm = {.p = p};

	if (nends == 0)
		return false;
	if (p->n <= SMALL) {
		kernel = small[0];
		list = small[1];
		mark = small[2];
		tmp = small[3];
		sm.stack = small_stack;
	} else {
		heap = hoist_xcalloc(7 * nstates + 4, sizeof(uint32_t));
		kernel = heap;
		list = heap + nstates;
		mark = heap + 2 * nstates;
		tmp = heap + 3 * nstates;
		sm.stack = heap + 4 * nstates;
	}
	memset(mark, 0, nstates * sizeof(uint32_t));
	sm.mark = mark;

	for (;;) {
		uint32_t r = 0;
		size_t w = 0;
		if (pos < len)
			w = ire_decode_rune(s + pos, len - pos, &r);
		struct ctx c = {
		    .at_start = pos == 0,
		    .at_end = pos == len,
		    .prev_word = have_prev && is_word(prev),
		    .next_word = pos < len && is_word(r),
		};
		/* An anchored program can only start at 0. */
		bool start = pos == 0 || !p->anchored;
		while (e < nends && ends[e] < pos)
			e++;
		if (e < nends && ends[e] == pos && pos < len) {
			/* A parent prefix ends here: test it as if the text ended. */
			struct ctx ce = c;
			ce.at_end = true;
			ce.next_word = false;
			if (accepts(&sm, tmp, closure(&sm, kernel, nk, start, &ce, tmp)))
				return true;
		}
		nl = closure(&sm, kernel, nk, start, &c, list);
		if (pos == len) {
			found = e < nends && ends[e] == pos && accepts(&sm, list, nl);
			break;
		}
		/*
		 * A match that ended before the text did (an alternative without
		 * '$') holds for every longer prefix, so for the last end too.
		 */
		if (accepts(&sm, list, nl) && ends[nends - 1] > pos)
			return true;
		if (e >= nends)
			break;
		/* Step over rune r; the kernel of the next position is deduplicated via mark. */
		sm.gen++;
		nk = 0;
		for (size_t i = 0; i < nl; i++) {
			uint32_t st = list[i];
			if (st == p->n)
				continue;
			const struct node *nd = &p->nodes[st];
			if ((nd->kind != N_SET && nd->kind != N_ANY) || !node_matches(p, nd, r))
				continue;
			uint32_t to = nd->quant == Q_STAR ? st : st + 1;
			if (mark[to] != sm.gen) {
				mark[to] = sm.gen;
				kernel[nk++] = to;
			}
		}
		if (nk == 0 && p->anchored)
			break;
		prev = r;
		have_prev = true;
		pos += w;
	}
	return found;
}
