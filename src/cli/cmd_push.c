/* SPDX-License-Identifier: Apache-2.0 */
/* hoist push NAME[:TAG] [DEST_REF]: send an image from the store to a registry. */
#include <string.h>

#include "cli.h"
#include "hoist/registry.h"
#include "hoist/store.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hoist push [OPTIONS] NAME[:TAG] [DEST_REF]\n\n"
		"Send an image (or an index with its platform images) from the store to a\n"
		"registry: to DEST_REF, or to where NAME says. Prints the pushed digest.\n"
		"NAME may also be a sha256:... digest of the store (then DEST_REF is needed).\n\n"
		"Options:\n"
		"%s"
		"  -h, --help                print this help\n",
		cli_registry_options_help());
}

int cmd_push(int argc, char **argv)
{
	struct cli_registry reg;
	struct hoist_error err = {0};
	const char *src = NULL, *dest = NULL;
	char digest[HOIST_DIGEST_MAX];
	int r;

	cli_registry_init(&reg);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (cli_is_help(a)) {
			usage(stdout);
			cli_registry_release(&reg);
			return HOIST_EXIT_OK;
		}
		r = cli_registry_arg(&reg, "push", argc, argv, &i);
		if (r < 0)
			goto usage_fail;
		if (r > 0)
			continue;
		if (a[0] == '-' && a[1]) {
			cli_usage_error("push", "unknown option '%s'", a);
			goto usage_fail;
		} else if (!src) {
			src = a;
		} else if (!dest) {
			dest = a;
		} else {
			cli_usage_error("push", "too many arguments");
			goto usage_fail;
		}
	}
	if (!src) {
		cli_usage_error("push", "missing image name");
		goto usage_fail;
	}

	struct hoist_store *s = cli_registry_store_open();
	if (!s) {
		cli_registry_release(&reg);
		return HOIST_EXIT_FAIL;
	}
	r = hoist_registry_push(s, cli_registry_finish(&reg), src, dest, digest, &err);
	cli_registry_done(&reg);
	hoist_store_free(s);
	cli_registry_release(&reg);
	if (r < 0)
		return cli_fail(&err);
	printf("%s\n", digest);
	return HOIST_EXIT_OK;

usage_fail:
	cli_registry_release(&reg);
	return HOIST_EXIT_USAGE;
}
