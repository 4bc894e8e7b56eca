/* SPDX-License-Identifier: Apache-2.0 */
/*
 * BuildKit's Node.Dump(): the keyword, the flags as Go's %q of a []string,
 * a nested node for ONBUILD, and every argument through strconv.Quote; the
 * whole thing trimmed of surrounding white space.
 */
#include <string.h>

#include "parser-private.h"

static int dump_node(const struct hoist_df_node *n, struct hoist_buf *out)
{
	_cleanup_buf_ struct hoist_buf b = HOIST_BUF_INIT;
	const char *s;
	size_t len;
	int r = 0;

	hoist_buf_add(&b, "", 0);
	if (n->value)
		hoist_buf_add(&b, n->value, n->value_len);
	if (n->n_flags > 0) {
		hoist_buf_adds(&b, " [");
		for (size_t i = 0; i < n->n_flags; i++) {
			if (i > 0)
				hoist_buf_addc(&b, ' ');
			df_quote(&b, n->flags[i], strlen(n->flags[i]));
		}
		hoist_buf_addc(&b, ']');
	}
	for (size_t i = 0; i < n->n_children; i++) {
		hoist_buf_addc(&b, '(');
		r = dump_node(n->children[i], &b);
		if (r < 0)
			return r;
		hoist_buf_adds(&b, ")\n");
	}
	for (const struct hoist_df_node *a = n->next; a; a = a->next) {
		hoist_buf_addc(&b, ' ');
		if (a->n_children > 0)
			r = dump_node(a, &b);
		else
			r = df_quote(&b, a->value, a->value_len);
		if (r < 0)
			return r;
	}
	s = b.data;
	len = b.len;
	df_trim_space(&s, &len);
	return hoist_buf_add(out, s, len);
}

int hoist_df_node_dump(const struct hoist_df_node *n, struct hoist_buf *out)
{
	return dump_node(n, out);
}

int hoist_df_ast_dump(const struct hoist_df_ast *ast, struct hoist_buf *out)
{
	const struct hoist_df_node *root = ast->root;
	int r;

	for (size_t i = 0; i < root->n_children; i++) {
		hoist_buf_addc(out, '(');
		r = dump_node(root->children[i], out);
		if (r < 0)
			return r;
		r = hoist_buf_adds(out, ")\n");
		if (r < 0)
			return r;
	}
	return 0;
}
