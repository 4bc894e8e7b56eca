/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hoist chain build|compat|list: numbered Dockerfile folders (atom's
 * docker/ layout) built as one chain; see docs/chain.md.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "hoist/chain.h"
#include "hoist/store.h"
#include "hoist/util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hoist chain build [OPTIONS] --base IMAGE FOLDER [FOLDER...]\n"
		"       hoist chain compat [OPTIONS] PLATFORM REPO TAG BASE_IMAGE FOLDER "
		"[PRODUCTION_IMAGE]\n"
		"       hoist chain list [--platform P] FOLDER [FOLDER...]\n\n"
		"Build folders of NN-Dockerfile-<descriptor> files in numeric order, each\n"
		"step FROM $BASE_IMAGE = the previous step's result (by digest, in the\n"
		"store: no registry between steps). Folders are stacked in the order given\n"
		"(e.g. stock graphics atom). Each step gets the build args of its\n"
		"<descriptor>-<platform>-args file (K=V lines; # comments; \"\" = empty).\n"
		"Unchanged steps are cache hits.\n\n"
		"build options:\n"
		"  --base IMAGE            BASE_IMAGE of the first step (required)\n"
		"  -t, --tag NAME[:TAG]    name the final result (repeatable)\n"
		"  --platform P[,P...]     amd64, aarch64 or OCI names (linux/arm64);\n"
		"                          several give a multi-arch index (default: host)\n"
		"  --context DIR           build context of every step (default: .; for the\n"
		"                          atom repo, its top folder)\n"
		"  --build-arg K=V         extra build arg for every step (repeatable)\n"
		"  --label K=V             label on every step's result (repeatable)\n"
		"  --intermediate MODE     chain (default): tag steps NAME:chain-<folder>-<NN>-\n"
		"                          <descriptor>-<platform>; none: keep them by digest\n"
		"  --production IMAGE      minimize the result onto IMAGE (hoist minimize;\n"
		"                          extra paths from the last folder's\n"
		"                          minimize-<platform>-args); one platform\n"
		"  --production-tag NAME   name the production image (repeatable)\n"
		"  --no-cache              rebuild every step\n"
		"  --pull[=WHEN]           FROM and production images: missing (default),\n"
		"                          always (--pull alone) or never\n"
		"  --push                  push the final tags (registry options below)\n"
		"  --network MODE          RUN network: host (default) or none\n"
		"  --identity MODE         sandbox identity: auto, root, subuid, single\n"
		"  --isolation RUNG        auto, sandbox, userns-shared-proc, in-place\n"
		"  --progress MODE         auto (steps), plain (every instruction), quiet\n\n"
		"compat: build.sh's six positional arguments. FOLDER is built with context\n"
		"FOLDER/../.. (the repository top, as build.sh's '../.'), steps tagged\n"
		"REPO:base-<file>-<folder>-<platform>, the result REPO:TAG-<folder>-<platform>.\n"
		"With PRODUCTION_IMAGE, the result is minimized onto it: REPO:TAG-<folder>-\n"
		"<platform> (and REPO:base-production-<folder>-<platform>) name the\n"
		"production image, REPO:base-minimize-<folder>-<platform> the full one.\n"
		"--push pushes REPO:TAG-<folder>-<platform>.\n\n"
		"list: print the steps and the build args each would get.\n\n"
		"Registry options (for --push and for pulling a missing base):\n%s",
		cli_registry_options_help());
}

struct chain_cli {
	bool quiet, plain;
};

static void on_chain(const struct hoist_chain_event *ev, void *userdata)
{
	const struct chain_cli *c = userdata;
	if (c->quiet)
		return;
	switch (ev->kind) {
	case HOIST_CHAIN_STEP_BEGIN:
		fprintf(stderr, "[chain %zu/%zu %s] %s\n", ev->index, ev->total, ev->platform,
			ev->step->path);
		break;
	case HOIST_CHAIN_STEP_DONE:
		fprintf(stderr, "[chain %zu/%zu %s] %s %s (%d steps, %d cached)%s%s\n", ev->index,
			ev->total, ev->platform, ev->steps_cached == ev->steps ? "CACHED" : "BUILT",
			ev->digest, ev->steps, ev->steps_cached, ev->tag ? " as " : "",
			ev->tag ? ev->tag : "");
		break;
	case HOIST_CHAIN_INDEX:
		fprintf(stderr, "[chain] index %s\n", ev->digest);
		break;
	case HOIST_CHAIN_PUSHED:
		fprintf(stderr, "[chain] pushed %s %s\n", ev->tag, ev->digest);
		break;
	}
}

