/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the .dockerignore reader and matcher. Input: ignore-file text, then a
 * line holding only "---", then one path per line. Without the separator
 * the whole input is both the patterns and the paths, so plain seeds still
 * exercise matching.
 */
#include <stdint.h>
#include <string.h>

#include "hoist/ignore.h"
#include "hoist/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const char *sep = NULL, *paths;
	size_t plen, pathlen;
	struct hoist_ignore *ig = NULL;
	struct hoist_error err;
	char **pats = NULL;

	if (size > 65536)
		return 0;
	for (size_t i = 0; i + 4 <= size; i++)
		if ((i == 0 || text[i - 1] == '\n') && memcmp(text + i, "---\n", 4) == 0) {
			sep = text + i;
			break;
		}
	plen = sep ? (size_t)(sep - text) : size;
	paths = sep ? sep + 4 : text;
	pathlen = sep ? size - (size_t)(paths - text) : size;

	if (hoist_ignore_read_patterns(text, plen, "fuzz", &pats, &err) == 0) {
		size_t n = 0;
		while (pats[n])
			n++;
		/* New() on the cleaned list, with and without its errors. */
		if (hoist_ignore_new((const char *const *)pats, n, &ig, &err) == 0)
			hoist_ignore_free(ig);
		ig = NULL;
		hoist_strv_free(pats);
	}
	if (hoist_ignore_parse(text, plen, "fuzz", &ig, &err) < 0)
		return 0;

	for (size_t pos = 0; pos < pathlen;) {
		const char *nl = memchr(paths + pos, '\n', pathlen - pos);
		size_t end = nl ? (size_t)(nl - paths) : pathlen;
		char *p = hoist_xstrndup(paths + pos, end - pos);
		int a = hoist_ignore_match_ex(ig, p, 0, &err);
		int b = hoist_ignore_match_ex(ig, p, HOIST_IGNORE_MATCH_LEGACY, &err);
		(void)a;
		(void)b;
		(void)hoist_ignore_descend(ig, p);
		(void)hoist_ignore_pattern_valid(p);
		free(p);
		pos = end + 1;
	}
	hoist_ignore_free(ig);
	return 0;
}
