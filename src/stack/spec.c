/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The datahub stack spec (spec.yml) and change_ignore.json, read with
 * libyaml and jansson into struct hoist_stack_spec.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdint.h>
#include <string.h>
#include <yaml.h>

#include "hoist/ref.h"
#include "hoist/stack.h"

struct ctx {
	yaml_document_t *doc;
	const char *file;
	struct hoist_error *err;
	size_t visits; /* aliases make the node graph a DAG: bound the walk */
};

static __attribute__((format(printf, 3, 4))) int bad(struct ctx *c, const yaml_node_t *n,
						     const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return hoist_error_set_at(c->err, -EBADMSG, c->file, n ? (int)n->start_mark.line + 1 : 0,
				  n ? (int)n->start_mark.column + 1 : 0, "%s", msg);
}

static const char *scalar(const yaml_node_t *n)
{
	if (!n || n->type != YAML_SCALAR_NODE)
		return NULL;
	return (const char *)n->data.scalar.value;
}

static bool is_null(const yaml_node_t *n)
{
	const char *s = scalar(n);
	return !n || (s && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
		      (!*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0));
}

static yaml_node_t *node(struct ctx *c, int id)
{
	return yaml_document_get_node(c->doc, id);
}

/* Depth check over the whole document: libyaml loads it without limits. */
static int check_depth(struct ctx *c, yaml_node_t *n, int depth)
{
	if (!n)
		return 0;
	if (++c->visits > 200000)
		return bad(c, n, "document too complex (aliases?)");
	if (depth > HOIST_STACK_MAX_DEPTH)
		return bad(c, n, "nesting deeper than %d levels", HOIST_STACK_MAX_DEPTH);
	if (n->type == YAML_SEQUENCE_NODE) {
		if (n->data.sequence.items.top - n->data.sequence.items.start >
		    HOIST_STACK_MAX_LIST)
			return bad(c, n, "list longer than %d items", HOIST_STACK_MAX_LIST);
		for (yaml_node_item_t *i = n->data.sequence.items.start;
		     i < n->data.sequence.items.top; i++) {
			int r = check_depth(c, node(c, *i), depth + 1);
			if (r < 0)
				return r;
		}
	} else if (n->type == YAML_MAPPING_NODE) {
		if (n->data.mapping.pairs.top - n->data.mapping.pairs.start >
		    HOIST_STACK_MAX_LIST * 4)
			return bad(c, n, "mapping longer than %d items", HOIST_STACK_MAX_LIST * 4);
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     p < n->data.mapping.pairs.top; p++) {
			int r = check_depth(c, node(c, p->value), depth + 1);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static yaml_node_t *map_get(struct ctx *c, yaml_node_t *m, const char *key)
{
	if (!m || m->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		const char *k = scalar(node(c, p->key));
		if (k && strcmp(k, key) == 0)
			return node(c, p->value);
	}
	return NULL;
}

static int get_bool(struct ctx *c, yaml_node_t *n, bool *ret)
{
	const char *s = scalar(n);
	if (!n)
		return 0;
	if (!s)
		return bad(c, n, "want true or false");
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "yes") || !strcmp(s, "on"))
		*ret = true;
	else if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "no") ||
		 !strcmp(s, "off"))
		*ret = false;
	else
		return bad(c, n, "'%s': want true or false", s);
	return 0;
}

static int get_str_list(struct ctx *c, yaml_node_t *n, const char *what, struct hoist_strv *out)
{
	if (is_null(n))
		return 0;
	if (scalar(n)) {
		hoist_strv_push(out, scalar(n));
		return 0;
	}
	if (n->type != YAML_SEQUENCE_NODE)
		return bad(c, n, "%s: want a list", what);
	for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top;
	     i++) {
		const char *s = scalar(node(c, *i));
		if (!s)
			return bad(c, node(c, *i), "%s: want a list of strings", what);
		hoist_strv_push(out, s);
	}
	return 0;
}

static char *opt_str(yaml_node_t *n)
{
	const char *s = scalar(n);
	return s && !is_null(n) ? hoist_xstrdup(s) : NULL;
}

