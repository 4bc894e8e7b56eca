/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hoist load -i FILE: read images from a docker-archive or an OCI layout
 * (tar or directory) into the store, tagging the names it carries.
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
	fprintf(f, "Usage: hoist load [OPTIONS]\n\n"
		   "Load images from an archive written by 'docker save', 'podman save',\n"
		   "skopeo (docker-archive:, oci-archive:), 'hoist save', or from an OCI image\n"
		   "layout directory. Every blob is verified against its digest.\n\n"
		   "Options:\n"
		   "  -i, --input FILE   archive or layout directory (default: stdin)\n"
		   "  -q, --quiet        print nothing on success\n"
		   "  -h, --help         print this help and exit\n");
}

int cmd_load(int argc, char **argv)
{
	const char *in = NULL;
	bool quiet = false;
	struct hoist_error err = {0};
	struct hoist_store *s;
	char **names = NULL;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			usage(stdout);
			return HOIST_EXIT_OK;
		} else if ((!strcmp(argv[i], "-i") || !strcmp(argv[i], "--input")) &&
			   i + 1 < argc) {
			in = argv[++i];
		} else if (hoist_startswith(argv[i], "--input=")) {
			in = argv[i] + strlen("--input=");
		} else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) {
			quiet = true;
		} else if (argv[i][0] == '-') {
			return cli_usage_error("load", "unknown option '%s'", argv[i]);
		} else {
			return cli_usage_error("load", "unexpected argument '%s'", argv[i]);
		}
	}
	if (!in || !strcmp(in, "-")) {
		if (isatty(STDIN_FILENO))
			return cli_usage_error("load", "use -i FILE (stdin is a terminal)");
		in = "/dev/stdin";
	}
	s = cli_store_open();
	if (!s)
		return HOIST_EXIT_FAIL;
	rc = hoist_oci_import(s, in, &names, &err);
	if (rc >= 0 && !quiet) {
		for (char **n = names; n && *n; n++) {
			struct hoist_ref ref = {0};
			if (hoist_startswith(*n, "sha256:")) {
				char id[HOIST_DIGEST_MAX];
				if (hoist_store_image_id(s, *n, id, NULL) < 0)
					memcpy(id, *n, strlen(*n) + 1);
				printf("Loaded image ID: %s\n", id);
			} else if (hoist_ref_parse(*n, &ref, NULL) == 0) {
				_cleanup_free_ char *fam = hoist_ref_familiar(&ref);
				printf("Loaded image: %s\n", fam);
				hoist_ref_release(&ref);
			}
		}
	}
	hoist_strv_free(names);
	hoist_store_free(s);
	return rc < 0 ? cli_fail(&err) : HOIST_EXIT_OK;
}
