/* SPDX-License-Identifier: Apache-2.0 */
/*
 * UTF-8 and the character classes of Go's unicode package, which BuildKit's
 * lexer uses: a name is unicode.IsLetter/IsDigit runes, words split on
 * unicode.IsSpace.
 */
#include "shell-private.h"

#include "shell-unicode.h"

/* Decode one rune like Go's utf8.DecodeRune: bad input is (U+FFFD, 1). */
size_t shell_decode_rune(const unsigned char *s, size_t len, int32_t *ret)
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

size_t shell_encode_rune(int32_t r, char out[4])
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
bool shell_is_letter(int32_t r)
{
	if (r < 0x80)
		return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z');
	return in_ranges(unicode_letters, ARRAY_SIZE(unicode_letters), r);
}

bool shell_is_digit(int32_t r)
{
	if (r < 0x80)
		return r >= '0' && r <= '9';
	return in_ranges(unicode_digits, ARRAY_SIZE(unicode_digits), r);
}

bool shell_is_space(int32_t r)
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
