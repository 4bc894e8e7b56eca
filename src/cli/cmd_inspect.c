/* SPDX-License-Identifier: Apache-2.0 */
/* hoist inspect NAME: the manifest (or index) and config of an image as JSON. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli-store.h"
#include "cli.h"
#include "hoist/ref.h"
#include "hoist/store.h"
#include "hoist/util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hoist inspect NAME\n\n"
		"Print an image's documents as one JSON object:\n"
		"  {\"Name\", \"Digest\", \"MediaType\", \"Manifest\": {...}, \"Config\": {...}}\n"
		"When NAME points at an index (a multi-platform image), the object has\n"
		"\"Index\" and \"Manifests\": one {\"Digest\", \"Platform\", \"Manifest\",\n"
		"\"Config\"} per platform (null where that platform is not in the store).\n\n"
		"NAME is a name, a digest, or a unique prefix of an image ID or digest.\n"
		"With docker://REF, the image is read from its registry instead (see\n"
		"'hoist inspect docker://x --help').\n\n"
		"Options:\n"
		"  -h, --help   print this help and exit\n");
}

static const char *media_type(json_t *doc)
{
	const char *mt = json_string_value(json_object_get(doc, "mediaType"));
	if (mt)
		return mt;
	/* mediaType is optional in OCI documents: infer it from the shape */
	if (json_object_get(doc, "manifests"))
		return "application/vnd.oci.image.index.v1+json";
	return "application/vnd.oci.image.manifest.v1+json";
}

/* The manifest at digest and its config; the config is null when missing. */
static int load_manifest(struct hoist_store *s, const char *digest, json_t **ret_man,
			 json_t **ret_cfg, struct hoist_error *err)
{
	json_t *man = NULL, *cfg = NULL;
	int r = cli_blob_json(s, digest, &man, err);
	if (r < 0)
		return r;
	const char *c =
	    json_string_value(json_object_get(json_object_get(man, "config"), "digest"));
	if (!c || cli_blob_json(s, c, &cfg, NULL) < 0)
		cfg = json_null();
	*ret_man = man;
	*ret_cfg = cfg;
	return 0;
}

int cmd_inspect(int argc, char **argv)
{
	const char *name = NULL;
	char digest[HOIST_DIGEST_MAX];
	struct hoist_error err = {0};
	json_t *doc = NULL, *out = NULL;
	int r;

	/* `hoist inspect docker://REF` asks a registry (cmd_inspect_remote.c). */
	for (int i = 1; i < argc; i++)
		if (hoist_startswith(argv[i], "docker://"))
			return cli_inspect_remote(argc, argv);
	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			usage(stdout);
			return HOIST_EXIT_OK;
		}
		if (argv[i][0] == '-')
			return cli_usage_error("inspect", "unknown option '%s'", argv[i]);
		if (name)
			return cli_usage_error("inspect", "expected one NAME");
		name = argv[i];
	}
	if (!name)
		return cli_usage_error("inspect", "expected a NAME");

	struct hoist_store *s = cli_store_open();
	if (!s)
		return HOIST_EXIT_FAIL;
	r = hoist_store_resolve(s, name, digest, &err);
	if (r < 0)
		goto out;
	r = cli_blob_json(s, digest, &doc, &err);
	if (r < 0)
		goto out;

	/* Name: the normalized reference when NAME is one, else what was typed. */
	char *display = NULL;
	struct hoist_ref ref;
	if (!hoist_startswith(name, "sha256:") && hoist_ref_parse(name, &ref, NULL) == 0) {
		char tagged[HOIST_DIGEST_MAX];
		display = hoist_ref_string(&ref);
		/* a hex prefix also parses as a name; only use it when it is a tag */
		if (!ref.digest && hoist_store_tag_get(s, name, tagged, NULL) < 0) {
			free(display);
			display = NULL;
		}
		hoist_ref_release(&ref);
	}
	out = json_object();
	json_object_set_new(out, "Name", json_string(display ? display : name));
	json_object_set_new(out, "Digest", json_string(digest));
	json_object_set_new(out, "MediaType", json_string(media_type(doc)));
	/* Where a pull got it: the location or mirror actually used. */
	struct hoist_origin origin;
	if (display && hoist_store_origin_get(s, display, digest, &origin) == 0) {
		char when[32] = "";
		time_t t = (time_t)origin.time;
		struct tm tm;
		if (gmtime_r(&t, &tm))
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		json_object_set_new(out, "Origin",
				    json_pack("{s:s, s:b, s:s}", "Source", origin.source, "Mirror",
					      origin.mirror, "Pulled", when));
	}
	free(display);
	if (json_is_array(json_object_get(doc, "manifests"))) {
		json_t *list = json_array(), *m;
		size_t i;
		json_object_set(out, "Index", doc);
		json_array_foreach(json_object_get(doc, "manifests"), i, m)
		{
			const char *md = json_string_value(json_object_get(m, "digest"));
			json_t *e = json_object(), *man = NULL, *cfg = NULL;
			json_object_set_new(e, "Digest", json_string(md ? md : ""));
			json_object_set(e, "Platform",
					json_object_get(m, "platform")
					    ? json_object_get(m, "platform")
					    : json_null());
			if (md && hoist_digest_valid(md) &&
			    load_manifest(s, md, &man, &cfg, NULL) == 0) {
				json_object_set_new(e, "Manifest", man);
				json_object_set_new(e, "Config", cfg);
			} else {
				json_object_set_new(e, "Manifest", json_null());
				json_object_set_new(e, "Config", json_null());
			}
			json_array_append_new(list, e);
		}
		json_object_set_new(out, "Manifests", list);
	} else {
		json_t *man = NULL, *cfg = NULL;
		r = load_manifest(s, digest, &man, &cfg, &err);
		if (r < 0)
			goto out;
		json_object_set_new(out, "Manifest", man);
		json_object_set_new(out, "Config", cfg);
	}
	char *text = json_dumps(out, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
	if (text)
		printf("%s\n", text);
	free(text);
out:
	json_decref(out);
	json_decref(doc);
	hoist_store_free(s);
	return r < 0 ? cli_fail(&err) : HOIST_EXIT_OK;
}
