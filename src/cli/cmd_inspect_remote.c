/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `hoist inspect docker://REF`: a remote manifest or index without pulling.
 * --raw prints the registry's exact bytes; otherwise a JSON summary (name,
 * digest, media type, and the platforms of an index or the config and
 * layers of an image), in the spirit of `skopeo inspect`.
 */
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "hoist/registry.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hoist inspect [OPTIONS] docker://REF\n\n"
		"Show a remote manifest or index without pulling it.\n\n"
		"Options:\n"
		"  --raw                     print the manifest exactly as the registry sent it\n"
		"  --config                  print the image config (raw)\n"
		"%s"
		"  -h, --help                print this help\n",
		cli_registry_options_help());
}

static json_t *summary_image(const struct hoist_registry_opts *opts, const char *ref,
			     const struct hoist_registry_manifest *m, json_t *doc,
			     struct hoist_error *err)
{
	json_t *out = json_object();
	json_t *layers = json_array(), *l;
	size_t i;

	json_array_foreach(json_object_get(doc, "layers"), i, l)
	    json_array_append(layers, json_object_get(l, "digest"));
	json_object_set_new(out, "Layers", layers);
	const char *cd =
	    json_string_value(json_object_get(json_object_get(doc, "config"), "digest"));
	if (!cd)
		return out;
	_cleanup_free_ char *cfg = NULL;
	size_t len = 0;
	if (hoist_registry_fetch_blob(opts, ref, cd, (size_t)4 << 20, &cfg, &len, err) < 0) {
		json_decref(out);
		return NULL;
	}
	json_auto_t *c = json_loadb(cfg, len, 0, NULL);
	static const char *const keys[] = {"architecture", "os", "variant", "created", "author"};
	static const char *const names[] = {"Architecture", "Os", "Variant", "Created", "Author"};
	for (size_t k = 0; k < ARRAY_SIZE(keys); k++) {
		json_t *v = json_object_get(c, keys[k]);
		if (v)
			json_object_set(out, names[k], v);
	}
	json_t *cc = json_object_get(c, "config");
	if (json_object_get(cc, "Labels"))
		json_object_set(out, "Labels", json_object_get(cc, "Labels"));
	if (json_object_get(cc, "Env"))
		json_object_set(out, "Env", json_object_get(cc, "Env"));
	json_object_set_new(out, "Config", json_string(cd));
	(void)m;
	return out;
}

int cli_inspect_remote(int argc, char **argv)
{
	struct cli_registry reg;
	struct hoist_error err = {0};
	struct hoist_registry_manifest m = {0};
	/* Up here: 'goto usage_fail' must not skip a cleanup variable's initialisation. */
	json_auto_t *doc = NULL;
	const char *ref = NULL;
	bool raw = false, config = false;
	int r;

	cli_registry_init(&reg);
	reg.progress_mode = "quiet";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (cli_is_help(a)) {
			usage(stdout);
			cli_registry_release(&reg);
			return HOIST_EXIT_OK;
		}
		r = cli_registry_arg(&reg, "inspect", argc, argv, &i);
		if (r < 0)
			goto usage_fail;
		if (r > 0)
			continue;
		if (strcmp(a, "--raw") == 0) {
			raw = true;
		} else if (strcmp(a, "--config") == 0) {
			config = true;
		} else if (a[0] == '-' && a[1]) {
			cli_usage_error("inspect", "unknown option '%s'", a);
			goto usage_fail;
		} else if (!ref && hoist_startswith(a, "docker://")) {
			ref = a + 9;
		} else {
			cli_usage_error("inspect", "expected one docker://REF");
			goto usage_fail;
		}
	}
	if (!ref) {
		cli_usage_error("inspect", "missing docker://REF");
		goto usage_fail;
	}
	const struct hoist_registry_opts *opts = cli_registry_finish(&reg);
	r = hoist_registry_inspect(opts, ref, &m, &err);
	if (r < 0) {
		cli_registry_release(&reg);
		return cli_fail(&err);
	}
	if (raw) {
		fwrite(m.data, 1, m.len, stdout);
		hoist_registry_manifest_release(&m);
		cli_registry_release(&reg);
		return fflush(stdout) == 0 ? HOIST_EXIT_OK : HOIST_EXIT_FAIL;
	}
	doc = json_loadb(m.data, m.len, 0, NULL);
	if (config) {
		const char *cd =
		    json_string_value(json_object_get(json_object_get(doc, "config"), "digest"));
		_cleanup_free_ char *cfg = NULL;
		size_t len = 0;
		if (!cd)
			r = hoist_error_set(&err, -EINVAL, "'%s' is an index: it has no config",
					    ref);
		else
			r = hoist_registry_fetch_blob(opts, ref, cd, (size_t)4 << 20, &cfg, &len,
						      &err);
		if (r >= 0)
			fwrite(cfg, 1, len, stdout);
		hoist_registry_manifest_release(&m);
		cli_registry_release(&reg);
		return r < 0 ? cli_fail(&err) : HOIST_EXIT_OK;
	}
	json_t *out;
	if (json_object_get(doc, "manifests")) {
		out = json_object();
		json_t *list = json_array(), *e;
		size_t i;
		json_array_foreach(json_object_get(doc, "manifests"), i, e)
		{
			json_t *x = json_object();
			json_object_set(x, "Digest", json_object_get(e, "digest"));
			json_object_set(x, "MediaType", json_object_get(e, "mediaType"));
			if (json_object_get(e, "platform"))
				json_object_set(x, "Platform", json_object_get(e, "platform"));
			json_array_append_new(list, x);
		}
		json_object_set_new(out, "Manifests", list);
	} else {
		out = summary_image(opts, ref, &m, doc, &err);
		if (!out) {
			hoist_registry_manifest_release(&m);
			cli_registry_release(&reg);
			return cli_fail(&err);
		}
	}
	json_object_set_new(out, "Name", json_string(ref));
	json_object_set_new(out, "Digest", json_string(m.digest));
	json_object_set_new(out, "MediaType", json_string(m.media_type));
	char *s = json_dumps(out, JSON_INDENT(4) | JSON_SORT_KEYS);
	printf("%s\n", s);
	free(s);
	json_decref(out);
	hoist_registry_manifest_release(&m);
	cli_registry_release(&reg);
	return HOIST_EXIT_OK;

usage_fail:
	cli_registry_release(&reg);
	return HOIST_EXIT_USAGE;
}
