/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Go's path.Clean and filepath.Match, which BuildKit uses for COPY/ADD
 * sources. Byte-wise: multi-byte UTF-8 runes in [...] classes compare by
 * their first byte, which only matters for non-ASCII ranges.
 */
#include <errno.h>
#include <string.h>

#include "build-private.h"

bool has_wildcards(const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' && s[1]) {
			s++;
			continue;
		}
		if (*s == '*' || *s == '?' || *s == '[')
			return true;
	}
	return false;
}

char *go_path_clean(const char *p)
{
	size_t n = strlen(p);
	bool rooted = n > 0 && p[0] == '/';
	char *out = hoist_xmalloc(n + 2);
	size_t w = 0, r = 0, dotdot = 0;

	if (n == 0) {
		free(out);
		return hoist_xstrdup(".");
	}
	if (rooted) {
		out[w++] = '/';
		r = 1;
		dotdot = 1;
	}
	while (r < n) {
		if (p[r] == '/') {
			r++;
		} else if (p[r] == '.' && (r + 1 == n || p[r + 1] == '/')) {
			r++;
		} else if (p[r] == '.' && p[r + 1] == '.' && (r + 2 == n || p[r + 2] == '/')) {
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
			for (; r < n && p[r] != '/'; r++)
				out[w++] = p[r];
		}
	}
	if (w == 0)
		out[w++] = '.';
	out[w] = '\0';
	return out;
}

static void scan_chunk(const char **pattern, bool *star, const char **chunk, size_t *chunk_len)
{
	const char *p = *pattern;
	bool inrange = false;
	size_t i;
	*star = false;
	while (*p == '*') {
		p++;
		*star = true;
	}
	for (i = 0; p[i]; i++) {
		if (p[i] == '\\') {
			if (p[i + 1])
				i++;
		} else if (p[i] == '[') {
			inrange = true;
		} else if (p[i] == ']') {
			inrange = false;
		} else if (p[i] == '*' && !inrange) {
			break;
		}
	}
	*chunk = p;
	*chunk_len = i;
	*pattern = p + i;
}

static int get_esc(const char **chunk, const char *end, unsigned char *ret)
{
	const char *c = *chunk;
	if (c >= end || *c == '-' || *c == ']')
		return -EINVAL;
	if (*c == '\\') {
		c++;
		if (c >= end)
			return -EINVAL;
	}
	*ret = (unsigned char)*c++;
	if (c >= end)
		return -EINVAL;
	*chunk = c;
	return 0;
}

/* Returns 1 and *rest on a match, 0 on no match, -EINVAL on a bad pattern. */
static int match_chunk(const char *chunk, size_t clen, const char *s, const char **rest)
{
	const char *end = chunk + clen;
	bool failed = false;
	while (chunk < end) {
		if (!failed && !*s)
			failed = true;
		switch (*chunk) {
		case '[': {
			unsigned char r = 0, lo, hi;
			bool negated = false, match = false;
			int nrange = 0;
			if (!failed)
				r = (unsigned char)*s++;
			chunk++;
			if (chunk < end && *chunk == '^') {
				negated = true;
				chunk++;
			}
			for (;;) {
				if (chunk < end && *chunk == ']' && nrange > 0) {
					chunk++;
					break;
				}
				if (get_esc(&chunk, end, &lo) < 0)
					return -EINVAL;
				hi = lo;
				if (*chunk == '-') {
					chunk++;
					if (get_esc(&chunk, end, &hi) < 0)
						return -EINVAL;
				}
				if (lo <= r && r <= hi)
					match = true;
				nrange++;
			}
			if (match == negated)
				failed = true;
			break;
		}
		case '?':
			if (!failed) {
				if (*s == '/')
					failed = true;
				s++;
			}
			chunk++;
			break;
		case '\\':
			chunk++;
			if (chunk >= end)
				return -EINVAL;
			__attribute__((fallthrough));
		default:
			if (!failed) {
				if (*chunk != *s)
					failed = true;
				s++;
			}
			chunk++;
			break;
		}
	}
	if (failed)
		return 0;
	*rest = s;
	return 1;
}

int go_path_match(const char *pattern, const char *name)
{
	while (*pattern) {
		bool star;
		const char *chunk, *t = NULL;
		size_t clen;
		scan_chunk(&pattern, &star, &chunk, &clen);
		if (star && clen == 0)
			return strchr(name, '/') ? 0 : 1;
		int r = match_chunk(chunk, clen, name, &t);
		if (r > 0 && (!*t || *pattern)) {
			name = t;
			continue;
		}
		if (r < 0)
			return r;
		if (star) {
			bool ok = false;
			for (size_t i = 0; name[i] && name[i] != '/'; i++) {
				r = match_chunk(chunk, clen, name + i + 1, &t);
				if (r > 0) {
					if (!*pattern && *t)
						continue;
					name = t;
					ok = true;
					break;
				}
				if (r < 0)
					return r;
			}
			if (ok)
				continue;
		}
		while (*pattern) {
			const char *t2;
			scan_chunk(&pattern, &star, &chunk, &clen);
			if (match_chunk(chunk, clen, "", &t2) < 0)
				return -EINVAL;
		}
		return 0;
	}
	return *name ? 0 : 1;
}
