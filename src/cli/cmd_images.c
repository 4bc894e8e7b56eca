/* SPDX-License-Identifier: Apache-2.0 */
/* hoist images: list the tagged images in the store. */
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
	fprintf(f, "Usage: hoist images [--digests] [--origin] [-q] [--no-trunc]\n"
		   "                    [--format table|json]\n\n"
		   "List the tagged images in the store.\n\n"
		   "IMAGE ID is the image's config digest, as Docker shows it (for a\n"
		   "multi-platform index, the index digest); SIZE is the sum of the\n"
		   "compressed layer sizes in the manifest.\n\n"
		   "Options:\n"
		   "      --digests        show the manifest (or index) digest\n"
		   "      --origin         show where a pulled image came from: the registry\n"
		   "                       location or mirror actually used ('-': built here)\n"
		   "  -q, --quiet          print image IDs only\n"
		   "      --no-trunc       do not shorten IDs\n"
		   "      --format FORMAT  'table' (default) or 'json' (one object per line)\n"
		   "  -h, --help           print this help and exit\n");
}

struct row {
	char *repository;
	char *tag;
	char *name; /* normalized */
	struct cli_image_info info;
	char origin[528]; /* where a pull got it ("-" when built or imported here) */
};

static void short_id(const char *digest, bool no_trunc, char *buf, size_t size)
{
	if (no_trunc || !hoist_startswith(digest, "sha256:"))
		snprintf(buf, size, "%s", digest);
	else
		snprintf(buf, size, "%.12s", digest + 7);
}

static void row_strings(const struct row *r, bool no_trunc, char id[HOIST_DIGEST_MAX],
			char created[64], char size[32])
{
	short_id(r->info.id, no_trunc, id, HOIST_DIGEST_MAX);
	if (r->info.created >= 0)
		cli_human_since((int64_t)time(NULL) - r->info.created, created, 64);
	else
		snprintf(created, 64, "%s", r->info.complete ? "N/A" : "<missing>");
	if (r->info.complete)
		cli_human_size(r->info.size, size, 32);
	else
		snprintf(size, 32, "<missing>");
}

static void print_table(struct row *rows, size_t n, bool digests, bool origin, bool no_trunc)
{
	size_t w_repo = strlen("REPOSITORY"), w_tag = strlen("TAG"), w_dig = strlen("DIGEST");
	size_t w_id = strlen("IMAGE ID"), w_created = strlen("CREATED"), w_size = strlen("SIZE");

	for (size_t i = 0; i < n; i++) {
		char id[HOIST_DIGEST_MAX], created[64], size[32];
		row_strings(&rows[i], no_trunc, id, created, size);
		w_repo = strlen(rows[i].repository) > w_repo ? strlen(rows[i].repository) : w_repo;
		w_tag = strlen(rows[i].tag) > w_tag ? strlen(rows[i].tag) : w_tag;
		w_dig = strlen(rows[i].info.digest) > w_dig ? strlen(rows[i].info.digest) : w_dig;
		w_id = strlen(id) > w_id ? strlen(id) : w_id;
		w_created = strlen(created) > w_created ? strlen(created) : w_created;
		w_size = strlen(size) > w_size ? strlen(size) : w_size;
	}
	printf("%-*s   %-*s   ", (int)w_repo, "REPOSITORY", (int)w_tag, "TAG");
	if (digests)
		printf("%-*s   ", (int)w_dig, "DIGEST");
	printf("%-*s   %-*s   ", (int)w_id, "IMAGE ID", (int)w_created, "CREATED");
	if (origin)
		printf("%-*s   %s\n", (int)w_size, "SIZE", "ORIGIN");
	else
		printf("SIZE\n");
	for (size_t i = 0; i < n; i++) {
		char id[HOIST_DIGEST_MAX], created[64], size[32];
		row_strings(&rows[i], no_trunc, id, created, size);
		printf("%-*s   %-*s   ", (int)w_repo, rows[i].repository, (int)w_tag, rows[i].tag);
		if (digests)
			printf("%-*s   ", (int)w_dig, rows[i].info.digest);
		printf("%-*s   %-*s   ", (int)w_id, id, (int)w_created, created);
		if (origin)
			printf("%-*s   %s\n", (int)w_size, size, rows[i].origin);
		else
			printf("%s\n", size);
	}
}

