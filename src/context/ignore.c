/* SPDX-License-Identifier: Apache-2.0 */
/*
 * .dockerignore patterns with moby/patternmatcher's semantics, quirks
 * included, because a build context must contain exactly the files Docker
 * would send. In short (see tests/corpora/README.md §3):
 *
 *  - New(): trim, filepath.Clean, a leading '!' marks an exception, and the
 *    pattern must pass Go's filepath.Match syntax check.
 *  - Each pattern becomes one of: an exact string, a prefix (a trailing
 *    "**" after plain text), a suffix ("**" first, nothing special after),
 *    or a Go regexp ('*' -> "[^/]*", '?' -> "[^/]", "**" -> any text ending
 *    in a slash, optional; '[' ']' and backslash passed through).
 *    The regexp is compiled lazily, so a pattern Go's Match accepts but RE2
 *    rejects ("[z-a]") only fails the paths that reach it.
 *  - A pattern matches the path or any of its parent directories; patterns
 *    run in order and the last one that matches decides.
 */
#include <errno.h>
#include <string.h>

#include "hoist/ignore.h"
#include "hoist/util.h"
#include "ignore-re.h"

enum match_type {
	M_EXACT,
	M_PREFIX, /* text minus a trailing "**" is a prefix of the path */
	M_SUFFIX, /* text minus a leading "**" is a suffix of the path */
	M_REGEXP,
};

struct pattern {
	char *text; /* cleaned, without the '!' */
	size_t len;
	bool exclusion;
	enum match_type type;
	struct ire_prog *prog;
	const char *bad; /* why the regexp did not compile, or NULL */
	size_t ndirs;	 /* components, for the legacy parent rule */
	int line;	 /* line in the ignore file, 0 when unknown */
};

struct hoist_ignore {
	struct pattern *pats;
	size_t n;
	bool exclusions;     /* some pattern starts with '!' */
	bool wild_exclusion; /* some exception has a wildcard */
	char *filename;	     /* for error messages, or NULL */
};

/* ---- Go string helpers ------------------------------------------------ */

char *hoist_ignore_clean_path(const char *path)
{
	size_t n = strlen(path), r = 0, w = 0, dotdot = 0;
	bool rooted;
	char *out;

	if (n == 0)
		return hoist_xstrdup(".");
	out = hoist_xmalloc(n + 2);
	rooted = path[0] == '/';
	if (rooted) {
		out[w++] = '/';
		r = 1;
		dotdot = 1;
	}
	while (r < n) {
		if (path[r] == '/') {
			r++;
		} else if (path[r] == '.' && (r + 1 == n || path[r + 1] == '/')) {
			r++;
		} else if (path[r] == '.' && r + 1 < n && path[r + 1] == '.' &&
			   (r + 2 == n || path[r + 2] == '/')) {
			r += 2;
			if (w > dotdot) {
				w--;
				while (w > dotdot && out[w] != '/')
					w--;
			} else if (!rooted) {
				if (w > 0)
					out[w++] = '/';
				out[w++] = '.';
				out[w++] = '.';
				dotdot = w;
			}
		} else {
			if ((rooted && w != 1) || (!rooted && w != 0))
				out[w++] = '/';
			while (r < n && path[r] != '/')
				out[w++] = path[r++];
		}
	}
	if (w == 0)
		out[w++] = '.';
	out[w] = '\0';
	return out;
}

/* unicode.IsSpace */
static bool is_go_space(uint32_t r)
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
	}
	return r >= 0x2000 && r <= 0x200A;
}

/* strings.TrimSpace on s[0..*len): returns the new start, updates *len. */
static const char *trim_space(const char *s, size_t *len)
{
	size_t start = 0, end = 0, pos = 0;
	bool seen = false;

	while (pos < *len) {
		uint32_t r;
		size_t w = ire_decode_rune(s + pos, *len - pos, &r);
		if (!is_go_space(r) || (r == 0xFFFD && w == 1)) {
			if (!seen)
				start = pos;
			seen = true;
			end = pos + w;
		}
		pos += w;
	}
	if (!seen) {
		*len = 0;
		return s;
	}
	*len = end - start;
	return s + start;
}

/* ---- filepath.Match syntax -------------------------------------------- */

