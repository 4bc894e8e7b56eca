/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Go string semantics the parser must reproduce byte for byte: BuildKit's
 * dump is Go's strconv.Quote, its word splitting is unicode.IsSpace on
 * runes decoded with U+FFFD for bad bytes, and so on.
 */
#include <locale.h>
#include <string.h>
#include <wctype.h>

#include "parser-private.h"

#include "print_table.inc"

uint32_t df_decode_rune(const char *str, size_t len, size_t *ret_width)
{
	const unsigned char *s = (const unsigned char *)str;
	uint32_t r, min;
	size_t n;

	*ret_width = 1;
	if (len == 0)
		return DF_RUNE_ERROR;
	if (s[0] < 0x80)
		return s[0];
	if (s[0] >= 0xC2 && s[0] <= 0xDF) {
		n = 2;
		r = s[0] & 0x1F;
		min = 0x80;
	} else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
		n = 3;
		r = s[0] & 0x0F;
		min = 0x800;
	} else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		n = 4;
		r = s[0] & 0x07;
		min = 0x10000;
	} else {
		return DF_RUNE_ERROR;
	}
	if (len < n)
		return DF_RUNE_ERROR;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return DF_RUNE_ERROR;
		r = (r << 6) | (s[i] & 0x3F);
	}
	/* overlong forms, surrogates and values past U+10FFFF are invalid in Go too */
	if (r < min || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF))
		return DF_RUNE_ERROR;
	*ret_width = n;
	return r;
}

int df_buf_add_rune(struct hoist_buf *b, uint32_t r)
{
	char tmp[4];
	size_t n;

	if (r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF))
		r = DF_RUNE_ERROR;
	if (r < 0x80) {
		tmp[0] = (char)r;
		n = 1;
	} else if (r < 0x800) {
		tmp[0] = (char)(0xC0 | (r >> 6));
		tmp[1] = (char)(0x80 | (r & 0x3F));
		n = 2;
	} else if (r < 0x10000) {
		tmp[0] = (char)(0xE0 | (r >> 12));
		tmp[1] = (char)(0x80 | ((r >> 6) & 0x3F));
		tmp[2] = (char)(0x80 | (r & 0x3F));
		n = 3;
	} else {
		tmp[0] = (char)(0xF0 | (r >> 18));
		tmp[1] = (char)(0x80 | ((r >> 12) & 0x3F));
		tmp[2] = (char)(0x80 | ((r >> 6) & 0x3F));
		tmp[3] = (char)(0x80 | (r & 0x3F));
		n = 4;
	}
	return hoist_buf_add(b, tmp, n);
}

bool df_rune_is_space(uint32_t r)
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

bool df_byte_is_space(unsigned char c)
{
	return df_rune_is_space(c);
}

size_t df_space_prefix(const char *s, size_t len)
{
	size_t w;
	uint32_t r;

	if (len == 0)
		return 0;
	r = df_decode_rune(s, len, &w);
	if (r == DF_RUNE_ERROR && w == 1)
		return 0;
	return df_rune_is_space(r) ? w : 0;
}

size_t df_space_suffix(const char *s, size_t len)
{
	/* every space rune is at most 3 bytes; a suffix that decodes exactly
	 * as one is what utf8.DecodeLastRune would find */
	for (size_t w = 1; w <= 3 && w <= len; w++) {
		size_t got;
		uint32_t r = df_decode_rune(s + len - w, w, &got);
		if (got == w && !(r == DF_RUNE_ERROR && w == 1) && df_rune_is_space(r))
			return w;
	}
	return 0;
}

void df_trim_left_space(const char **s, size_t *len)
{
	size_t w;

	while ((w = df_space_prefix(*s, *len)) > 0) {
		*s += w;
		*len -= w;
	}
}

void df_trim_space(const char **s, size_t *len)
{
	size_t w;

	df_trim_left_space(s, len);
	while ((w = df_space_suffix(*s, *len)) > 0)
		*len -= w;
}