static void print_json(struct row *rows, size_t n, bool no_trunc)
{
	for (size_t i = 0; i < n; i++) {
		char id[HOIST_DIGEST_MAX], created[64], size[32];
		row_strings(&rows[i], no_trunc, id, created, size);
		json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:s}", "Repository",
				      rows[i].repository, "Tag", rows[i].tag, "Name", rows[i].name,
				      "Digest", rows[i].info.digest, "ID", id, "CreatedAt",
				      rows[i].info.created_at, "CreatedSince", created, "Size",
				      size, "SizeBytes", (json_int_t)rows[i].info.size, "Origin",
				      strcmp(rows[i].origin, "-") ? rows[i].origin : "");
		char *t = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (t)
			printf("%s\n", t);
		free(t);
		json_decref(o);
	}
}

int cmd_images(int argc, char **argv)
{
	bool digests = false, quiet = false, no_trunc = false, json = false, origin = false;
	struct hoist_store *s = NULL;
	struct hoist_tag *tags = NULL;
	struct hoist_error err = {0};
	size_t n = 0;
	int ret = HOIST_EXIT_OK;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (cli_is_help(a)) {
			usage(stdout);
			return HOIST_EXIT_OK;
		} else if (strcmp(a, "--digests") == 0) {
			digests = true;
		} else if (strcmp(a, "--origin") == 0) {
			origin = true;
		} else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
			quiet = true;
		} else if (strcmp(a, "--no-trunc") == 0) {
			no_trunc = true;
		} else if (strcmp(a, "--format") == 0 || hoist_startswith(a, "--format=")) {
			const char *v = a[8] == '=' ? a + 9 : (i + 1 < argc ? argv[++i] : NULL);
			if (!v)
				return cli_usage_error("images", "'--format' needs a value");
			if (strcmp(v, "json") == 0)
				json = true;
			else if (strcmp(v, "table") != 0)
				return cli_usage_error("images", "unknown format '%s'", v);
		} else {
			return cli_usage_error("images", "unexpected argument '%s'", a);
		}
	}

	s = cli_store_open();
	if (!s)
		return HOIST_EXIT_FAIL;
	if (hoist_store_tag_list(s, &tags, &n, &err) < 0) {
		hoist_store_free(s);
		return cli_fail(&err);
	}
	struct row *rows = hoist_xcalloc(n ? n : 1, sizeof(*rows));
	size_t nrows = 0;
	for (size_t i = 0; i < n; i++) {
		struct hoist_ref ref;
		if (hoist_ref_parse(tags[i].name, &ref, NULL) < 0)
			continue;
		struct row *r = &rows[nrows++];
		r->name = hoist_ref_string(&ref);
		r->tag = hoist_xstrdup(ref.tag ? ref.tag : "<none>");
		free(ref.tag);
		free(ref.digest);
		ref.tag = ref.digest = NULL;
		r->repository = hoist_ref_familiar(&ref);
		hoist_ref_release(&ref);
		cli_image_info(s, tags[i].digest, &r->info);
		struct hoist_origin o;
		if (hoist_store_origin_get(s, tags[i].name, tags[i].digest, &o) == 0)
			snprintf(r->origin, sizeof(r->origin), "%s%s", o.source,
				 o.mirror ? " (mirror)" : "");
		else
			snprintf(r->origin, sizeof(r->origin), "-");
	}
	if (quiet) {
		for (size_t i = 0; i < nrows; i++) {
			char id[HOIST_DIGEST_MAX];
			short_id(rows[i].info.id, no_trunc, id, sizeof(id));
			printf("%s\n", id);
		}
	} else if (json) {
		print_json(rows, nrows, no_trunc);
	} else {
		print_table(rows, nrows, digests, origin, no_trunc);
	}
	for (size_t i = 0; i < nrows; i++) {
		free(rows[i].repository);
		free(rows[i].tag);
		free(rows[i].name);
	}
	free(rows);
	hoist_store_tags_free(tags, n);
	hoist_store_free(s);
	return ret;
}
