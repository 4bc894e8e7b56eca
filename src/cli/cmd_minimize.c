/* SPDX-License-Identifier: Apache-2.0 */
/* hoist minimize IMAGE --base BASE -t NAME: the production image (hoist/minimize.h). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "hoist/minimize.h"
#include "hoist/store.h"
#include "hoist/util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hoist minimize IMAGE --base PRODUCTION_BASE [-t NAME] [OPTIONS]\n\n"
		"Make a production image: PRODUCTION_BASE plus one layer holding the\n"
		"directories below, every shared library their ELF files need (read from\n"
		"ELF headers: DT_NEEDED, RPATH/RUNPATH, $ORIGIN, the image's ld.so.conf;\n"
		"nothing is run, so foreign architectures work without emulation), and\n"
		"the extra files, minus what PRODUCTION_BASE already has identically.\n"
		"The image's runtime config (Env, Cmd, Entrypoint, ...) is kept.\n\n"
		"Copied by default (globs in the image; missing ones are skipped):\n"
		"  /usr/local/lib /usr/local/include /usr/local/bin /opt/venv\n"
		"  /usr/lib/python3* /usr/bin/python3* /etc/ssl\n\n"
		"Options:\n"
		"  -b, --base IMAGE        the production base (required)\n"
		"  -t, --tag NAME          name the result\n"
		"  -p, --path DIR          also copy DIR and resolve its ELF files (repeatable;\n"
		"                          atom's ADDITIONAL_LIB_LOCATIONS)\n"
		"  -a, --add FILE          also copy FILE or directory (repeatable; globs;\n"
		"                          atom's ADDITIONAL_FILES)\n"
		"      --no-default-paths  copy only --path and --add\n"
		"  -i, --install PKG       install PKG with the base's apt-get or apk, in the\n"
		"                          sandbox, as one more layer (repeatable, or a\n"
		"                          comma list: atom's PRODUCTION_PACKAGES)\n"
		"      --allow-missing     list unresolvable libraries instead of failing\n"
		"      --prefer-base-libs  never replace a library the base has at that path\n"
		"      --platform P        pick P from multi-platform images (default: host)\n"
		"  -v, --verbose           list the library closure\n"
		"  -q, --quiet             print only the digest\n"
		"  -h, --help              print this help and exit\n\n"
		"Example (the atom build.sh minimize + production steps):\n"
		"  hoist minimize atom-built --base debian:bookworm-slim -t atom:prod \\\n"
		"      --path /opt/atom/lib --install libgomp1\n");
}

static const char *kind_name(enum hoist_minimize_kind k)
{
	switch (k) {
	case HOIST_MINIMIZE_ROOT:
		return "root";
	case HOIST_MINIMIZE_INTERP:
		return "interp";
	case HOIST_MINIMIZE_LIBRARY:
		return "lib";
	case HOIST_MINIMIZE_SYMLINK:
		return "link";
	}
	return "?";
}

static void split_commas(struct hoist_strv *out, const char *arg)
{
	const char *p = arg;
	while (*p) {
		const char *c = strchr(p, ',');
		size_t n = c ? (size_t)(c - p) : strlen(p);
		if (n)
			hoist_strv_take(out, hoist_xstrndup(p, n));
		if (!c)
			break;
		p = c + 1;
	}
}

int cmd_minimize(int argc, char **argv)
{
	enum { OPT_NO_DEFAULTS = 256, OPT_ALLOW_MISSING, OPT_PREFER_BASE, OPT_PLATFORM };
	static const struct option longopts[] = {
	    {"base", required_argument, NULL, 'b'},
	    {"tag", required_argument, NULL, 't'},
	    {"path", required_argument, NULL, 'p'},
	    {"add", required_argument, NULL, 'a'},
	    {"install", required_argument, NULL, 'i'},
	    {"no-default-paths", no_argument, NULL, OPT_NO_DEFAULTS},
	    {"allow-missing", no_argument, NULL, OPT_ALLOW_MISSING},
	    {"prefer-base-libs", no_argument, NULL, OPT_PREFER_BASE},
	    {"platform", required_argument, NULL, OPT_PLATFORM},
	    {"verbose", no_argument, NULL, 'v'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	_cleanup_strv_ struct hoist_strv paths = HOIST_STRV_INIT;
	_cleanup_strv_ struct hoist_strv files = HOIST_STRV_INIT;
	_cleanup_strv_ struct hoist_strv install = HOIST_STRV_INIT;
	struct hoist_minimize_opts o;
	struct hoist_platform platform;
	struct hoist_error err = {0};
	bool verbose = false, quiet = false;
	int c;

	hoist_minimize_opts_init(&o);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "b:t:p:a:i:vqh", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			o.base = optarg;
			break;
		case 't':
			o.tag = optarg;
			break;
		case 'p':
			hoist_strv_push(&paths, optarg);
			break;
		case 'a':
			split_commas(&files, optarg);
			break;
		case 'i':
			split_commas(&install, optarg);
			break;
		case OPT_NO_DEFAULTS:
			o.no_default_paths = true;
			break;
		case OPT_ALLOW_MISSING:
			o.flags |= HOIST_MINIMIZE_ALLOW_MISSING;
			break;
		case OPT_PREFER_BASE:
			o.prefer_base_libs = true;
			break;
		case OPT_PLATFORM:
			if (hoist_platform_parse_known(optarg, &platform, &err) < 0)
				return cli_usage_error("minimize", "%s", err.msg);
			o.platform = &platform;
			break;
		case 'v':
			verbose = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			usage(stdout);
			return HOIST_EXIT_OK;
		default:
			return cli_usage_error("minimize", "unknown option or missing value '%s'",
					       argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage_error("minimize", "no image given");
	if (optind + 1 < argc)
		return cli_usage_error("minimize", "too many arguments");
	if (!o.base)
		return cli_usage_error("minimize", "--base PRODUCTION_BASE is required");
	o.image = argv[optind];
	o.paths = (const char *const *)paths.v;
	o.n_paths = paths.n;
	o.files = (const char *const *)files.v;
	o.n_files = files.n;
	o.install = (const char *const *)install.v;
	o.n_install = install.n;
	/* The package manager's output is progress: keep stdout for results. */
	o.stdout_fd = 2;
	o.stderr_fd = 2;

	struct hoist_store *s = cli_store_open();
	if (!s)
		return HOIST_EXIT_FAIL;
	struct hoist_minimize_result res = {0};
	fflush(NULL);
	int r = hoist_minimize_run(s, &o, &res, &err);
	hoist_store_free(s);
	if (r < 0)
		return cli_fail(&err);

	if (quiet) {
		printf("%s\n", res.digest);
		hoist_minimize_result_release(&res);
		return HOIST_EXIT_OK;
	}
	if (verbose)
		for (size_t i = 0; i < res.closure.n; i++) {
			const struct hoist_minimize_file *f = &res.closure.files[i];
			if (f->needed_by)
				printf("%-6s %s (%s, needed by %s)\n", kind_name(f->kind), f->path,
				       f->needed_as, f->needed_by);
			else
				printf("%-6s %s\n", kind_name(f->kind), f->path);
		}
	for (size_t i = 0; i < res.closure.missing.n; i++)
		fprintf(stderr, "hoist: warning: %s\n", res.closure.missing.v[i]);
	char a[32], b[32], ca[32], cb[32];
	cli_human_size(res.source_bytes, a, sizeof(a));
	cli_human_size(res.production_bytes, b, sizeof(b));
	cli_human_size(res.source_layers, ca, sizeof(ca));
	cli_human_size(res.production_layers, cb, sizeof(cb));
	printf("closure: %zu files; layer: %llu entries (%llu already in the base)\n",
	       res.closure.n, (unsigned long long)res.added_files,
	       (unsigned long long)res.skipped_identical);
	printf("size before: %s (%s compressed)\n", a, ca);
	printf("size after:  %s (%s compressed)\n", b, cb);
	printf("%s%s%s\n", o.tag ? o.tag : "", o.tag ? " " : "", res.digest);
	hoist_minimize_result_release(&res);
	return HOIST_EXIT_OK;
}
