/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the chain args-file parser and step names. */
#include <string.h>

#include "../tap.h"
#include "hoist/chain.h"

static bool parse(const char *text, struct hoist_strv *out, struct hoist_error *err)
{
	hoist_strv_release(out);
	hoist_error_clear(err);
	return hoist_chain_args_parse(text, strlen(text), "x-amd64-args", out, err) == 0;
}

int main(void)
{
	struct hoist_strv v = HOIST_STRV_INIT;
	struct hoist_error err = {0};
	char buf[64];
	struct hoist_platform p;

	tap_plan_auto();
	tap_ok(parse("A=1\nB=two words\n", &v, &err) && v.n == 2 && !strcmp(v.v[0], "A=1") &&
		   !strcmp(v.v[1], "B=two words"),
	       "two lines");
	tap_ok(parse("# c\n\n  # indented\nA=1\r\n\n", &v, &err) && v.n == 1 &&
		   !strcmp(v.v[0], "A=1"),
	       "comments, blank lines, CRLF");
	tap_ok(parse("PYARROW_EXTRA_CMAKE_ARGS=\"\"\n", &v, &err) && v.n == 1 &&
		   !strcmp(v.v[0], "PYARROW_EXTRA_CMAKE_ARGS="),
	       "\"\" is the empty value");
	tap_ok(parse("A=''", &v, &err) && v.n == 1 && !strcmp(v.v[0], "A="), "'' too, no newline");
	tap_ok(parse("A=\"x\"", &v, &err) && !strcmp(v.v[0], "A=\"x\""),
	       "other quotes are kept as written");
	tap_ok(parse("BLAS_ARGS=TARGET=ARMV8", &v, &err) &&
		   !strcmp(v.v[0], "BLAS_ARGS=TARGET=ARMV8"),
	       "value holding '='");
	tap_ok(!parse("A=1\nNOEQUALS\n", &v, &err) && err.line == 2 && err.code == -EBADMSG,
	       "a line without '=' is an error at its line");
	tap_ok(!parse("1A=x\n", &v, &err) && err.line == 1, "invalid name");
	tap_ok(!parse("=x\n", &v, &err), "empty name");
	char big[HOIST_CHAIN_MAX_ARGS_FILE + 2];
	memset(big, '#', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	tap_ok(!parse(big, &v, &err) && err.code == -EFBIG, "size bound");
	struct hoist_buf many = HOIST_BUF_INIT;
	for (int i = 0; i <= HOIST_CHAIN_MAX_ARGS; i++)
		hoist_buf_addf(&many, "K%d=v\n", i);
	tap_ok(!parse(many.data, &v, &err) && err.code == -E2BIG, "count bound");
	hoist_buf_release(&many);

	hoist_chain_platform_parse("aarch64", &p, &err);
	hoist_chain_platform_name(&p, buf, sizeof(buf));
	tap_ok(!strcmp(p.architecture, "arm64") && !strcmp(buf, "aarch64"), "aarch64 <-> arm64");
	hoist_chain_platform_parse("linux/amd64", &p, &err);
	hoist_chain_platform_name(&p, buf, sizeof(buf));
	tap_ok(!strcmp(buf, "amd64"), "linux/amd64 is amd64");
	hoist_strv_release(&v);
	return tap_done();
}
