/* SPDX-License-Identifier: Apache-2.0 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "cli.h"
#include "hoist/sandbox.h"
#include "hoist/util.h"

struct hoist_global_opts hoist_global;

/* One row per command, in the order `hoist --help` lists them. */
static const struct hoist_command commands[] = {
    {"dockerfile", "Parse a Dockerfile and print its syntax tree", cmd_dockerfile},
    {"context", "List the files of a build context after .dockerignore", cmd_context},
    {"import", "Make a base image from a root filesystem tarball", cmd_import},
    {"save", "Write images to a docker-archive or OCI archive", cmd_save},
    {"load", "Read images from a docker-archive or OCI archive", cmd_load},
    {"run", "Run a command in an image, in the build sandbox", cmd_run},
    {"build", "Build an image from a Dockerfile", cmd_build},
    {"images", "List the images in the store", cmd_images},
    {"tag", "Give an image another name", cmd_tag},
    {"rmi", "Remove image names (blobs go at 'cache prune')", cmd_rmi},
    {"inspect", "Print an image's manifest and config as JSON", cmd_inspect},
    {"cache", "List, prune and verify the build cache and store", cmd_cache},
    {"pull", "Fetch an image from a registry into the store", cmd_pull},
    {"push", "Send an image from the store to a registry", cmd_push},
    {"login", "Store credentials for a registry", cmd_login},
    {"logout", "Remove stored credentials for a registry", cmd_logout},
    {"manifest", "Work with manifests in a registry", cmd_manifest},
    {"sync", "Copy images (all platforms) between registries, layouts, archives", cmd_sync},
    {"chain", "Build folders of numbered Dockerfiles as one chain", cmd_chain},
    {"stack", "Plan, build, test and tag a stack of images (spec.yml)", cmd_stack},
    {"minimize", "Make a production image: a base plus the library closure", cmd_minimize},
};

int cli_fail(const struct hoist_error *err)
{
	char msg[HOIST_ERROR_MSG_MAX + HOIST_ERROR_FILE_MAX + 64];
	hoist_error_format(err, msg, sizeof(msg));
	fprintf(stderr, "hoist: %s\n", msg);
	return HOIST_EXIT_FAIL;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "hoist %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nrun 'hoist %s --help' for usage\n", cmd);
	return HOIST_EXIT_USAGE;
}

int cli_unknown_option(const char *cmd, const char *arg, bool missing_value,
		       const struct option *longopts, const char *shortopts, const char *hint)
{
	fprintf(stderr,
		missing_value ? "hoist %s: option '%s' needs a value"
			      : "hoist %s: unknown option '%s'",
		cmd, arg);
	if (hint)
		fprintf(stderr, " (%s)", hint);
	fprintf(stderr, "; options:");
	for (const struct option *o = longopts; o->name; o++) {
		/* aliases (--net for --network) share the value of the one before */
		if (o > longopts && o->val == o[-1].val)
			continue;
		bool has_short = o->val > ' ' && o->val < 127 && strchr(shortopts, o->val);
		if (has_short)
			fprintf(stderr, "%s -%c/--%s", o == longopts ? "" : ",", o->val, o->name);
		else
			fprintf(stderr, "%s --%s", o == longopts ? "" : ",", o->name);
	}
	fputc('\n', stderr);
	return HOIST_EXIT_USAGE;
}

bool cli_is_help(const char *arg)
{
	return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

int cli_opt_value(int argc, char **argv, int *i, const char *longname, const char *shortname,
		  const char **ret_value)
{
	const char *a = argv[*i];
	size_t n = strlen(longname);

	if (strncmp(a, longname, n) == 0 && a[n] == '=') {
		*ret_value = a + n + 1;
		return 1;
	}
	if (strcmp(a, longname) == 0 || (shortname && strcmp(a, shortname) == 0)) {
		if (*i + 1 >= argc)
			return -1;
		*ret_value = argv[++*i];
		return 1;
	}
	return 0;
}

static void log_to_stderr(int level, const char *msg, void *userdata)
{
	(void)userdata;
	if (level > 0 && !hoist_global.debug)
		return;
	fprintf(stderr, "%s\n", msg);
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: hoist [--root DIR] [--debug] COMMAND [OPTIONS]\n\n"
		   "Build container images from Dockerfiles with no daemon and no root.\n\n"
		   "Commands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nGlobal options:\n"
		   "  --root DIR   store location (default: $HOIST_ROOT, $XDG_DATA_HOME/hoist,\n"
		   "               or /var/lib/hoist as root)\n"
		   "  --debug      print debug lines\n"
		   "  --version    print the version and exit\n"
		   "  -h, --help   print this help and exit\n\n"
		   "Run 'hoist COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
	int i = 1;

	hoist_heap_tune();
	hoist_log_set(log_to_stderr, NULL);
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (cli_is_help(argv[i])) {
			usage(stdout);
			return HOIST_EXIT_OK;
		} else if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-v") == 0) {
			printf("hoist version %s\n", HOIST_VERSION);
			return HOIST_EXIT_OK;
		} else if (strcmp(argv[i], "--debug") == 0) {
			hoist_global.debug = true;
		} else if (strcmp(argv[i], "--root") == 0 && i + 1 < argc) {
			hoist_global.root = argv[++i];
		} else if (hoist_startswith(argv[i], "--root=")) {
			hoist_global.root = argv[i] + 7;
		} else {
			fprintf(stderr,
				"hoist: unknown option '%s'\nrun 'hoist --help' for usage\n",
				argv[i]);
			return HOIST_EXIT_USAGE;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return HOIST_EXIT_USAGE;
	}
	for (size_t c = 0; c < ARRAY_SIZE(commands); c++)
		if (strcmp(argv[i], commands[c].name) == 0) {
			int rc = commands[c].run(argc - i, argv + i);
			/* The subuid user namespace ends with the command (docs/sandbox.md). */
			hoist_sandbox_cleanup();
			return rc;
		}
	fprintf(stderr, "hoist: unknown command '%s'\nrun 'hoist --help' for usage\n", argv[i]);
	return HOIST_EXIT_USAGE;
}