static void on_build(const struct hoist_build_event *ev, void *userdata)
{
	const struct chain_cli *c = userdata;
	if (ev->kind == HOIST_BUILD_EVENT_WARNING) {
		if (!c->quiet)
			fprintf(stderr, "warning: %s\n", ev->text);
		return;
	}
	if (ev->kind == HOIST_BUILD_EVENT_OUTPUT) {
		fprintf(stderr, "%s\n", ev->text);
		return;
	}
	if (!c->plain || ev->kind != HOIST_BUILD_EVENT_STEP || ev->step == 0)
		return;
	if (ev->cached)
		fprintf(stderr, "  [%d/%d] CACHED %s\n", ev->step + 1, ev->n_steps, ev->text);
	else
		fprintf(stderr, "  [%d/%d] %s %.3fs\n", ev->step + 1, ev->n_steps, ev->text,
			ev->seconds);
}

/* "amd64,aarch64" -> platforms. */
static int add_platforms(const char *list, struct hoist_platform *out, size_t *n,
			 struct hoist_error *err)
{
	for (const char *p = list; *p;) {
		size_t l = strcspn(p, ",");
		_cleanup_free_ char *t = hoist_xstrndup(p, l);
		p += l + (p[l] == ',');
		if (!*t)
			continue;
		if (*n >= HOIST_CHAIN_MAX_PLATFORMS)
			return hoist_error_set(err, -E2BIG, "too many platforms");
		int r = hoist_chain_platform_parse(t, &out[*n], err);
		if (r < 0)
			return r;
		(*n)++;
	}
	return 0;
}

static int chain_list(int argc, char **argv)
{
	struct hoist_platform plats[HOIST_CHAIN_MAX_PLATFORMS];
	size_t n_plats = 0;
	struct hoist_error err = {0};
	_cleanup_strv_ struct hoist_strv folders = HOIST_STRV_INIT;
	for (int i = 1; i < argc; i++) {
		const char *v;
		int r = cli_opt_value(argc, argv, &i, "--platform", NULL, &v);
		if (r < 0)
			return cli_usage_error("chain", "option '%s' needs a value", argv[i]);
		if (r > 0) {
			if (add_platforms(v, plats, &n_plats, &err) < 0)
				return cli_fail(&err);
		} else if (argv[i][0] == '-') {
			return cli_usage_error("chain", "unknown option '%s'", argv[i]);
		} else {
			hoist_strv_push(&folders, argv[i]);
		}
	}
	if (!folders.n)
		return cli_usage_error("chain", "list: no folder given");
	if (!n_plats) {
		hoist_platform_host(&plats[0]);
		n_plats = 1;
	}
	for (size_t p = 0; p < n_plats; p++) {
		char pname[64];
		hoist_chain_platform_name(&plats[p], pname, sizeof(pname));
		size_t idx = 0;
		for (size_t f = 0; f < folders.n; f++) {
			struct hoist_chain_step *steps;
			size_t n;
			if (hoist_chain_scan(folders.v[f], pname, &steps, &n, &err) < 0)
				return cli_fail(&err);
			for (size_t i = 0; i < n; i++) {
				printf("%s %zu %s", pname, ++idx, steps[i].path);
				for (size_t a = 0; a < steps[i].args.n; a++)
					printf(" --build-arg '%s'", steps[i].args.v[a]);
				printf("\n");
			}
			hoist_chain_steps_free(steps, n);
		}
	}
	return HOIST_EXIT_OK;
}

/* dirname(dirname(folder)): build.sh runs in docker/ with context "../.". */
static char *compat_context(const char *folder)
{
	char buf[PATH_MAX];
	if (!realpath(folder, buf))
		return NULL;
	for (int k = 0; k < 2; k++) {
		char *sl = strrchr(buf, '/');
		if (!sl)
			return NULL;
		if (sl == buf)
			sl[1] = '\0';
		else
			*sl = '\0';
	}
	return hoist_xstrdup(buf);
}

static const char *base_name(const char *path, char *buf, size_t size)
{
	size_t len = strlen(path);
	while (len > 1 && path[len - 1] == '/')
		len--;
	const char *s = path + len;
	while (s > path && s[-1] != '/')
		s--;
	snprintf(buf, size, "%.*s", (int)(path + len - s), s);
	return buf;
}

