/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Base64 (RFC 4648, section 4): the standard alphabet with '=' padding, as
 * Docker's config file and HTTP Basic credentials use it. hoist's own so
 * that no process links libcrypto for it.
 */
#include <string.h>

#include "hoist/util.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *hoist_base64_encode(const void *data, size_t len)
{
	const uint8_t *p = data;
	char *out = hoist_xmalloc((len + 2) / 3 * 4 + 1);
	char *o = out;

	for (; len >= 3; len -= 3, p += 3) {
		uint32_t v = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
		*o++ = alphabet[v >> 18];
		*o++ = alphabet[(v >> 12) & 63];
		*o++ = alphabet[(v >> 6) & 63];
		*o++ = alphabet[v & 63];
	}
	if (len) {
		uint32_t v = (uint32_t)p[0] << 16 | (len == 2 ? (uint32_t)p[1] << 8 : 0);
		*o++ = alphabet[v >> 18];
		*o++ = alphabet[(v >> 12) & 63];
		*o++ = len == 2 ? alphabet[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

/* The 6-bit value of an alphabet character, or -1. */
static int sextet(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int hoist_base64_decode(const char *s, size_t len, char **ret, size_t *ret_len)
{
	size_t pad = 0;

	if (len % 4 != 0)
		return -EBADMSG;
	if (len && s[len - 1] == '=')
		pad = len >= 2 && s[len - 2] == '=' ? 2 : 1;

	/* Check everything before allocating: the caller's input is untrusted. */
	for (size_t i = 0; i < len - pad; i++)
		if (sextet((unsigned char)s[i]) < 0)
			return -EBADMSG;

	size_t n = len / 4 * 3 - pad;
	uint8_t *out = hoist_xmalloc(n + 1);
	uint8_t *o = out;
	for (size_t i = 0; i < len; i += 4) {
		uint32_t v = 0;
		for (size_t j = 0; j < 4; j++)
			v = v << 6 |
			    (s[i + j] == '=' ? 0 : (uint32_t)sextet((unsigned char)s[i + j]));
		size_t k = i + 4 < len ? 3 : 3 - pad;
		for (size_t j = 0; j < k; j++)
			*o++ = (uint8_t)(v >> (16 - 8 * j));
	}
	*o = '\0';
	*ret = (char *)out;
	if (ret_len)
		*ret_len = n;
	return 0;
}
