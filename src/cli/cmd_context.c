/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hoist context ls: the build context as Docker (BuildKit) would send it,
 * after the .dockerignore rules.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "hoist/context.h"
#include "hoist/util.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: hoist context COMMAND [OPTIONS]\n\n"
		   "Inspect a build context.\n\n"
		   "Commands:\n"
		   "  ls           List the files of a build context after .dockerignore\n\n"
		   "Run 'hoist context COMMAND --help' for a command's options.\n");
}

static void usage_ls(FILE *f)
{
	fprintf(f, "Usage: hoist context ls [-f DOCKERFILE] [-a] DIR\n\n"
		   "List what the build context DIR holds after the .dockerignore rules: one\n"
		   "path per line, relative to DIR, in walk order (names sorted bytewise,\n"
		   "each directory's contents right after it). Files, symlinks (not followed)\n"
		   "and other non-directories are listed; a directory is listed, with a\n"
		   "trailing '/', only when nothing below it is (so empty directories show).\n\n"
		   "The ignore file is DOCKERFILE.dockerignore when it exists, else\n"
		   "DIR/.dockerignore.\n\n"
		   "Options:\n"
		   "  -f, --file DOCKERFILE  the Dockerfile (default: DIR/Dockerfile)\n"
		   "  -a, --all              list every directory too\n"
		   "  -h, --help             print this help and exit\n");
}

struct ls_state {
	bool all;
	char *pending; /* last directory listed, printed unless something lands below it */
	size_t pending_len;
};

static void flush_pending(struct ls_state *s, const char *next)
{
	if (!s->pending)
		return;
	if (!next || strncmp(next, s->pending, s->pending_len) != 0 || next[s->pending_len] != '/')
		printf("%s/\n", s->pending);
	free(s->pending);
	s->pending = NULL;
}

static int ls_visit(const char *relpath, const struct stat *st, void *userdata)
{
	struct ls_state *s = userdata;

	flush_pending(s, relpath);
	if (!S_ISDIR(st->st_mode)) {
		printf("%s\n", relpath);
	} else if (s->all) {
		printf("%s/\n", relpath);
	} else {
		s->pending = hoist_xstrdup(relpath);
		s->pending_len = strlen(relpath);
	}
	return 0;
}

static int cmd_context_ls(int argc, char **argv)
{
	const char *dockerfile = NULL, *dir = NULL;
	_cleanup_free_ char *default_dockerfile = NULL;
	struct hoist_context *ctx = NULL;
	struct ls_state st = {0};
	struct hoist_error err;
	int i, r;

	hoist_error_clear(&err);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (cli_is_help(a)) {
			usage_ls(stdout);
			return HOIST_EXIT_OK;
		} else if (strcmp(a, "-f") == 0 || strcmp(a, "--file") == 0) {
			if (i + 1 >= argc)
				return cli_usage_error("context ls", "option '%s' needs a value",
						       a);
			dockerfile = argv[++i];
		} else if (hoist_startswith(a, "--file=")) {
			dockerfile = a + 7;
		} else if (strcmp(a, "-a") == 0 || strcmp(a, "--all") == 0) {
			st.all = true;
		} else if (strcmp(a, "--") == 0) {
			i++;
			break;
		} else if (a[0] == '-' && a[1] != '\0') {
			return cli_usage_error("context ls", "unknown option '%s'", a);
		} else {
			break;
		}
	}
	if (i >= argc)
		return cli_usage_error("context ls", "missing the context directory");
	dir = argv[i++];
	if (i < argc)
		return cli_usage_error("context ls", "unexpected argument '%s'", argv[i]);
	if (!dockerfile)
		dockerfile = default_dockerfile = hoist_xasprintf("%s/Dockerfile", dir);

	r = hoist_context_open(dir, dockerfile, &ctx, &err);
	if (r < 0)
		return cli_fail(&err);
	r = hoist_context_walk(ctx, ls_visit, &st, &err);
	hoist_context_free(ctx);
	if (r < 0) {
		free(st.pending);
		fflush(stdout);
		return cli_fail(&err);
	}
	flush_pending(&st, NULL);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		hoist_error_set(&err, -EIO, "cannot write the listing: %s", strerror(errno));
		return cli_fail(&err);
	}
	return HOIST_EXIT_OK;
}

int cmd_context(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return HOIST_EXIT_USAGE;
	}
	if (cli_is_help(argv[1])) {
		usage(stdout);
		return HOIST_EXIT_OK;
	}
	if (strcmp(argv[1], "ls") == 0)
		return cmd_context_ls(argc - 1, argv + 1);
	return cli_usage_error("context", "unknown command '%s'", argv[1]);
}
