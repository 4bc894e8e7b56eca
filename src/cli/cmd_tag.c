/* SPDX-License-Identifier: Apache-2.0 */
/* hoist tag SRC DST: give an image in the store another name. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "hoist/ref.h"
#include "hoist/store.h"
#include "hoist/util.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: hoist tag SOURCE TARGET\n\n"
		   "Make TARGET name the image SOURCE names. SOURCE is a name (busybox,\n"
		   "registry.example.com/team/app:1.0), a name with a digest, a digest\n"
		   "(sha256:...), or a unique prefix of an image ID or digest. TARGET is a\n"
		   "name with an optional tag (default 'latest'); an existing TARGET is\n"
		   "moved to the new image.\n\n"
		   "Options:\n"
		   "  -h, --help   print this help and exit\n");
}

int cmd_tag(int argc, char **argv)
{
	const char *args[2];
	int nargs = 0;
	struct hoist_error err = {0};
	struct hoist_ref dst;
	char digest[HOIST_DIGEST_MAX];
	int r;

	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			usage(stdout);
			return HOIST_EXIT_OK;
		}
		if (argv[i][0] == '-' && argv[i][1] != '\0')
			return cli_usage_error("tag", "unknown option '%s'", argv[i]);
		if (nargs == 2)
			return cli_usage_error("tag", "too many arguments");
		args[nargs++] = argv[i];
	}
	if (nargs != 2)
		return cli_usage_error("tag", "expected SOURCE and TARGET");

	if (hoist_ref_parse(args[1], &dst, &err) < 0)
		return cli_fail(&err);
	if (dst.digest) {
		hoist_ref_release(&dst);
		hoist_error_set(&err, -EINVAL, "cannot tag with a digest: '%s'", args[1]);
		return cli_fail(&err);
	}
	hoist_ref_release(&dst);

	struct hoist_store *s = cli_store_open();
	if (!s)
		return HOIST_EXIT_FAIL;
	r = hoist_store_resolve(s, args[0], digest, &err);
	if (r >= 0)
		r = hoist_store_tag_set(s, args[1], digest, &err);
	hoist_store_free(s);
	return r < 0 ? cli_fail(&err) : HOIST_EXIT_OK;
}