static int parse_image(struct ctx *c, const char *name, yaml_node_t *m,
		       struct hoist_stack_image *img)
{
	int r;
	img->name = hoist_xstrdup(name);
	img->parent = SIZE_MAX;
	img->line = (int)m->start_mark.line + 1;
	if (!*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
		return bad(c, m, "image '%s': not a folder name", name);
	if (m->type != YAML_MAPPING_NODE)
		return bad(c, m, "image '%s': want a mapping", name);
	img->image_name = opt_str(map_get(c, m, "image_name"));
	if (!img->image_name)
		return bad(c, m, "image '%s': no image_name", name);
	struct hoist_ref ref = {0};
	struct hoist_error e2 = {0};
	r = hoist_ref_parse(img->image_name, &ref, &e2);
	bool plain =
	    r == 0 && !ref.digest && !strchr(img->image_name, '@') &&
	    !strchr(strrchr(img->image_name, '/') ? strrchr(img->image_name, '/') : img->image_name,
		    ':');
	hoist_ref_release(&ref);
	if (!plain)
		return bad(c, map_get(c, m, "image_name"),
			   "image '%s': image_name '%s' is not a repository name%s%s", name,
			   img->image_name, r < 0 ? ": " : " (no tag or digest)",
			   r < 0 ? e2.msg : "");
	yaml_node_t *dep = map_get(c, m, "depend_on");
	if (!is_null(dep)) {
		struct hoist_strv deps = HOIST_STRV_INIT;
		r = get_str_list(c, dep, "depend_on", &deps);
		if (r == 0 && deps.n > 1)
			r = bad(c, dep, "image '%s': more than one depend_on", name);
		if (r == 0 && deps.n == 1)
			img->depend_on = hoist_xstrdup(deps.v[0]);
		hoist_strv_release(&deps);
		if (r < 0)
			return r;
	}
	yaml_node_t *ba = map_get(c, m, "build_args");
	if (!is_null(ba)) {
		if (ba->type != YAML_MAPPING_NODE)
			return bad(c, ba, "image '%s': build_args: want a mapping", name);
		for (yaml_node_pair_t *p = ba->data.mapping.pairs.start;
		     p < ba->data.mapping.pairs.top; p++) {
			const char *k = scalar(node(c, p->key));
			yaml_node_t *vn = node(c, p->value);
			const char *v = is_null(vn) ? "" : scalar(vn);
			if (!k || !v || !*k || strchr(k, '='))
				return bad(c, node(c, p->key), "image '%s': bad build_args entry",
					   name);
			hoist_strv_take(&img->build_args, hoist_xasprintf("%s=%s", k, v));
		}
	}
	yaml_node_t *ic = map_get(c, m, "info_cmds");
	if (!ic)
		ic = map_get(c, m, "manifests"); /* older specs */
	if ((r = get_str_list(c, ic, "info_cmds", &img->info_cmds)) < 0)
		return r;
	if ((r = get_bool(c, map_get(c, m, "integration_tests"), &img->integration_tests)) < 0 ||
	    (r = get_bool(c, map_get(c, m, "prune"), &img->prune)) < 0)
		return r;
	return 0;
}

static int parse_info_cmds(struct ctx *c, yaml_node_t *m, struct hoist_stack_spec *spec)
{
	if (is_null(m))
		return 0;
	if (m->type != YAML_MAPPING_NODE)
		return bad(c, m, "%s: want a mapping", "all_info_cmds");
	size_t n = (size_t)(m->data.mapping.pairs.top - m->data.mapping.pairs.start);
	spec->info_cmds = hoist_xcalloc(n ? n : 1, sizeof(*spec->info_cmds));
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		const char *k = scalar(node(c, p->key));
		yaml_node_t *v = node(c, p->value);
		if (!k)
			return bad(c, v, "%s: keys must be strings", "all_info_cmds");
		struct hoist_stack_info_cmd *ic = &spec->info_cmds[spec->n_info_cmds++];
		ic->key = hoist_xstrdup(k);
		ic->description = opt_str(map_get(c, v, "description"));
		ic->command = opt_str(map_get(c, v, "command"));
		if (!ic->command)
			return bad(c, v, "info command '%s': no command", k);
	}
	return 0;
}

static int parse_plans(struct ctx *c, yaml_node_t *m, struct hoist_stack_spec *spec)
{
	if (is_null(m))
		return 0;
	if (m->type != YAML_MAPPING_NODE)
		return bad(c, m, "%s: want a mapping", "plans");
	size_t n = (size_t)(m->data.mapping.pairs.top - m->data.mapping.pairs.start);
	spec->plans = hoist_xcalloc(n ? n : 1, sizeof(*spec->plans));
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		const char *k = scalar(node(c, p->key));
		yaml_node_t *v = node(c, p->value);
		if (!k)
			return bad(c, v, "%s: keys must be strings", "plans");
		struct hoist_stack_plan_def *pd = &spec->plans[spec->n_plans++];
		pd->name = hoist_xstrdup(k);
		pd->tag_prefix = opt_str(map_get(c, v, "tag_prefix"));
		pd->tag_stable_postfix = opt_str(map_get(c, v, "tag_stable_postfix"));
	}
	return 0;
}