/* getEsc: one class member; advances *i. */
static bool class_member_ok(const char *p, size_t n, size_t *i)
{
	uint32_t r;
	size_t w;

	if (*i >= n || p[*i] == '-' || p[*i] == ']')
		return false;
	if (p[*i] == '\\') {
		(*i)++;
		if (*i >= n)
			return false;
	}
	w = ire_decode_rune(p + *i, n - *i, &r);
	if (r == 0xFFFD && w == 1)
		return false;
	*i += w;
	return *i < n;
}

bool hoist_ignore_pattern_valid(const char *pattern)
{
	size_t n = strlen(pattern), i = 0;

	/*
	 * Go's Match validates every chunk of the pattern even when the name
	 * does not match, so checking is one linear scan of its grammar.
	 */
	while (i < n) {
		if (pattern[i] == '[') {
			size_t nrange = 0;
			i++;
			if (i < n && pattern[i] == '^')
				i++;
			for (;;) {
				if (i < n && pattern[i] == ']' && nrange > 0) {
					i++;
					break;
				}
				if (!class_member_ok(pattern, n, &i))
					return false;
				if (pattern[i] == '-') {
					i++;
					if (!class_member_ok(pattern, n, &i))
						return false;
				}
				nrange++;
			}
		} else if (pattern[i] == '\\') {
			if (i + 1 >= n)
				return false;
			i += 2;
		} else {
			i++;
		}
	}
	return true;
}

/* ---- compiling one pattern ------------------------------------------- */

/*
 * patternmatcher means to escape ".+()|{}$", but its 8-byte bitmap drops
 * every bit for characters >= 64, so '|', '{' and '}' reach the regexp raw
 * (and "a|b*" is an alternation). Docker behaves so; so do we.
 */
static bool should_escape(uint32_t c)
{
	return c < 0x80 && c != 0 && strchr(".+()$", (int)c) != NULL;
}

static void buf_add_rune(struct hoist_buf *b, uint32_t r)
{
	char enc[4];
	hoist_buf_add(b, enc, ire_encode_rune(r, enc));
}

/* Peek the next rune at *pos without consuming it; -1 at the end. */
static int64_t peek_rune(const char *s, size_t len, size_t pos)
{
	uint32_t r;
	if (pos >= len)
		return -1;
	ire_decode_rune(s + pos, len - pos, &r);
	return r;
}

static uint32_t take_rune(const char *s, size_t len, size_t *pos)
{
	uint32_t r;
	*pos += ire_decode_rune(s + *pos, len - *pos, &r);
	return r;
}

/* patternmatcher's compile(): decide the match type, build the regexp. */
static void compile_pattern(struct pattern *pt)
{
	_cleanup_buf_ struct hoist_buf re = HOIST_BUF_INIT;
	const char *s = pt->text;
	size_t len = pt->len, pos = 0;
	enum match_type type = M_EXACT;

	hoist_buf_init(&re, 0);
	hoist_buf_adds(&re, "^");
	for (size_t i = 0; pos < len; i++) {
		uint32_t ch = take_rune(s, len, &pos);
		if (ch == '*') {
			if (peek_rune(s, len, pos) == '*') {
				pos++;
				/* "**" followed by "/" is the same as "**". */
				if (peek_rune(s, len, pos) == '/')
					pos++;
				if (pos >= len) {
					if (type == M_EXACT) {
						type = M_PREFIX;
					} else {
						hoist_buf_adds(&re, ".*");
						type = M_REGEXP;
					}
				} else {
					hoist_buf_adds(&re, "(.*/)?");
					type = M_REGEXP;
				}
				if (i == 0)
					type = M_SUFFIX;
			} else {
				hoist_buf_adds(&re, "[^/]*");
				type = M_REGEXP;
			}
		} else if (ch == '?') {
			hoist_buf_adds(&re, "[^/]");
			type = M_REGEXP;
		} else if (should_escape(ch)) {
			hoist_buf_addc(&re, '\\');
			buf_add_rune(&re, ch);
		} else if (ch == '\\') {
			if (pos < len) {
				hoist_buf_addc(&re, '\\');
				buf_add_rune(&re, take_rune(s, len, &pos));
				type = M_REGEXP;
			} else {
				hoist_buf_addc(&re, '\\');
			}
		} else if (ch == '[' || ch == ']') {
			hoist_buf_addc(&re, (char)ch);
			type = M_REGEXP;
		} else {
			buf_add_rune(&re, ch);
		}
	}
	pt->type = type;
	if (type != M_REGEXP)
		return;
	hoist_buf_addc(&re, '$');
	if (ire_compile(re.data, re.len, &pt->prog, &pt->bad) < 0 && !pt->bad)
		pt->bad = "syntax error";
}

