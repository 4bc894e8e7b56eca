/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The TOML subset reader for registries.conf (see toml.h). It walks the
 * bytes once with a cursor; keys seen in the current table are remembered
 * so a duplicate is refused, as TOML requires.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hoist/util.h"
#include "toml.h"

struct cur {
	const char *p, *end;
	const char *line_start;
	int line;
	const char *file;
	struct hoist_error *err;
};

static int fail(struct cur *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct cur *c, const char *fmt, ...)
{
	char msg[HOIST_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return hoist_error_set_at(c->err, -EBADMSG, c->file, c->line,
				  (int)(c->p - c->line_start) + 1, "%s", msg);
}

static bool at_end(const struct cur *c)
{
	return c->p >= c->end;
}

static void skip_blank(struct cur *c)
{
	while (!at_end(c) && (*c->p == ' ' || *c->p == '\t'))
		c->p++;
}

/* Blanks, then a comment: up to (not past) the end of the line. */
static void skip_blank_comment(struct cur *c)
{
	skip_blank(c);
	if (!at_end(c) && *c->p == '#')
		while (!at_end(c) && *c->p != '\n')
			c->p++;
}

static bool at_eol(const struct cur *c)
{
	return at_end(c) || *c->p == '\n' ||
	       (*c->p == '\r' && c->p + 1 < c->end && c->p[1] == '\n');
}

static void next_line(struct cur *c)
{
	if (!at_end(c) && *c->p == '\r')
		c->p++;
	if (!at_end(c) && *c->p == '\n') {
		c->p++;
		c->line++;
		c->line_start = c->p;
	}
}

/* After a value or header: only blanks and a comment may follow. */
static int expect_eol(struct cur *c)
{
	skip_blank_comment(c);
	if (!at_eol(c))
		return fail(c, "unexpected '%c' after the value", *c->p);
	next_line(c);
	return 0;
}

static bool bare_char(char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
	       ch == '_' || ch == '-';
}

static void put_utf8(struct hoist_buf *b, unsigned long cp)
{
	if (cp < 0x80) {
		hoist_buf_addc(b, (char)cp);
	} else if (cp < 0x800) {
		hoist_buf_addc(b, (char)(0xc0 | (cp >> 6)));
		hoist_buf_addc(b, (char)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		hoist_buf_addc(b, (char)(0xe0 | (cp >> 12)));
		hoist_buf_addc(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
		hoist_buf_addc(b, (char)(0x80 | (cp & 0x3f)));
	} else {
		hoist_buf_addc(b, (char)(0xf0 | (cp >> 18)));
		hoist_buf_addc(b, (char)(0x80 | ((cp >> 12) & 0x3f)));
		hoist_buf_addc(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
		hoist_buf_addc(b, (char)(0x80 | (cp & 0x3f)));
	}
}

static int hex_escape(struct cur *c, int digits, struct hoist_buf *b)
{
	unsigned long cp = 0;
	for (int i = 0; i < digits; i++, c->p++) {
		char ch = at_end(c) ? '\0' : *c->p;
		int v = ch >= '0' && ch <= '9'	 ? ch - '0'
			: ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
			: ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
						 : -1;
		if (v < 0)
			return fail(c, "a \\%c escape needs %d hex digits", digits == 4 ? 'u' : 'U',
				    digits);
		cp = cp * 16 + (unsigned long)v;
	}
	if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp == 0)
		return fail(c, "escape names no valid character (U+%04lX)", cp);
	put_utf8(b, cp);
	return 0;
}

/* A quoted string at c->p ('"' or '\''), into *ret (new string). */
static int read_string(struct cur *c, char **ret)
{
	char q = *c->p++;
	_cleanup_buf_ struct hoist_buf b = HOIST_BUF_INIT;
	int r;

	if (c->end - c->p >= 2 && c->p[0] == q && c->p[1] == q)
		return fail(c, "multi-line strings are not supported");
	hoist_buf_init(&b, TOML_MAX_LINE);
	for (;;) {
		if (at_eol(c))
			return fail(c, "string is not closed on its line");
		char ch = *c->p;
		if (ch == q) {
			c->p++;
			break;
		}
		if ((unsigned char)ch < 0x20 && ch != '\t')
			return fail(c, "control character 0x%02x in a string", (unsigned)ch);
		if (ch == 0x7f)
			return fail(c, "control character 0x7f in a string");
		c->p++;
		if (q == '\'' || ch != '\\') {
			hoist_buf_addc(&b, ch);
			continue;
		}
		ch = at_end(c) ? '\0' : *c->p++;
		switch (ch) {
		case 'b':
			hoist_buf_addc(&b, '\b');
			break;
		case 't':
			hoist_buf_addc(&b, '\t');
			break;
		case 'n':
			hoist_buf_addc(&b, '\n');
			break;
		case 'f':
			hoist_buf_addc(&b, '\f');
			break;
		case 'r':
			hoist_buf_addc(&b, '\r');
			break;
		case '"':
		case '\\':
			hoist_buf_addc(&b, ch);
			break;
		case 'u':
		case 'U':
			r = hex_escape(c, ch == 'u' ? 4 : 8, &b);
			if (r < 0)
				return r;
			break;
		default:
			c->p -= 2;
			return fail(c, "unknown escape '\\%c'", ch >= 0x20 && ch < 0x7f ? ch : '?');
		}
	}
	hoist_buf_adds(&b, "");
	*ret = hoist_buf_detach(&b, NULL);
	return 0;
}

/* A key: bare, or one quoted string. Dotted keys are refused. */
static int read_key(struct cur *c, char **ret)
{
	int r;
	if (!at_end(c) && (*c->p == '"' || *c->p == '\'')) {
		r = read_string(c, ret);
		if (r < 0)
			return r;
	} else {
		const char *s = c->p;
		while (!at_end(c) && bare_char(*c->p))
			c->p++;
		if (c->p == s)
			return fail(c, "expected a key");
		*ret = hoist_xstrndup(s, (size_t)(c->p - s));
	}
	skip_blank(c);
	if (!at_end(c) && *c->p == '.') {
		free(*ret);
		*ret = NULL;
		return fail(c, "dotted keys are not supported");
	}
	return 0;
}

/* Blanks, newlines and comments inside an array. */
static void skip_array_space(struct cur *c)
{
	for (;;) {
		skip_blank_comment(c);
		if (at_end(c) || !at_eol(c))
			return;
		next_line(c);
	}
}

static int read_array(struct cur *c, struct hoist_strv *items)
{
	int r;

	c->p++; /* '[' */
	for (;;) {
		skip_array_space(c);
		if (at_end(c))
			return fail(c, "array is not closed");
		if (*c->p == ']') {
			c->p++;
			return 0;
		}
		if (*c->p != '"' && *c->p != '\'')
			return fail(c, "only arrays of strings are supported");
		if (items->n >= TOML_MAX_ARRAY)
			return fail(c, "array has more than %d items", TOML_MAX_ARRAY);
		char *s = NULL;
		r = read_string(c, &s);
		if (r < 0)
			return r;
		hoist_strv_take(items, s);
		skip_array_space(c);
		if (!at_end(c) && *c->p == ',') {
			c->p++;
			continue;
		}
		if (!at_end(c) && *c->p == ']') {
			c->p++;
			return 0;
		}
		return fail(c, "expected ',' or ']' in the array");
	}
}

static int read_keyval(struct cur *c, const struct toml_handler *h, void *ud,
		       struct hoist_strv *seen)
{
	_cleanup_free_ char *key = NULL;
	_cleanup_free_ char *str = NULL;
	_cleanup_strv_ struct hoist_strv items = HOIST_STRV_INIT;
	struct toml_value v = {0};
	int line = c->line;
	int r;

	if (seen->n >= TOML_MAX_KEYS)
		return fail(c, "more than %d keys in one table", TOML_MAX_KEYS);
	r = read_key(c, &key);
	if (r < 0)
		return r;
	if (at_end(c) || *c->p != '=')
		return fail(c, "expected '=' after the key '%s'", key);
	c->p++;
	skip_blank(c);
	for (size_t i = 0; i < seen->n; i++)
		if (strcmp(seen->v[i], key) == 0)
			return hoist_error_set_at(c->err, -EBADMSG, c->file, line, 1,
						  "key '%s' is defined twice in this table", key);
	if (at_eol(c)) {
		return fail(c, "missing value for the key '%s'", key);
	} else if (*c->p == '"' || *c->p == '\'') {
		r = read_string(c, &str);
		if (r < 0)
			return r;
		v.type = TOML_STRING;
		v.str = str;
	} else if (*c->p == '[') {
		r = read_array(c, &items);
		if (r < 0)
			return r;
		v.type = TOML_ARRAY;
		v.items = items.v;
		v.n = items.n;
	} else if (c->end - c->p >= 4 && memcmp(c->p, "true", 4) == 0 &&
		   (c->end - c->p == 4 || !bare_char(c->p[4]))) {
		c->p += 4;
		v.type = TOML_BOOL;
		v.b = true;
	} else if (c->end - c->p >= 5 && memcmp(c->p, "false", 5) == 0 &&
		   (c->end - c->p == 5 || !bare_char(c->p[5]))) {
		c->p += 5;
		v.type = TOML_BOOL;
	} else if (*c->p == '{') {
		return fail(c, "inline tables are not supported");
	} else {
		return fail(c,
			    "unsupported value for the key '%s' (strings, true, false "
			    "and arrays of strings are read)",
			    key);
	}
	r = expect_eol(c);
	if (r < 0)
		return r;
	hoist_strv_push(seen, key);
	return h->keyval(ud, key, &v, line, c->err);
}

static int read_header(struct cur *c, const struct toml_handler *h, void *ud)
{
	bool array = c->end - c->p >= 2 && c->p[1] == '[';
	_cleanup_buf_ struct hoist_buf name = HOIST_BUF_INIT;
	int line = c->line;

	c->p += array ? 2 : 1;
	hoist_buf_init(&name, TOML_MAX_LINE);
	for (;;) {
		skip_blank(c);
		if (!at_end(c) && (*c->p == '"' || *c->p == '\''))
			return fail(c, "quoted table names are not supported");
		const char *s = c->p;
		while (!at_end(c) && bare_char(*c->p))
			c->p++;
		if (c->p == s)
			return fail(c, "expected a table name");
		hoist_buf_add(&name, s, (size_t)(c->p - s));
		skip_blank(c);
		if (!at_end(c) && *c->p == '.') {
			c->p++;
			hoist_buf_addc(&name, '.');
			continue;
		}
		break;
	}
	if (at_end(c) || *c->p != ']' || (array && (c->end - c->p < 2 || c->p[1] != ']')))
		return fail(c, "table header is not closed with '%s'", array ? "]]" : "]");
	c->p += array ? 2 : 1;
	int r = expect_eol(c);
	if (r < 0)
		return r;
	hoist_buf_adds(&name, "");
	return h->table(ud, name.data, array, line, c->err);
}

/* Refuse NUL bytes and overlong lines before anything is interpreted. */
static int check_lines(struct cur *c)
{
	const char *s = c->p;
	int line = 1;
	while (s < c->end) {
		const char *nl = memchr(s, '\n', (size_t)(c->end - s));
		const char *e = nl ? nl : c->end;
		if ((size_t)(e - s) > TOML_MAX_LINE)
			return hoist_error_set_at(c->err, -EBADMSG, c->file, line, 0,
						  "line is longer than %d bytes", TOML_MAX_LINE);
		const char *z = memchr(s, '\0', (size_t)(e - s));
		if (z)
			return hoist_error_set_at(c->err, -EBADMSG, c->file, line, (int)(z - s) + 1,
						  "NUL byte in the file");
		line++;
		s = nl ? nl + 1 : c->end;
	}
	return 0;
}

int toml_parse(const char *data, size_t len, const char *file, const struct toml_handler *h,
	       void *ud, struct hoist_error *err)
{
	struct cur c = {
	    .p = data, .end = data + len, .line_start = data, .line = 1, .file = file, .err = err};
	_cleanup_strv_ struct hoist_strv seen = HOIST_STRV_INIT;
	unsigned tables = 0;
	int r;

	if (len > TOML_MAX_SIZE)
		return hoist_error_set_at(err, -EFBIG, file, 0, 0, "file is larger than %zu bytes",
					  TOML_MAX_SIZE);
	r = check_lines(&c);
	if (r < 0)
		return r;
	if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0) /* a UTF-8 BOM */
		c.p += 3;
	while (!at_end(&c)) {
		skip_blank_comment(&c);
		if (at_eol(&c)) {
			next_line(&c);
			continue;
		}
		if (*c.p == '[') {
			if (++tables > TOML_MAX_TABLES)
				return fail(&c, "more than %d tables", TOML_MAX_TABLES);
			hoist_strv_release(&seen);
			r = read_header(&c, h, ud);
		} else {
			r = read_keyval(&c, h, ud, &seen);
		}
		if (r < 0)
			return r;
	}
	return 0;
}
