/* SPDX-License-Identifier: Apache-2.0 */
/* hoist rmi NAME...: remove tags (the blobs go at `hoist cache prune`). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "hoist/ref.h"
#include "hoist/store.h"
#include "hoist/util.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: hoist rmi NAME...\n\n"
		   "Remove image names from the store. NAME is a name (busybox:1.36), or an\n"
		   "image ID, digest or unique prefix of one, which removes every name of\n"
		   "that image. Only the names go: the blobs stay until 'hoist cache prune'\n"
		   "finds nothing uses them. A NAME that does not exist is an error (the\n"
		   "others are still removed).\n\n"
		   "Options:\n"
		   "  -h, --help   print this help and exit\n");
}

static void print_untagged(const char *name)
{
	struct hoist_ref ref;
	if (hoist_ref_parse(name, &ref, NULL) == 0) {
		char *f = hoist_ref_familiar(&ref);
		printf("untagged: %s\n", f);
		free(f);
		hoist_ref_release(&ref);
	} else {
		printf("untagged: %s\n", name);
	}
}

/* NAME was not a tag: treat it as an image ID or digest and drop all its tags. */
static int remove_by_id(struct hoist_store *s, const char *arg, struct hoist_error *err)
{
	char digest[HOIST_DIGEST_MAX];
	struct hoist_tag *tags = NULL;
	size_t n = 0, removed = 0;
	int r;

	r = hoist_store_resolve(s, arg, digest, err);
	if (r < 0)
		return r;
	r = hoist_store_tag_list(s, &tags, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n && r >= 0; i++) {
		if (strcmp(tags[i].digest, digest) != 0)
			continue;
		r = hoist_store_tag_remove(s, tags[i].name, err);
		if (r >= 0) {
			print_untagged(tags[i].name);
			removed++;
		}
	}
	hoist_store_tags_free(tags, n);
	if (r >= 0 && removed == 0)
		return hoist_error_set(err, -ENOENT, "no such image '%s'", arg);
	return r;
}

int cmd_rmi(int argc, char **argv)
{
	int nargs = 0, ret = HOIST_EXIT_OK;

	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			usage(stdout);
			return HOIST_EXIT_OK;
		}
		if (argv[i][0] == '-')
			return cli_usage_error("rmi", "unknown option '%s'", argv[i]);
		nargs++;
	}
	if (nargs == 0)
		return cli_usage_error("rmi", "expected at least one NAME");

	struct hoist_store *s = cli_store_open();
	if (!s)
		return HOIST_EXIT_FAIL;
	for (int i = 1; i < argc; i++) {
		struct hoist_error err = {0};
		struct hoist_ref ref;
		const char *a = argv[i];
		bool is_name =
		    !hoist_startswith(a, "sha256:") && hoist_ref_parse(a, &ref, NULL) == 0;
		int r;

		if (is_name) {
			bool has_digest = ref.digest != NULL;
			hoist_ref_release(&ref);
			r = hoist_store_tag_remove(s, a, &err);
			if (r >= 0) {
				print_untagged(a);
				continue;
			}
			/* "abc123" may be an image ID prefix rather than a name */
			if (r != -ENOENT || has_digest) {
				ret = cli_fail(&err);
				continue;
			}
		}
		hoist_error_clear(&err);
		r = remove_by_id(s, a, &err);
		if (r < 0) {
			if (r == -ENOENT || r == -EINVAL)
				hoist_error_set(&err, -ENOENT, "no such image '%s'", a);
			ret = cli_fail(&err);
		}
	}
	hoist_store_free(s);
	return ret;
}
