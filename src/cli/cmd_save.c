/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hoist save -o FILE [--format docker|oci|oci-dir] IMAGE...: write images
 * from the store as an archive `docker load`, `podman load` and skopeo read.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "hoist/oci.h"
#include "hoist/ref.h"
#include "hoist/store.h"
#include "hoist/util.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: hoist save [OPTIONS] IMAGE...\n\n"
		   "Write images from the store to an archive (stdout when -o is not given\n"
		   "and stdout is not a terminal).\n\n"
		   "Options:\n"
		   "  -o, --output FILE   where to write ('-' for stdout)\n"
		   "  --format FORMAT     docker (default; an OCI layout plus manifest.json, as\n"
		   "                      docker save writes since Docker 25), oci (OCI image\n"
		   "                      layout tar), or oci-dir (OCI image layout directory)\n"
		   "  -h, --help          print this help and exit\n");
}

struct item {
	struct hoist_export_item x;
	struct hoist_strv names;
};

int cmd_save(int argc, char **argv)
{
	const char *out = NULL, *format = "docker";
	struct hoist_strv images = HOIST_STRV_INIT;
	struct hoist_error err = {0};
	enum hoist_archive_format fmt;
	struct item *items = NULL;
	size_t n_items = 0;
	struct hoist_store *s;
	int rc = 0;

	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			usage(stdout);
			hoist_strv_release(&images);
			return HOIST_EXIT_OK;
		} else if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) &&
			   i + 1 < argc) {
			out = argv[++i];
		} else if (hoist_startswith(argv[i], "--output=")) {
			out = argv[i] + strlen("--output=");
		} else if (!strcmp(argv[i], "--format") && i + 1 < argc) {
			format = argv[++i];
		} else if (hoist_startswith(argv[i], "--format=")) {
			format = argv[i] + strlen("--format=");
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			hoist_strv_release(&images);
			return cli_usage_error("save", "unknown option '%s'", argv[i]);
		} else {
			hoist_strv_push(&images, argv[i]);
		}
	}
	if (!strcmp(format, "docker") || !strcmp(format, "docker-archive"))
		fmt = HOIST_ARCHIVE_DOCKER_TAR;
	else if (!strcmp(format, "oci") || !strcmp(format, "oci-archive"))
		fmt = HOIST_ARCHIVE_OCI_TAR;
	else if (!strcmp(format, "oci-dir"))
		fmt = HOIST_ARCHIVE_OCI_DIR;
	else {
		hoist_strv_release(&images);
		return cli_usage_error("save", "unknown format '%s' (docker, oci, oci-dir)",
				       format);
	}
	if (images.n == 0) {
		hoist_strv_release(&images);
		return cli_usage_error("save", "expected at least one IMAGE");
	}
	if (!out) {
		if (isatty(STDOUT_FILENO) || fmt == HOIST_ARCHIVE_OCI_DIR) {
			hoist_strv_release(&images);
			return cli_usage_error("save", "use -o FILE (refusing to write to a "
						       "terminal)");
		}
		out = "-";
	}

	s = cli_store_open();
	if (!s) {
		hoist_strv_release(&images);
		return HOIST_EXIT_FAIL;
	}
	for (size_t i = 0; i < images.n; i++) {
		char digest[HOIST_DIGEST_MAX];
		struct hoist_ref ref = {0};
		_cleanup_free_ char *full = NULL;
		struct item *it = NULL;

		rc = hoist_store_resolve(s, images.v[i], digest, &err);
		if (rc < 0)
			goto out;
		/* A name that is a tag goes into the archive; an ID or digest does not. */
		if (hoist_ref_parse(images.v[i], &ref, NULL) == 0 && ref.tag && !ref.digest) {
			char tagged[HOIST_DIGEST_MAX];
			full = hoist_ref_string(&ref);
			if (hoist_store_tag_get(s, full, tagged, NULL) < 0 ||
			    strcmp(tagged, digest))
				free(TAKE_PTR(full));
		}
		hoist_ref_release(&ref);
		for (size_t k = 0; k < n_items; k++)
			if (!strcmp(items[k].x.digest, digest))
				it = &items[k];
		if (!it) {
			items = hoist_xrealloc(items, (n_items + 1) * sizeof(*items));
			it = &items[n_items++];
			memset(it, 0, sizeof(*it));
			memcpy(it->x.digest, digest, HOIST_DIGEST_MAX);
		}
		if (full)
			hoist_strv_take(&it->names, TAKE_PTR(full));
	}
	{
		_cleanup_free_ struct hoist_export_item *xs = hoist_xcalloc(n_items, sizeof(*xs));
		for (size_t k = 0; k < n_items; k++) {
			xs[k] = items[k].x;
			xs[k].names = (const char *const *)items[k].names.v;
		}
		rc = hoist_oci_export(s, fmt, out, xs, n_items, &err);
	}
out:
	for (size_t k = 0; k < n_items; k++)
		hoist_strv_release(&items[k].names);
	free(items);
	hoist_strv_release(&images);
	hoist_store_free(s);
	return rc < 0 ? cli_fail(&err) : HOIST_EXIT_OK;
}