int cmd_chain(int argc, char **argv)
{
	struct cli_registry reg;
	struct hoist_chain_opts o;
	struct hoist_chain_result res;
	struct hoist_error err = {0};
	struct hoist_platform plats[HOIST_CHAIN_MAX_PLATFORMS];
	size_t n_plats = 0;
	struct chain_cli cc = {0};
	_cleanup_strv_ struct hoist_strv folders = HOIST_STRV_INIT;
	_cleanup_strv_ struct hoist_strv tags = HOIST_STRV_INIT;
	_cleanup_strv_ struct hoist_strv args = HOIST_STRV_INIT;
	_cleanup_strv_ struct hoist_strv labels = HOIST_STRV_INIT;
	_cleanup_strv_ struct hoist_strv pos = HOIST_STRV_INIT;
	_cleanup_strv_ struct hoist_strv ptags = HOIST_STRV_INIT;
	_cleanup_free_ char *ctx_alloc = NULL, *final_tag = NULL;
	int ret = HOIST_EXIT_USAGE;

	if (argc < 2 || cli_is_help(argv[1])) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? HOIST_EXIT_USAGE : HOIST_EXIT_OK;
	}
	const char *sub = argv[1];
	if (!strcmp(sub, "list"))
		return chain_list(argc - 1, argv + 1);
	bool compat = !strcmp(sub, "compat");
	if (!compat && strcmp(sub, "build"))
		return cli_usage_error("chain", "unknown subcommand '%s' (build, compat, list)",
				       sub);

	hoist_chain_opts_init(&o);
	cli_registry_init(&reg);
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = NULL;
		int r;
		if (cli_is_help(a)) {
			usage(stdout);
			ret = HOIST_EXIT_OK;
			goto out;
		}
#define VAL(lng, shrt)                                                                             \
	((r = cli_opt_value(argc, argv, &i, lng, shrt, &v)) < 0                                    \
	     ? (cli_usage_error("chain", "option '%s' needs a value", a), -1)                      \
	     : r)
		if (VAL("--base", NULL) > 0) {
			o.base = v;
		} else if (r < 0) {
			goto out;
		} else if (VAL("--tag", "-t") > 0) {
			hoist_strv_push(&tags, v);
		} else if (r < 0) {
			goto out;
		} else if (VAL("--platform", NULL) > 0) {
			if (add_platforms(v, plats, &n_plats, &err) < 0) {
				cli_usage_error("chain", "%s", err.msg);
				goto out;
			}
		} else if (r < 0) {
			goto out;
		} else if (VAL("--context", NULL) > 0) {
			o.context_dir = v;
		} else if (r < 0) {
			goto out;
		} else if (VAL("--build-arg", NULL) > 0) {
			hoist_strv_push(&args, v);
		} else if (r < 0) {
			goto out;
		} else if (VAL("--label", NULL) > 0) {
			hoist_strv_push(&labels, v);
		} else if (r < 0) {
			goto out;
		} else if (VAL("--intermediate", NULL) > 0) {
			if (!strcmp(v, "chain"))
				o.tag_style = HOIST_CHAIN_TAG_CHAIN;
			else if (!strcmp(v, "none"))
				o.tag_style = HOIST_CHAIN_TAG_NONE;
			else if (!strcmp(v, "buildsh"))
				o.tag_style = HOIST_CHAIN_TAG_BUILDSH;
			else {
				cli_usage_error("chain", "unknown --intermediate '%s'", v);
				goto out;
			}
		} else if (r < 0) {
			goto out;
		} else if (VAL("--production", NULL) > 0) {
			o.production_base = v;
		} else if (r < 0) {
			goto out;
		} else if (VAL("--production-tag", NULL) > 0) {
			hoist_strv_push(&ptags, v);
		} else if (r < 0) {
			goto out;
		} else if (VAL("--network", NULL) > 0) {
			o.network = v;
		} else if (r < 0) {
			goto out;
		} else if (VAL("--identity", NULL) > 0) {
			o.identity = v;
		} else if (r < 0) {
			goto out;
		} else if (VAL("--isolation", NULL) > 0) {
			o.isolation = v;
		} else if (r < 0) {
			goto out;
		} else if (VAL("--progress", NULL) > 0) {
			cc.plain = !strcmp(v, "plain");
			cc.quiet = !strcmp(v, "quiet");
			if (!cc.plain && !cc.quiet && strcmp(v, "auto") && strcmp(v, "tty")) {
				cli_usage_error("chain", "unknown progress mode '%s'", v);
				goto out;
			}
			reg.progress_mode = cc.quiet ? "quiet" : "plain";
		} else if (r < 0) {
			goto out;
		} else if (!strcmp(a, "--no-cache")) {
			o.no_cache = true;
		} else if (!strcmp(a, "--push")) {
			o.push = true;
		} else if ((r = cli_pull_arg(&reg, "chain", argc, argv, &i)) != 0 ||
			   (r = cli_registry_arg(&reg, "chain", argc, argv, &i)) != 0) {
			if (r < 0)
				goto out;
		} else if (a[0] == '-' && a[1]) {
			cli_usage_error("chain", "unknown option '%s'", a);
			goto out;
		} else {
			hoist_strv_push(&pos, a);
		}