static bool has_wildcards(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == '*' || s[i] == '?' || s[i] == '[')
			return true;
	}
	return false;
}

/* ---- the matcher ------------------------------------------------------ */

void hoist_ignore_free(struct hoist_ignore *ig)
{
	if (!ig)
		return;
	for (size_t i = 0; i < ig->n; i++) {
		free(ig->pats[i].text);
		ire_free(ig->pats[i].prog);
	}
	free(ig->pats);
	free(ig->filename);
	free(ig);
}

static void ignore_freep(struct hoist_ignore **ig)
{
	hoist_ignore_free(*ig);
}

static int build(const char *const *patterns, const int *lines, size_t n, const char *filename,
		 struct hoist_ignore **ret, struct hoist_error *err)
{
	_cleanup_(ignore_freep) struct hoist_ignore *ig = NULL;

	if (n > HOIST_IGNORE_MAX_PATTERNS)
		return hoist_error_set_at(err, -E2BIG, filename, 0, 0,
					  "more than %d ignore patterns",
					  HOIST_IGNORE_MAX_PATTERNS);
	ig = hoist_xcalloc(1, sizeof(*ig));
	ig->pats = hoist_xcalloc(n ? n : 1, sizeof(*ig->pats));
	ig->filename = filename ? hoist_xstrdup(filename) : NULL;
	for (size_t i = 0; i < n; i++) {
		int line = lines ? lines[i] : 0;
		size_t len = strlen(patterns[i]);
		const char *p = trim_space(patterns[i], &len);
		_cleanup_free_ char *raw = NULL, *clean = NULL;
		struct pattern *pt;
		bool exclusion = false;
		const char *body;

		if (len == 0)
			continue;
		if (len > HOIST_IGNORE_MAX_PATTERN)
			return hoist_error_set_at(err, -E2BIG, filename, line, 0,
						  "ignore pattern longer than %d bytes",
						  HOIST_IGNORE_MAX_PATTERN);
		raw = hoist_xstrndup(p, len);
		clean = hoist_ignore_clean_path(raw);
		body = clean;
		if (body[0] == '!') {
			if (body[1] == '\0')
				return hoist_error_set_at(err, -EINVAL, filename, line, 0,
							  "illegal exclusion pattern: '!'");
			exclusion = true;
			body++;
		}
		if (!hoist_ignore_pattern_valid(body))
			return hoist_error_set_at(err, -EINVAL, filename, line, 0,
						  "syntax error in pattern '%s'", raw);
		pt = &ig->pats[ig->n++];
		pt->text = hoist_xstrdup(body);
		pt->len = strlen(body);
		pt->exclusion = exclusion;
		pt->line = line;
		pt->ndirs = 1;
		for (size_t k = 0; k < pt->len; k++)
			pt->ndirs += pt->text[k] == '/';
		compile_pattern(pt);
		if (exclusion) {
			ig->exclusions = true;
			if (has_wildcards(pt->text, pt->len))
				ig->wild_exclusion = true;
		}
	}
	*ret = TAKE_PTR(ig);
	return 0;
}

int hoist_ignore_new(const char *const *patterns, size_t n, struct hoist_ignore **ret,
		     struct hoist_error *err)
{
	return build(patterns, NULL, n, NULL, ret, err);
}

/* ---- ReadAll ------------------------------------------------------------ */