int hoist_stack_find(const struct hoist_stack_spec *spec, const char *name)
{
	for (size_t i = 0; i < spec->n_images; i++)
		if (strcmp(spec->images[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* Parents first, otherwise in spec order; a leftover means a cycle. */
static int link_images(struct hoist_stack_spec *spec, const char *file, struct hoist_error *err)
{
	size_t n = spec->n_images, done = 0;
	bool *placed = hoist_xcalloc(n ? n : 1, sizeof(bool));
	spec->order = hoist_xcalloc(n ? n : 1, sizeof(size_t));
	for (size_t i = 0; i < n; i++) {
		struct hoist_stack_image *img = &spec->images[i];
		for (size_t j = 0; j < i; j++)
			if (!strcmp(spec->images[j].name, img->name)) {
				free(placed);
				return hoist_error_set_at(err, -EBADMSG, file, img->line, 0,
							  "image '%s' is listed twice", img->name);
			}
		if (img->depend_on) {
			int p = hoist_stack_find(spec, img->depend_on);
			if (p < 0) {
				free(placed);
				return hoist_error_set_at(
				    err, -EBADMSG, file, img->line, 0,
				    "image '%s': depend_on names no image ('%s')", img->name,
				    img->depend_on);
			}
			img->parent = (size_t)p;
		}
	}
	while (done < n) {
		bool progress = false;
		for (size_t i = 0; i < n; i++) {
			const struct hoist_stack_image *img = &spec->images[i];
			if (placed[i] || (img->parent != SIZE_MAX && !placed[img->parent]))
				continue;
			placed[i] = true;
			spec->order[done++] = i;
			progress = true;
		}
		if (!progress) {
			for (size_t i = 0; i < n; i++)
				if (!placed[i]) {
					int line = spec->images[i].line;
					const char *nm = spec->images[i].name;
					free(placed);
					return hoist_error_set_at(err, -EBADMSG, file, line, 0,
								  "image '%s': depend_on cycle",
								  nm);
				}
		}
	}
	free(placed);
	return 0;
}

int hoist_stack_spec_parse(const char *data, size_t len, const char *file,
			   struct hoist_stack_spec *ret, struct hoist_error *err)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	struct ctx c = {.doc = &doc, .file = file, .err = err};
	int r = 0;

	memset(ret, 0, sizeof(*ret));
	if (len > HOIST_STACK_MAX_SPEC)
		return hoist_error_set_at(err, -EFBIG, file, 0, 0, "spec larger than %zu bytes",
					  HOIST_STACK_MAX_SPEC);
	if (!yaml_parser_initialize(&parser))
		return hoist_error_set(err, -ENOMEM, "yaml parser");
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	if (!yaml_parser_load(&parser, &doc)) {
		r = hoist_error_set_at(err, -EBADMSG, file, (int)parser.problem_mark.line + 1,
				       (int)parser.problem_mark.column + 1, "%s",
				       parser.problem ? parser.problem : "invalid YAML");
		yaml_parser_delete(&parser);
		return r;
	}
	yaml_parser_delete(&parser);

	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (!root || root->type != YAML_MAPPING_NODE) {
		r = bad(&c, root, "%s: want a mapping at the top", "spec");
		goto out;
	}
	if ((r = check_depth(&c, root, 0)) < 0)
		goto out;
	yaml_node_t *images = map_get(&c, root, "images");
	if (!images || images->type != YAML_MAPPING_NODE) {
		r = bad(&c, images ? images : root, "%s: want an 'images' mapping", "spec");
		goto out;
	}
	size_t n = (size_t)(images->data.mapping.pairs.top - images->data.mapping.pairs.start);
	if (n > HOIST_STACK_MAX_IMAGES) {
		r = bad(&c, images, "more than %d images", HOIST_STACK_MAX_IMAGES);
		goto out;
	}
	ret->images = hoist_xcalloc(n ? n : 1, sizeof(*ret->images));
	for (yaml_node_pair_t *p = images->data.mapping.pairs.start;
	     p < images->data.mapping.pairs.top; p++) {
		const char *k = scalar(node(&c, p->key));
		if (!k) {
			r = bad(&c, node(&c, p->key), "%s: image names must be strings", "images");
			goto out;
		}
		r = parse_image(&c, k, node(&c, p->value), &ret->images[ret->n_images++]);
		if (r < 0)
			goto out;
	}
	yaml_node_t *ic = map_get(&c, root, "all_info_cmds");
	if (!ic)
		ic = map_get(&c, root, "manifests");
	if ((r = parse_info_cmds(&c, ic, ret)) < 0 ||
	    (r = parse_plans(&c, map_get(&c, root, "plans"), ret)) < 0)
		goto out;
	ret->tag_prefix = opt_str(map_get(&c, map_get(&c, root, "tag"), "prefix"));
	for (size_t i = 0; i < ret->n_images; i++)
		for (size_t j = 0; j < ret->images[i].info_cmds.n; j++) {
			bool found = false;
			for (size_t k = 0; k < ret->n_info_cmds; k++)
				found |=
				    !strcmp(ret->info_cmds[k].key, ret->images[i].info_cmds.v[j]);
			if (!found) {
				r = hoist_error_set_at(err, -EBADMSG, file, ret->images[i].line, 0,
						       "image '%s': info command '%s' is not in "
						       "all_info_cmds",
						       ret->images[i].name,
						       ret->images[i].info_cmds.v[j]);
				goto out;
			}
		}
	r = link_images(ret, file, err);
out:
	yaml_document_delete(&doc);
	return r;
}

int hoist_stack_change_ignore_parse(const char *data, size_t len, const char *file,
				    struct hoist_stack_spec *spec, struct hoist_error *err)
{
	json_error_t je;
	json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	static const char *const keys[] = {"BuildAll", "ChangeIgnore"};
	int r = 0;
	if (!j)
		return hoist_error_set_at(err, -EBADMSG, file, je.line, je.column, "%s", je.text);
	if (!json_is_object(j)) {
		json_decref(j);
		return hoist_error_set_at(err, -EBADMSG, file, 0, 0, "want a JSON object");
	}
	for (size_t k = 0; k < ARRAY_SIZE(keys) && r == 0; k++) {
		json_t *a = json_object_get(j, keys[k]), *x;
		size_t i;
		struct hoist_strv *out = k == 0 ? &spec->build_all : &spec->change_ignore;
		if (!a || json_is_null(a))
			continue;
		if (!json_is_array(a) || json_array_size(a) > HOIST_STACK_MAX_LIST) {
			r = hoist_error_set_at(err, -EBADMSG, file, 0, 0,
					       "'%s': want a list of at most %d paths", keys[k],
					       HOIST_STACK_MAX_LIST);
			break;
		}
		json_array_foreach(a, i, x)
		{
			if (!json_is_string(x) || !*json_string_value(x)) {
				r = hoist_error_set_at(err, -EBADMSG, file, 0, 0,
						       "'%s': entries must be paths", keys[k]);
				break;
			}
			hoist_strv_push(out, json_string_value(x));
		}
	}
	json_decref(j);
	return r;
}

static char *dir_of(const char *path)
{
	const char *sl = strrchr(path, '/');
	if (!sl)
		return hoist_xstrdup(".");
	if (sl == path)
		return hoist_xstrdup("/");
	return hoist_xstrndup(path, (size_t)(sl - path));
}

int hoist_stack_spec_load(const char *path, struct hoist_stack_spec *ret, struct hoist_error *err)
{
	_cleanup_free_ char *data = NULL, *ci = NULL, *cipath = NULL;
	size_t len, cilen;
	int r = hoist_read_file_at(AT_FDCWD, path, HOIST_STACK_MAX_SPEC, &data, &len, err);
	if (r < 0) {
		memset(ret, 0, sizeof(*ret));
		return hoist_error_prefix(err, "reading spec '%s'", path);
	}
	r = hoist_stack_spec_parse(data, len, path, ret, err);
	if (r < 0)
		return r;
	ret->path = hoist_xstrdup(path);
	ret->dir = dir_of(path);
	cipath = hoist_xasprintf("%s/change_ignore.json", ret->dir);
	struct hoist_error e2 = {0};
	r = hoist_read_file_at(AT_FDCWD, cipath, HOIST_STACK_MAX_SPEC, &ci, &cilen, &e2);
	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		*err = e2;
		return r;
	}
	return hoist_stack_change_ignore_parse(ci, cilen, cipath, ret, err);
}

void hoist_stack_spec_release(struct hoist_stack_spec *spec)
{
	if (!spec)
		return;
	for (size_t i = 0; i < spec->n_images; i++) {
		struct hoist_stack_image *img = &spec->images[i];
		free(img->name);
		free(img->image_name);
		free(img->depend_on);
		hoist_strv_release(&img->build_args);
		hoist_strv_release(&img->info_cmds);
	}
	free(spec->images);
	free(spec->order);
	for (size_t i = 0; i < spec->n_info_cmds; i++) {
		free(spec->info_cmds[i].key);
		free(spec->info_cmds[i].description);
		free(spec->info_cmds[i].command);
	}
	free(spec->info_cmds);
	for (size_t i = 0; i < spec->n_plans; i++) {
		free(spec->plans[i].name);
		free(spec->plans[i].tag_prefix);
		free(spec->plans[i].tag_stable_postfix);
	}
	free(spec->plans);
	free(spec->tag_prefix);
	free(spec->path);
	free(spec->dir);
	hoist_strv_release(&spec->build_all);
	hoist_strv_release(&spec->change_ignore);
	memset(spec, 0, sizeof(*spec));
}
