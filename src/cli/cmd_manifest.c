/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hoist manifest SUBCOMMAND: work with remote manifests. Subcommands are
 * rows of a table so later ones (create, push, inspect) slot in.
 */
#include <string.h>

#include "cli.h"
#include "hoist/registry.h"

struct manifest_sub {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
};

static void exists_usage(FILE *f)
{
	fprintf(f,
		"Usage: hoist manifest exists [OPTIONS] REF\n\n"
		"Ask the registry (HEAD only) whether REF exists: exit 0 if it does, 1 if\n"
		"not, 2 on a usage error; other failures print an error and exit 1.\n\n"
		"Options:\n"
		"  -q, --quiet               print nothing (default prints the digest)\n"
		"%s"
		"  -h, --help                print this help\n",
		cli_registry_options_help());
}

static int manifest_exists(int argc, char **argv)
{
	struct cli_registry reg;
	struct hoist_error err = {0};
	const char *ref = NULL;
	char digest[HOIST_DIGEST_MAX] = "";
	bool quiet = false;
	int r;

	cli_registry_init(&reg);
	reg.progress_mode = "quiet";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (cli_is_help(a)) {
			exists_usage(stdout);
			cli_registry_release(&reg);
			return HOIST_EXIT_OK;
		}
		r = cli_registry_arg(&reg, "manifest exists", argc, argv, &i);
		if (r < 0)
			goto usage_fail;
		if (r > 0)
			continue;
		if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
			quiet = true;
		} else if (a[0] == '-' && a[1]) {
			cli_usage_error("manifest exists", "unknown option '%s'", a);
			goto usage_fail;
		} else if (!ref) {
			ref = a;
		} else {
			cli_usage_error("manifest exists", "too many arguments");
			goto usage_fail;
		}
	}
	if (!ref) {
		cli_usage_error("manifest exists", "missing image reference");
		goto usage_fail;
	}
	r = hoist_registry_manifest_exists(cli_registry_finish(&reg), ref, digest, &err);
	cli_registry_release(&reg);
	if (r < 0)
		return cli_fail(&err);
	if (r > 0 && !quiet && digest[0])
		printf("%s\n", digest);
	return r > 0 ? HOIST_EXIT_OK : HOIST_EXIT_FAIL;

usage_fail:
	cli_registry_release(&reg);
	return HOIST_EXIT_USAGE;
}

static const struct manifest_sub subs[] = {
    {"exists", "Exit 0 if a manifest exists in a registry, 1 if not", manifest_exists},
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: hoist manifest SUBCOMMAND [OPTIONS]\n\nSubcommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(subs); i++)
		fprintf(f, "  %-10s %s\n", subs[i].name, subs[i].summary);
	fprintf(f, "\nRun 'hoist manifest SUBCOMMAND --help' for its options.\n");
}

int cmd_manifest(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return HOIST_EXIT_USAGE;
	}
	if (cli_is_help(argv[1])) {
		usage(stdout);
		return HOIST_EXIT_OK;
	}
	for (size_t i = 0; i < ARRAY_SIZE(subs); i++)
		if (strcmp(argv[1], subs[i].name) == 0)
			return subs[i].run(argc - 1, argv + 1);
	return cli_usage_error("manifest", "unknown subcommand '%s'", argv[1]);
}
