/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Base64 (src/util/base64.c): the RFC 4648 section 10 vectors, round trips
 * of every byte value and length, and the input the decoder must refuse.
 */
#include <string.h>

#include "hoist/util.h"
#include "tests/tap.h"

static const struct {
	const char *plain, *enc;
} rfc[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

static bool decodes_to(const char *enc, const void *want, size_t want_len)
{
	char *out = NULL;
	size_t n = 0;
	int r = hoist_base64_decode(enc, strlen(enc), &out, &n);
	bool ok = r == 0 && n == want_len && memcmp(out, want, n) == 0 && out[n] == '\0';
	free(out);
	return ok;
}

int main(void)
{
	tap_plan_auto();

	for (size_t i = 0; i < ARRAY_SIZE(rfc); i++) {
		char *e = hoist_base64_encode(rfc[i].plain, strlen(rfc[i].plain));
		tap_ok(strcmp(e, rfc[i].enc) == 0, "encode '%s' is '%s' (got '%s')", rfc[i].plain,
		       rfc[i].enc, e);
		free(e);
		tap_ok(decodes_to(rfc[i].enc, rfc[i].plain, strlen(rfc[i].plain)), "decode '%s'",
		       rfc[i].enc);
	}
	tap_ok(decodes_to("dGVzdDp0ZXN0cGFzcw==", "test:testpass", 13),
	       "a Docker 'auth' entry decodes");
	tap_ok(decodes_to("+/+/", "\xfb\xff\xbf", 3), "'+' and '/' are 62 and 63");

	/* Every byte value, every length 0..300, through both directions. */
	uint8_t buf[300];
	bool ok = true;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(255 - i * 7);
	for (size_t len = 0; len <= sizeof(buf); len++) {
		char *e = hoist_base64_encode(buf, len);
		if (strlen(e) != (len + 2) / 3 * 4 || !decodes_to(e, buf, len)) {
			tap_diag("round trip of %zu bytes fails: '%s'", len, e);
			ok = false;
		}
		free(e);
	}
	tap_ok(ok, "every length 0..300 round-trips");

	/* Docker writes with Go's encoder, which never emits these. */
	static const char *const bad[] = {
	    "Zg",		    /* not a multiple of 4 */
	    "Zg=",		    /* nor this */
	    "Zm9vY",		    /* nor this */
	    "Z===",		    /* one character cannot make a byte */
	    "====",		    /* padding only */
	    "Zg==Zg==",		    /* padding in the middle */
	    "Z=g=",		    /* padding before data */
	    "Zm9v\n",		    /* whitespace */
	    " Zm9v",		    /* leading whitespace */
	    "Zm 9",		    /* inner space */
	    "Zm9-",		    /* URL-safe alphabet */
	    "Zm9_",		    /* URL-safe alphabet */
	    "Zm9\x80",		    /* high bit */
	    "dGVzdDp0ZXN0cGFzcw=!", /* bad final quantum */
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char *out = (char *)"untouched";
		size_t n = 99;
		int r = hoist_base64_decode(bad[i], strlen(bad[i]), &out, &n);
		tap_ok(r == -EBADMSG && strcmp(out, "untouched") == 0 && n == 99,
		       "bad input %zu is refused with -EBADMSG", i);
	}
	/* An embedded NUL within the given length is not base64 either. */
	{
		char *out = NULL;
		tap_ok(hoist_base64_decode("Zm\0v", 4, &out, NULL) == -EBADMSG && !out,
		       "a NUL inside the input is refused");
	}
	return tap_done();
}