static int read_all(const char *data, size_t len, const char *filename, struct hoist_strv *out,
		    int **ret_lines, struct hoist_error *err)
{
	_cleanup_free_ int *lines = NULL;
	size_t nalloc = 0, pos = 0;
	int lineno = 0;

	if (len > HOIST_IGNORE_MAX_SIZE)
		return hoist_error_set_at(err, -EFBIG, filename, 0, 0,
					  "ignore file is larger than %zu bytes",
					  HOIST_IGNORE_MAX_SIZE);
	if (memchr(data, '\0', len))
		return hoist_error_set_at(err, -EBADMSG, filename, 0, 0,
					  "ignore file contains a NUL byte");
	while (pos < len) {
		const char *nl = memchr(data + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - data) : len;
		const char *line = data + pos;
		size_t llen = end - pos, plen;
		const char *p;
		char *pat;

		pos = nl ? end + 1 : len;
		lineno++;
		if (llen > HOIST_IGNORE_MAX_LINE)
			return hoist_error_set_at(err, -E2BIG, filename, lineno, 0,
						  "line longer than %d bytes",
						  HOIST_IGNORE_MAX_LINE);
		/* bufio.ScanLines drops one trailing CR. */
		if (llen > 0 && line[llen - 1] == '\r')
			llen--;
		if (lineno == 1 && llen >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
			line += 3;
			llen -= 3;
		}
		/* A comment is a '#' in column 1, checked before trimming. */
		if (llen > 0 && line[0] == '#')
			continue;
		plen = llen;
		p = trim_space(line, &plen);
		if (plen == 0)
			continue;
		if (out->n >= HOIST_IGNORE_MAX_PATTERNS)
			return hoist_error_set_at(err, -E2BIG, filename, lineno, 0,
						  "more than %d ignore patterns",
						  HOIST_IGNORE_MAX_PATTERNS);
		bool invert = p[0] == '!';
		if (invert) {
			p++;
			plen--;
			p = trim_space(p, &plen);
		}
		if (plen > 0) {
			_cleanup_free_ char *raw = hoist_xstrndup(p, plen);
			_cleanup_free_ char *clean = hoist_ignore_clean_path(raw);
			/* Relative to the context: drop one leading '/' ("/" stays). */
			const char *c = clean[0] == '/' && clean[1] != '\0' ? clean + 1 : clean;
			pat = hoist_xasprintf("%s%s", invert ? "!" : "", c);
		} else {
			pat = hoist_xstrdup(invert ? "!" : "");
		}
		hoist_strv_take(out, pat);
		if (ret_lines) {
			if (out->n > nalloc) {
				nalloc = nalloc ? nalloc * 2 : 16;
				lines = hoist_xrealloc(lines, nalloc * sizeof(int));
			}
			lines[out->n - 1] = lineno;
		}
	}
	if (ret_lines)
		*ret_lines = TAKE_PTR(lines);
	return 0;
}

int hoist_ignore_read_patterns(const char *data, size_t len, const char *filename, char ***ret,
			       struct hoist_error *err)
{
	_cleanup_strv_ struct hoist_strv out = HOIST_STRV_INIT;
	int r = read_all(data, len, filename, &out, NULL, err);

	if (r < 0)
		return r;
	if (!out.v)
		out.v = hoist_xcalloc(1, sizeof(char *));
	*ret = TAKE_PTR(out.v);
	out.n = 0;
	return 0;
}

int hoist_ignore_parse(const char *data, size_t len, const char *filename,
		       struct hoist_ignore **ret, struct hoist_error *err)
{
	_cleanup_strv_ struct hoist_strv out = HOIST_STRV_INIT;
	_cleanup_free_ int *lines = NULL;
	int r = read_all(data, len, filename, &out, &lines, err);

	if (r < 0)
		return r;
	return build((const char *const *)out.v, lines, out.n, filename, ret, err);
}

/* ---- matching -------------------------------------------------------- */

/* Does pattern pt match s[0..e) for some e in ends (ascending)? */
static bool pattern_matches(const struct pattern *pt, const char *s, const size_t *ends,
			    size_t nends)
{
	const char *suf = pt->text + 2;
	size_t slen = pt->len >= 2 ? pt->len - 2 : 0;

	switch (pt->type) {
	case M_EXACT:
		for (size_t i = 0; i < nends; i++)
			if (ends[i] == pt->len && memcmp(s, pt->text, pt->len) == 0)
				return true;
		return false;
	case M_PREFIX:
		for (size_t i = 0; i < nends; i++)
			if (ends[i] >= slen && memcmp(s, pt->text, slen) == 0)
				return true;
		return false;
	case M_SUFFIX:
		for (size_t i = 0; i < nends; i++) {
			size_t e = ends[i];
			if (e >= slen && memcmp(s + e - slen, suf, slen) == 0)
				return true;
			/* "**\/foo" also matches "foo". */
			if (slen > 0 && suf[0] == '/' && e == slen - 1 &&
			    memcmp(s, suf + 1, slen - 1) == 0)
				return true;
		}
		return false;
	case M_REGEXP:
		/* ends are ascending: the last is the length of the text. */
		return ire_match_ends(pt->prog, s, ends[nends - 1], ends, nends);
	}
	return false;
}

