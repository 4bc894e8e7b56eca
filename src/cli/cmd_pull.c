/* SPDX-License-Identifier: Apache-2.0 */
/* hoist pull REF: fetch an image from a registry into the store. */
#include <string.h>

#include "cli.h"
#include "hoist/registry.h"
#include "hoist/store.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hoist pull [OPTIONS] REF\n\n"
		"Fetch an image (manifest or index, config and layers) from a registry into\n"
		"the store, verify every blob, tag it as REF and print its digest.\n\n"
		"Options:\n"
		"  --platform P              os/arch[/variant] to pick from an index\n"
		"                            (default: this machine's)\n"
		"  --all-platforms           fetch every platform of an index\n"
		"%s"
		"  -h, --help                print this help\n",
		cli_registry_options_help());
}

int cmd_pull(int argc, char **argv)
{
	struct cli_registry reg;
	struct hoist_platform plat, *pp = NULL;
	struct hoist_error err = {0};
	const char *ref = NULL;
	int r;

	cli_registry_init(&reg);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (cli_is_help(a)) {
			usage(stdout);
			cli_registry_release(&reg);
			return HOIST_EXIT_OK;
		}
		r = cli_registry_arg(&reg, "pull", argc, argv, &i);
		if (r < 0)
			goto usage_fail;
		if (r > 0)
			continue;
		if (strcmp(a, "--platform") == 0 || hoist_startswith(a, "--platform=")) {
			const char *v = a[10] == '=' ? a + 11 : (i + 1 < argc ? argv[++i] : NULL);
			if (!v) {
				cli_usage_error("pull", "option '--platform' needs a value");
				goto usage_fail;
			}
			if (hoist_platform_parse_known(v, &plat, &err) < 0) {
				cli_usage_error("pull", "%s", err.msg);
				goto usage_fail;
			}
			pp = &plat;
		} else if (strcmp(a, "--all-platforms") == 0 || strcmp(a, "-a") == 0) {
			reg.opts.all_platforms = true;
		} else if (a[0] == '-' && a[1]) {
			cli_usage_error("pull", "unknown option '%s'", a);
			goto usage_fail;
		} else if (!ref) {
			ref = a;
		} else {
			cli_usage_error("pull", "too many arguments");
			goto usage_fail;
		}
	}
	if (!ref) {
		cli_usage_error("pull", "missing image reference");
		goto usage_fail;
	}

	struct hoist_store *s = cli_registry_store_open();
	if (!s) {
		cli_registry_release(&reg);
		return HOIST_EXIT_FAIL;
	}
	struct hoist_pull_result res;
	r = hoist_registry_pull(s, cli_registry_finish(&reg), ref, pp, &res, &err);
	cli_registry_done(&reg);
	hoist_store_free(s);
	cli_registry_release(&reg);
	if (r < 0)
		return cli_fail(&err);
	printf("%s\n", res.digest);
	return HOIST_EXIT_OK;

usage_fail:
	cli_registry_release(&reg);
	return HOIST_EXIT_USAGE;
}
