/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The JSON form of the syntax tree, for tools and tests: hoist's own shape
 * (documented in docs/dockerfile-dump.md), not a BuildKit format.
 */
#include <jansson.h>
#include <string.h>

#include "parser-private.h"

/* JSON strings must be UTF-8: bad bytes become U+FFFD, as Go's encoder does. */
static json_t *jstr(const char *s, size_t len)
{
	_cleanup_buf_ struct hoist_buf b = HOIST_BUF_INIT;

	if (!s)
		return json_string("");
	hoist_buf_add(&b, "", 0);
	for (size_t i = 0; i < len;) {
		size_t w;
		uint32_t r = df_decode_rune(s + i, len - i, &w);
		if (r == DF_RUNE_ERROR && w == 1)
			df_buf_add_rune(&b, DF_RUNE_ERROR);
		else
			hoist_buf_add(&b, s + i, w);
		i += w;
	}
	return json_stringn_nocheck(b.data, b.len);
}

static json_t *node_json(const struct hoist_df_node *n)
{
	json_t *o = json_object();
	json_t *flags = json_array(), *args = json_array(), *heredocs = json_array();
	const struct hoist_df_node *nested = NULL;

	json_object_set_new(o, "cmd", jstr(n->value, n->value_len));
	for (size_t i = 0; i < n->n_flags; i++)
		json_array_append_new(flags, jstr(n->flags[i], strlen(n->flags[i])));
	json_object_set_new(o, "flags", flags);
	for (const struct hoist_df_node *a = n->next; a; a = a->next) {
		if (a->n_children > 0)
			nested = a->children[0];
		else
			json_array_append_new(args, jstr(a->value, a->value_len));
	}
	json_object_set_new(o, "args", args);
	json_object_set_new(o, "json", json_boolean(n->json));
	json_object_set_new(o, "start_line", json_integer(n->start_line));
	json_object_set_new(o, "end_line", json_integer(n->end_line));
	json_object_set_new(o, "original", jstr(n->original, n->original_len));
	for (size_t i = 0; i < n->n_heredocs; i++) {
		const struct hoist_df_heredoc *h = &n->heredocs[i];
		json_t *hj = json_object();
		json_object_set_new(hj, "name", jstr(h->name, h->name ? strlen(h->name) : 0));
		json_object_set_new(hj, "content", jstr(h->content, h->content_len));
		json_object_set_new(hj, "expand", json_boolean(h->expand));
		json_object_set_new(hj, "chomp", json_boolean(h->chomp));
		json_object_set_new(hj, "fd", json_integer(h->fd));
		json_array_append_new(heredocs, hj);
	}
	json_object_set_new(o, "heredocs", heredocs);
	if (n->prev_comment) {
		json_t *c = json_array();
		for (char **p = n->prev_comment; *p; p++)
			json_array_append_new(c, jstr(*p, strlen(*p)));
		json_object_set_new(o, "comments", c);
	}
	if (nested)
		json_object_set_new(o, "onbuild", node_json(nested));
	return o;
}

struct json_t *hoist_df_ast_to_json(const struct hoist_df_ast *ast)
{
	json_t *o = json_object();
	json_t *dirs = json_array(), *warns = json_array(), *instrs = json_array();
	char esc[2] = {ast->escape, '\0'};

	json_object_set_new(o, "escape", json_string(esc));
	for (size_t i = 0; i < ast->n_directives; i++) {
		const struct hoist_df_directive *d = &ast->directives[i];
		json_t *dj = json_object();
		json_object_set_new(dj, "name", jstr(d->name, strlen(d->name)));
		json_object_set_new(dj, "value", jstr(d->value, strlen(d->value)));
		json_object_set_new(dj, "line", json_integer(d->line));
		json_array_append_new(dirs, dj);
	}
	json_object_set_new(o, "directives", dirs);
	for (size_t i = 0; i < ast->n_warnings; i++) {
		json_t *wj = json_object();
		json_object_set_new(wj, "line", json_integer(ast->warnings[i].line));
		json_object_set_new(wj, "message",
				    jstr(ast->warnings[i].msg, strlen(ast->warnings[i].msg)));
		json_array_append_new(warns, wj);
	}
	json_object_set_new(o, "warnings", warns);
	for (size_t i = 0; i < ast->root->n_children; i++)
		json_array_append_new(instrs, node_json(ast->root->children[i]));
	json_object_set_new(o, "instructions", instrs);
	return o;
}