static int bad_pattern(const struct hoist_ignore *ig, const struct pattern *pt,
		       struct hoist_error *err)
{
	return hoist_error_set_at(err, -EINVAL, ig->filename, pt->line, 0,
				  "syntax error in pattern '%s%s': %s", pt->exclusion ? "!" : "",
				  pt->text, pt->bad);
}

/* The matcher proper on a clean path other than ".". */
static int match_clean(const struct hoist_ignore *ig, const char *path, unsigned flags,
		       struct hoist_error *err)
{
	size_t len = strlen(path), ncomp = 0, dlen;
	const char *last = strrchr(path, '/');
	size_t small[64];
	_cleanup_free_ size_t *heap = NULL;
	size_t *ends = small; /* parent ends (component ends of Dir(path)), then len */
	bool matched = false;

	if (last) {
		/* filepath.Dir: everything before the last '/', or "/" itself. */
		dlen = last == path ? 1 : (size_t)(last - path);
		size_t nslash = 0;
		for (size_t i = 0; i < dlen; i++)
			nslash += path[i] == '/';
		if (nslash + 2 > ARRAY_SIZE(small))
			ends = heap = hoist_xmalloc((nslash + 2) * sizeof(size_t));
		for (size_t i = 0; i < dlen; i++)
			if (path[i] == '/')
				ends[ncomp++] = i;
		ends[ncomp++] = dlen;
	}
	ends[ncomp] = len;

	for (size_t i = 0; i < ig->n; i++) {
		const struct pattern *pt = &ig->pats[i];
		bool m;

		/* An exception only matters while excluded, an inclusion while kept. */
		if (pt->exclusion != matched)
			continue;
		if (pt->bad)
			return bad_pattern(ig, pt, err);
		if (!(flags & HOIST_IGNORE_MATCH_LEGACY)) {
			m = pattern_matches(pt, path, ends, ncomp + 1);
		} else {
			m = pattern_matches(pt, path, ends + ncomp, 1);
			if (!m && ncomp > 0 && pt->ndirs <= ncomp)
				m = pattern_matches(pt, path, ends + pt->ndirs - 1, 1);
		}
		if (m)
			matched = !pt->exclusion;
	}
	return matched;
}

int hoist_ignore_match_ex(const struct hoist_ignore *ig, const char *path, unsigned flags,
			  struct hoist_error *err)
{
	_cleanup_free_ char *clean = NULL;

	if (!ig || ig->n == 0)
		return 0;
	clean = hoist_ignore_clean_path(path);
	/* Excluding the context root itself would exclude everything. */
	if (strcmp(clean, ".") == 0)
		return 0;
	return match_clean(ig, clean, flags, err);
}

int hoist_ignore_match(const struct hoist_ignore *ig, const char *path)
{
	return hoist_ignore_match_ex(ig, path, 0, NULL);
}

bool hoist_ignore_has_exceptions(const struct hoist_ignore *ig)
{
	return ig && ig->exclusions;
}

bool hoist_ignore_descend(const struct hoist_ignore *ig, const char *dir)
{
	size_t dlen = strlen(dir);

	if (!ig || !ig->exclusions)
		return false;
	/* A wildcard exception ("!**\/keep") might match anywhere below. */
	if (ig->wild_exclusion)
		return true;
	for (size_t i = 0; i < ig->n; i++) {
		const struct pattern *pt = &ig->pats[i];
		if (!pt->exclusion)
			continue;
		/* Is pattern + "/" prefixed by dir + "/"? */
		if (pt->len >= dlen && memcmp(pt->text, dir, dlen) == 0 &&
		    (pt->len == dlen || pt->text[dlen] == '/'))
			return true;
	}
	return false;
}