#undef VAL
	}

	if (compat) {
		/* PLATFORM REPO TAG BASE_IMAGE FOLDER [PRODUCTION_IMAGE] */
		char folder[256];
		if (pos.n < 5 || pos.n > 6) {
			cli_usage_error("chain", "compat: want PLATFORM REPO TAG BASE_IMAGE FOLDER "
						 "[PRODUCTION_IMAGE]");
			goto out;
		}
		if (n_plats || tags.n || o.base) {
			cli_usage_error("chain",
					"compat: --platform, --tag and --base come from the "
					"positional arguments");
			goto out;
		}
		if (add_platforms(pos.v[0], plats, &n_plats, &err) < 0 || n_plats != 1) {
			cli_usage_error("chain", "compat: bad platform '%s'", pos.v[0]);
			goto out;
		}
		o.base = pos.v[3];
		hoist_strv_push(&folders, pos.v[4]);
		base_name(pos.v[4], folder, sizeof(folder));
		final_tag = hoist_xasprintf("%s:%s-%s-%s", pos.v[1], pos.v[2], folder, pos.v[0]);
		if (pos.n == 6) {
			o.production_base = pos.v[5];
			hoist_strv_push(&ptags, final_tag);
			hoist_strv_take(&ptags, hoist_xasprintf("%s:base-production-%s-%s",
								pos.v[1], folder, pos.v[0]));
			hoist_strv_take(&tags, hoist_xasprintf("%s:base-minimize-%s-%s", pos.v[1],
							       folder, pos.v[0]));
		} else {
			hoist_strv_push(&tags, final_tag);
		}
		o.tag_repo = pos.v[1];
		o.tag_style = HOIST_CHAIN_TAG_BUILDSH;
		if (!o.context_dir) {
			ctx_alloc = compat_context(pos.v[4]);
			if (!ctx_alloc) {
				hoist_error_set(&err, -ENOENT, "folder '%s' not found", pos.v[4]);
				ret = cli_fail(&err);
				goto out;
			}
			o.context_dir = ctx_alloc;
		}
	} else {
		for (size_t k = 0; k < pos.n; k++)
			hoist_strv_push(&folders, pos.v[k]);
		if (!o.base) {
			cli_usage_error("chain", "build: --base IMAGE is required");
			goto out;
		}
		if (!folders.n) {
			cli_usage_error("chain", "build: no folder given");
			goto out;
		}
		if (ptags.n && !o.production_base) {
			cli_usage_error("chain", "--production-tag needs --production");
			goto out;
		}
		if (o.push && !(o.production_base ? ptags.n : tags.n)) {
			cli_usage_error("chain", "--push needs a --tag");
			goto out;
		}
	}
	o.folders = (const char *const *)folders.v;
	o.tags = (const char *const *)tags.v;
	o.build_args = (const char *const *)args.v;
	o.labels = (const char *const *)labels.v;
	o.production_tags = (const char *const *)ptags.v;
	o.platforms = plats;
	o.n_platforms = n_plats;
	o.registry = cli_registry_finish(&reg);
	o.on_event = on_chain;
	o.on_build_event = on_build;
	o.userdata = &cc;

	struct hoist_store *s = cli_store_open();
	if (!s) {
		ret = HOIST_EXIT_FAIL;
		goto out;
	}
	fflush(NULL);
	int r = hoist_chain_build(s, &o, &res, &err);
	hoist_store_free(s);
	if (r < 0) {
		ret = cli_fail(&err);
		goto out;
	}
	if (!cc.quiet)
		fprintf(stderr, "[chain] %zu Dockerfiles, %zu rebuilt; %d steps, %d cached\n",
			res.n_steps, res.n_rebuilt, res.steps, res.steps_cached);
	if (o.production_base && !cc.quiet) {
		char a[32], b[32];
		cli_human_size(res.source_bytes, a, sizeof(a));
		cli_human_size(res.production_bytes, b, sizeof(b));
		fprintf(stderr, "[chain] production image %s: %s -> %s\n", res.production_digest, a,
			b);
	}
	printf("%s\n", o.production_base ? res.production_digest : res.digest);
	ret = HOIST_EXIT_OK;
out:
	cli_registry_release(&reg);
	return ret;
}
