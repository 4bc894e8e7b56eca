/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hoist dockerfile SUBCOMMAND: tools around the Dockerfile parser.
 *   dump [--json] FILE   print the syntax tree (BuildKit's Node.Dump form)
 */
#include <jansson.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "hoist/dockerfile.h"
#include "hoist/util.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: hoist dockerfile SUBCOMMAND [OPTIONS]\n\n"
		   "Work with Dockerfiles without building them.\n\n"
		   "Subcommands:\n"
		   "  dump [--json] FILE   print the parsed syntax tree of FILE ('-' = stdin)\n\n"
		   "Run 'hoist dockerfile SUBCOMMAND --help' for details.\n");
}

static void dump_usage(FILE *f)
{
	fprintf(f, "Usage: hoist dockerfile dump [--json] FILE\n\n"
		   "Parse FILE ('-' reads standard input) and print one line per instruction\n"
		   "in BuildKit's dump form, e.g. (copy [\"--from=a\"] \"x\" \"/y\").\n\n"
		   "Options:\n"
		   "  --json       print a JSON syntax tree instead (escape token, directives,\n"
		   "               warnings, and per instruction: cmd, flags, args, json form,\n"
		   "               lines, original text, heredocs, nested ONBUILD instruction)\n"
		   "  -h, --help   print this help and exit\n\n"
		   "Warnings go to standard error. Exit status: 0 parsed, 1 parse error,\n"
		   "2 usage error.\n");
}

/* Read all of stdin, bounded like a Dockerfile on disk. */
static int read_stdin(char **ret, size_t *ret_len, struct hoist_error *err)
{
	_cleanup_buf_ struct hoist_buf b = HOIST_BUF_INIT;
	char chunk[65536];

	hoist_buf_init(&b, HOIST_DF_MAX_SIZE);
	hoist_buf_add(&b, "", 0);
	for (;;) {
		ssize_t n = read(STDIN_FILENO, chunk, sizeof(chunk));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return hoist_error_set(err, -errno, "reading standard input: %s",
					       strerror(errno));
		}
		if (n == 0)
			break;
		if (hoist_buf_add(&b, chunk, (size_t)n) < 0)
			return hoist_error_set(err, -EFBIG, "standard input: larger than %zu bytes",
					       HOIST_DF_MAX_SIZE);
	}
	*ret = hoist_buf_detach(&b, ret_len);
	return 0;
}

static int cmd_dump(int argc, char **argv)
{
	const char *file = NULL;
	bool json = false, opts_done = false;
	struct hoist_df_ast *ast = NULL;
	struct hoist_error err;
	int r;

	for (int i = 1; i < argc; i++) {
		if (!opts_done && cli_is_help(argv[i])) {
			dump_usage(stdout);
			return HOIST_EXIT_OK;
		} else if (!opts_done && strcmp(argv[i], "--json") == 0) {
			json = true;
		} else if (!opts_done && strcmp(argv[i], "--") == 0) {
			opts_done = true;
		} else if (!opts_done && argv[i][0] == '-' && argv[i][1] != '\0') {
			return cli_usage_error("dockerfile dump", "unknown option '%s'", argv[i]);
		} else if (!file) {
			file = argv[i];
		} else {
			return cli_usage_error("dockerfile dump", "unexpected argument '%s'",
					       argv[i]);
		}
	}
	if (!file)
		return cli_usage_error("dockerfile dump", "missing FILE");

	hoist_error_clear(&err);
	if (strcmp(file, "-") == 0) {
		_cleanup_free_ char *data = NULL;
		size_t len = 0;
		r = read_stdin(&data, &len, &err);
		if (r >= 0)
			r = hoist_df_parse(data, len, "<stdin>", &ast, &err);
		file = "<stdin>";
	} else {
		r = hoist_df_parse_file(file, &ast, &err);
	}
	if (r < 0)
		return cli_fail(&err);

	for (size_t i = 0; i < ast->n_warnings; i++)
		fprintf(stderr, "%s:%d: warning: %s\n", file, ast->warnings[i].line,
			ast->warnings[i].msg);

	if (json) {
		json_t *j = hoist_df_ast_to_json(ast);
		char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		json_decref(j);
		if (!s) {
			hoist_df_ast_free(ast);
			hoist_error_set(&err, -ENOMEM, "cannot format the JSON tree");
			return cli_fail(&err);
		}
		fputs(s, stdout);
		fputc('\n', stdout);
		free(s);
	} else {
		_cleanup_buf_ struct hoist_buf out = HOIST_BUF_INIT;
		r = hoist_df_ast_dump(ast, &out);
		if (r < 0) {
			hoist_df_ast_free(ast);
			hoist_error_set(&err, r, "dump too large");
			return cli_fail(&err);
		}
		fwrite(out.data, 1, out.len, stdout);
	}
	hoist_df_ast_free(ast);
	if (fflush(stdout) != 0) {
		hoist_error_set(&err, -EIO, "writing standard output: %s", strerror(errno));
		return cli_fail(&err);
	}
	return HOIST_EXIT_OK;
}

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
} subcommands[] = {
    {"dump", cmd_dump},
};

int cmd_dockerfile(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return HOIST_EXIT_USAGE;
	}
	if (cli_is_help(argv[1])) {
		usage(stdout);
		return HOIST_EXIT_OK;
	}
	for (size_t i = 0; i < ARRAY_SIZE(subcommands); i++)
		if (strcmp(argv[1], subcommands[i].name) == 0)
			return subcommands[i].run(argc - 1, argv + 1);
	return cli_usage_error("dockerfile", "unknown subcommand '%s'", argv[1]);
}
