/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the Dockerfile parser: parse, dump, build the JSON tree, serialize
 * it, free. Also feed the first line to the heredoc word parser. Must never
 * crash, hang or leak.
 */
#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "hoist/dockerfile.h"
#include "hoist/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hoist_df_ast *ast = NULL;
	struct hoist_error err;

	/* bigger inputs only slow the fuzzer down; the size limit has its own test */
	if (size > 256 * 1024)
		return 0;
	if (hoist_df_parse((const char *)data, size, "fuzz", &ast, &err) == 0) {
		struct hoist_buf b = HOIST_BUF_INIT;
		hoist_df_ast_dump(ast, &b);
		for (size_t i = 0; i < ast->root->n_children; i++) {
			hoist_buf_reset(&b);
			hoist_df_node_dump(ast->root->children[i], &b);
		}
		hoist_buf_release(&b);
		json_t *j = hoist_df_ast_to_json(ast);
		char *s = json_dumps(j, JSON_COMPACT);
		if (!s)
			__builtin_trap(); /* the tree must always serialize (valid UTF-8) */
		free(s);
		json_decref(j);
		hoist_df_ast_free(ast);
	} else if (err.msg[0] == '\0') {
		__builtin_trap(); /* every failure explains itself */
	}

	const uint8_t *nl = memchr(data, '\n', size);
	size_t wl = nl ? (size_t)(nl - data) : size;
	char *word = hoist_xstrndup((const char *)data, wl);
	struct hoist_df_heredoc h = {0};
	bool is = false;
	hoist_df_parse_heredoc_word(word, &is, &h);
	hoist_df_heredoc_release(&h);
	free(word);
	return 0;
}