bool df_rune_is_print(uint32_t r)
{
	size_t lo = 0, hi = ARRAY_SIZE(print_ranges);

	if (r < 0x80)
		return r >= 0x20 && r < 0x7F;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r < print_ranges[mid][0])
			hi = mid;
		else if (r > print_ranges[mid][1])
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

static locale_t utf8_locale(void)
{
	static locale_t loc;
	static bool tried;

	/* a private locale object: the library must not touch the process locale */
	if (!tried) {
		tried = true;
		loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	}
	return loc;
}

bool df_rune_is_digit(uint32_t r)
{
	locale_t loc;

	if (r < 0x80)
		return r >= '0' && r <= '9';
	loc = utf8_locale();
	return loc && iswdigit_l((wint_t)r, loc);
}

bool df_rune_is_alnum(uint32_t r)
{
	locale_t loc;

	if (r < 0x80)
		return (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z');
	if (r == DF_RUNE_ERROR)
		return false;
	loc = utf8_locale();
	return loc && iswalnum_l((wint_t)r, loc);
}

char *df_to_lower(const char *s, size_t len, size_t *ret_len)
{
	struct hoist_buf b = HOIST_BUF_INIT;
	bool ascii = true;

	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			ascii = false;
	hoist_buf_add(&b, "", 0);
	if (ascii) {
		for (size_t i = 0; i < len; i++) {
			char c = s[i];
			hoist_buf_addc(&b, (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c);
		}
	} else {
		/* strings.Map(unicode.ToLower): bad bytes come out as U+FFFD */
		locale_t loc = utf8_locale();
		for (size_t i = 0; i < len;) {
			size_t w;
			uint32_t r = df_decode_rune(s + i, len - i, &w);
			if (r < 0x80)
				r = (r >= 'A' && r <= 'Z') ? r + 32 : r;
			else if (loc)
				r = (uint32_t)towlower_l((wint_t)r, loc);
			df_buf_add_rune(&b, r);
			i += w;
		}
	}
	return hoist_buf_detach(&b, ret_len);
}

static int add_hex(struct hoist_buf *out, const char *prefix, uint32_t v, int digits)
{
	static const char hex[] = "0123456789abcdef";
	char tmp[8];

	for (int i = digits - 1; i >= 0; i--) {
		tmp[i] = hex[v & 0xF];
		v >>= 4;
	}
	if (hoist_buf_adds(out, prefix) < 0)
		return -E2BIG;
	return hoist_buf_add(out, tmp, (size_t)digits);
}

int df_quote(struct hoist_buf *out, const char *s, size_t len)
{
	int r = hoist_buf_addc(out, '"');

	for (size_t i = 0; i < len && r >= 0;) {
		size_t w;
		uint32_t c = df_decode_rune(s + i, len - i, &w);

		if (c == DF_RUNE_ERROR && w == 1) {
			r = add_hex(out, "\\x", (unsigned char)s[i], 2);
			i++;
			continue;
		}
		if (c == '"' || c == '\\') {
			hoist_buf_addc(out, '\\');
			r = hoist_buf_addc(out, (char)c);
		} else if (df_rune_is_print(c)) {
			r = hoist_buf_add(out, s + i, w);
		} else {
			switch (c) {
			case '\a':
				r = hoist_buf_adds(out, "\\a");
				break;
			case '\b':
				r = hoist_buf_adds(out, "\\b");
				break;
			case '\f':
				r = hoist_buf_adds(out, "\\f");
				break;
			case '\n':
				r = hoist_buf_adds(out, "\\n");
				break;
			case '\r':
				r = hoist_buf_adds(out, "\\r");
				break;
			case '\t':
				r = hoist_buf_adds(out, "\\t");
				break;
			case '\v':
				r = hoist_buf_adds(out, "\\v");
				break;
			default:
				if (c < ' ' || c == 0x7F)
					r = add_hex(out, "\\x", c, 2);
				else if (c < 0x10000)
					r = add_hex(out, "\\u", c, 4);
				else
					r = add_hex(out, "\\U", c, 8);
			}
		}
		i += w;
	}
	if (r >= 0)
		r = hoist_buf_addc(out, '"');
	return r < 0 ? r : 0;
}
