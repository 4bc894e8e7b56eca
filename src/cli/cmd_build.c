/* SPDX-License-Identifier: Apache-2.0 */
/* `hoist build`: options -> hoist_build_run(), progress lines, outputs. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "hoist/build.h"
#include "hoist/layer.h"
#include "hoist/oci.h"
#include "hoist/ref.h"
#include "hoist/sandbox.h"
#include "hoist/store.h"
#include "hoist/util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hoist build [OPTIONS] CONTEXT\n\n"
		"Build an image from a Dockerfile.\n\n"
		"Options:\n"
		"  -f, --file FILE         the Dockerfile (default: CONTEXT/Dockerfile)\n"
		"  -t, --tag NAME[:TAG]    tag the result (repeatable)\n"
		"  --build-arg K=V         set a build argument (repeatable)\n"
		"  --target STAGE          build up to this stage\n"
		"  --label K=V             add a label to the image (repeatable)\n"
		"  --platform P[,P...]     target platform(s) (default: this machine); several\n"
		"                          build one image each, joined by an index\n"
		"  --format oci|docker     index format of a multi-platform build (default oci)\n"
		"  -j, --jobs N            platforms built at once, each in its own worker\n"
		"                          process (default: the number of CPUs; 1: one\n"
		"                          after the other in this process)\n"
		"  --no-cache              do not use the build cache\n"
		"  --compression gzip|zstd compression of every layer, cached and base\n"
		"                          ones too (default gzip)\n"
		"  --compression-level N   gzip 1..9 (default 6), zstd 1..19 (default 3)\n"
		"  -o, --output SPEC       type=oci,dest=DIR|FILE.tar[,tar=true|false],\n"
		"                          type=oci-archive,dest=FILE, type=docker,dest=FILE\n"
		"                          type=registry[,name=REF] (push, as --push)\n"
		"  --progress MODE         plain, tty, auto (default) or quiet (as -q)\n"
		"  --secret id=ID,src=FILE a secret for RUN --mount=type=secret (repeatable)\n"
		"  --network MODE          RUN network: host (default) or none\n"
		"  --identity MODE         sandbox identity: auto, root, subuid, single\n"
		"  --isolation RUNG        RUN isolation: auto (default; HOIST_ISOLATION),\n"
		"                          sandbox, userns-shared-proc or in-place\n"
		"  --pull[=WHEN]           FROM images: missing (default: pull what is not\n"
		"                          in the store), always (--pull alone), never\n"
		"  --push                  push every -t name after the build\n"
		"  --insecure-registry HOST  allow plain HTTP and unverified TLS for HOST\n"
		"  --tls-ca FILE           extra CA bundle for registries\n"
		"  --registries-conf FILE  read only FILE as registries.conf (mirrors,\n"
		"                          rewrites, aliases; docs/airgap.md)\n"
		"  --offline               never contact a registry (also HOIST_OFFLINE=1)\n"
		"  --iidfile FILE          write the image (manifest) digest to FILE\n"
		"  -q, --quiet             print only the digest\n"
		"  -h, --help              print this help\n");
}

struct output {
	enum hoist_archive_format fmt;
	char *dest;
	bool registry; /* type=registry: push (dest: name=REF, or NULL for the tags) */
};

static int parse_output(const char *spec, struct output *out)
{
	_cleanup_free_ char *copy = hoist_xstrdup(spec);
	const char *type = NULL, *dest = NULL, *tar = NULL, *name = NULL;
	char *p = copy;
	memset(out, 0, sizeof(*out));
	while (p && *p) {
		char *comma = strchr(p, ',');
		if (comma)
			*comma++ = '\0';
		if (hoist_startswith(p, "type="))
			type = p + 5;
		else if (hoist_startswith(p, "dest="))
			dest = p + 5;
		else if (hoist_startswith(p, "tar="))
			tar = p + 4;
		else if (hoist_startswith(p, "name="))
			name = p + 5;
		else if (hoist_startswith(p, "push="))
			; /* type=registry always pushes */
		else if (!strchr(p, '=') && !type && !dest)
			dest = p; /* bare path: an OCI layout directory */
		else
			return -EINVAL;
		p = comma;
	}
	if (type && strcmp(type, "registry") == 0) {
		out->registry = true;
		out->dest = name && *name ? hoist_xstrdup(name) : NULL;
		return 0;
	}
	if (!dest || !*dest)
		return -EINVAL;
	if (!type || strcmp(type, "oci") == 0) {
		/*
		 * buildx writes a tar for type=oci; the differential corpus
		 * expects a directory. A dest that is a directory or has no .tar
		 * suffix is a layout directory unless tar=true says otherwise.
		 */
		struct stat st;
		bool is_tar = hoist_endswith(dest, ".tar") || strcmp(dest, "-") == 0;
		if (stat(dest, &st) == 0 && S_ISDIR(st.st_mode))
			is_tar = false;
		if (tar)
			is_tar = strcmp(tar, "true") == 0;
		out->fmt = is_tar ? HOIST_ARCHIVE_OCI_TAR : HOIST_ARCHIVE_OCI_DIR;
	} else if (strcmp(type, "oci-archive") == 0) {
		out->fmt = HOIST_ARCHIVE_OCI_TAR;
	} else if (strcmp(type, "docker") == 0 || strcmp(type, "docker-archive") == 0) {
		out->fmt = HOIST_ARCHIVE_DOCKER_TAR;
	} else {
		return -EINVAL;
	}
	out->dest = hoist_xstrdup(dest);
	return 0;
}

struct progress {
	bool plain;
	bool plain_set; /* --progress plain: sandbox lines and RUN output too */
	bool quiet;
	bool multi; /* several platforms: the stage names the platform */
};

static void on_event(const struct hoist_build_event *ev, void *userdata)
{
	struct progress *p = userdata;
	if (ev->kind == HOIST_BUILD_EVENT_WARNING) {
		fprintf(stderr, "warning: %s\n", ev->text);
		return;
	}
	if (ev->kind == HOIST_BUILD_EVENT_OUTPUT) {
		/* the tail of a failed RUN's output, before the error line */
		fprintf(stderr, "%s\n", ev->text);
		return;
	}
	if (p->quiet)
		return;
	if (ev->kind == HOIST_BUILD_EVENT_LOG) {
		/* Several platforms' workers interleave: say whose line it is. */
		if (p->plain_set && p->multi)
			fprintf(stderr, "#%d [%s] %s\n", ev->step + 1, ev->stage, ev->text);
		else if (p->plain_set)
			fprintf(stderr, "#%d %s\n", ev->step + 1, ev->text);
		return;
	}
	if (ev->kind == HOIST_BUILD_EVENT_DONE) {
		fprintf(stderr, "writing image %s done\n", ev->text);
		return;
	}
	if (ev->step == 0) {
		fprintf(stderr, "[%s %d/%d] %s\n", ev->stage, 1, ev->n_steps, ev->text);
		return;
	}
	if (ev->cached)
		fprintf(stderr, "[%s %d/%d] CACHED %s\n", ev->stage, ev->step + 1, ev->n_steps,
			ev->text);
	else
		fprintf(stderr, "[%s %d/%d] %s %.3fs\n", ev->stage, ev->step + 1, ev->n_steps,
			ev->text, ev->seconds);
}

/* cli_opt_value()'s answer as a condition; a missing value is noted for the usage error. */
static bool opt_taken(int r, bool *missing)
{
	if (r < 0)
		*missing = true;
	return r > 0;
}

int cmd_build(int argc, char **argv)
{
	struct hoist_build_opts o;
	_cleanup_strv_ struct hoist_strv bargs = HOIST_STRV_INIT, labels = HOIST_STRV_INIT,
					 tags = HOIST_STRV_INIT, names = HOIST_STRV_INIT,
					 secrets = HOIST_STRV_INIT;
	struct cli_registry reg __attribute__((cleanup(cli_registry_release)));
	bool push = false;
	int ra;
	struct output outs[8];
	size_t n_outs = 0;
	const char *iidfile = NULL, *platform = NULL, *progress = "auto";
	struct progress prog = {0};
	struct hoist_platform plat, plats[HOIST_BUILD_MAX_PLATFORMS];
	size_t n_plats = 0;
	enum hoist_index_format ifmt = HOIST_INDEX_OCI;
	unsigned jobs = 0; /* the number of CPUs */
	struct hoist_build_multi_result mres;
	const char *digest; /* the image, or the index of a multi-platform build */
	struct hoist_error err = {0};
	struct hoist_store *s = NULL;
	_cleanup_free_ char *root = NULL;
	struct hoist_build_result res;
	int i, rc = HOIST_EXIT_FAIL;

	hoist_build_opts_init(&o);
	cli_registry_init(&reg);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = NULL;
		bool missing = false;
#define OPT(longname, shortname)                                                                   \
	opt_taken(cli_opt_value(argc, argv, &i, longname, shortname, &v), &missing)
		if (cli_is_help(a)) {
			usage(stdout);
			return HOIST_EXIT_OK;
		} else if (strcmp(a, "--no-cache") == 0) {
			o.no_cache = true;
		} else if ((ra = cli_pull_arg(&reg, "build", argc, argv, &i)) != 0) {
			if (ra < 0)
				return HOIST_EXIT_USAGE;
		} else if (strcmp(a, "--push") == 0) {
			push = true;
		} else if ((hoist_startswith(a, "--insecure-registry") ||
			    hoist_startswith(a, "--tls-ca") ||
			    hoist_startswith(a, "--registries-conf") ||
			    strcmp(a, "--offline") == 0) &&
			   (ra = cli_registry_arg(&reg, "build", argc, argv, &i)) != 0) {
			if (ra < 0)
				return HOIST_EXIT_USAGE;
		} else if (OPT("--secret", NULL)) {
			if (!strstr(v, "id=") || !(strstr(v, "src=") || strstr(v, "source=")))
				return cli_usage_error("build",
						       "bad --secret '%s' (id=ID,src=FILE)", v);
			hoist_strv_push(&secrets, v);
		} else if (OPT("--network", NULL)) {
			if (strcmp(v, "host") != 0 && strcmp(v, "none") != 0 &&
			    strcmp(v, "default") != 0)
				return cli_usage_error("build",
						       "unknown network '%s' (host or none)", v);
			o.network = v;
		} else if (OPT("--identity", NULL)) {
			o.identity = v;
		} else if (OPT("--isolation", NULL)) {
			enum hoist_isolation iso;
			struct hoist_error ierr = {0};
			if (hoist_isolation_parse(v, &iso, &ierr) < 0)
				return cli_usage_error("build", "%s", ierr.msg);
			o.isolation = v;
		} else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
			prog.quiet = true;
		} else if (OPT("--file", "-f")) {
			o.dockerfile = v;
		} else if (OPT("--tag", "-t")) {
			hoist_strv_push(&tags, v);
		} else if (OPT("--build-arg", NULL)) {
			hoist_strv_push(&bargs, v);
		} else if (OPT("--label", NULL)) {
			hoist_strv_push(&labels, v);
		} else if (OPT("--target", NULL)) {
			o.target = v;
		} else if (OPT("--platform", NULL)) {
			platform = v;
		} else if (OPT("--jobs", "-j")) {
			uint64_t nj;
			if (hoist_parse_u64(v, 1024, &nj) < 0 || nj == 0)
				return cli_usage_error(
				    "build", "--jobs needs a number from 1 to 1024, not '%s'", v);
			jobs = (unsigned)nj;
		} else if (OPT("--format", NULL)) {
			if (strcmp(v, "oci") != 0 && strcmp(v, "docker") != 0)
				return cli_usage_error("build",
						       "unknown format '%s' (oci or docker)", v);
			ifmt = strcmp(v, "docker") == 0 ? HOIST_INDEX_DOCKER : HOIST_INDEX_OCI;
		} else if (OPT("--compression", NULL)) {
			enum hoist_layer_compression c;
			if (hoist_layer_compression_parse(v, &c) < 0)
				return cli_usage_error(
				    "build", "unknown compression '%s' (gzip or zstd)", v);
			o.compression = (int)c;
		} else if (OPT("--compression-level", NULL)) {
			uint64_t lvl;
			if (hoist_parse_u64(v, 19, &lvl) < 0 || lvl == 0)
				return cli_usage_error("build", "bad --compression-level '%s'", v);
			o.compression_level = (int)lvl;
		} else if (OPT("--iidfile", NULL)) {
			iidfile = v;
		} else if (OPT("--progress", NULL)) {
			progress = v;
		} else if (OPT("--output", "-o")) {
			if (n_outs == ARRAY_SIZE(outs))
				return cli_usage_error("build", "too many --output options");
			if (parse_output(v, &outs[n_outs]) < 0)
				return cli_usage_error("build", "bad --output '%s'", v);
			n_outs++;
		} else if (missing) {
			return cli_usage_error("build", "option '%s' needs a value", a);
		} else if (a[0] == '-' && a[1]) {
			return cli_usage_error("build", "unknown option '%s'", a);
		} else if (!o.context_dir) {
			o.context_dir = a;
		} else {
			return cli_usage_error("build", "more than one context given");
		}
#undef OPT
	}
	if (o.compression != HOIST_LAYER_ZSTD && o.compression_level > 9)
		return cli_usage_error("build", "bad --compression-level %d (gzip: 1..9)",
				       o.compression_level);
	if (!o.context_dir) {
		rc = cli_usage_error("build", "no build context given");
		goto out_outs;
	}
	if (strcmp(progress, "plain") != 0 && strcmp(progress, "tty") != 0 &&
	    strcmp(progress, "auto") != 0 && strcmp(progress, "quiet") != 0) {
		rc = cli_usage_error("build", "bad --progress '%s'", progress);
		goto out_outs;
	}
	/* As in pull and run (and buildx): quiet is -q spelt as a progress mode. */
	if (strcmp(progress, "quiet") == 0)
		prog.quiet = true;
	prog.plain = true;
	prog.plain_set = strcmp(progress, "plain") == 0;
	if (prog.plain_set && !prog.quiet)
		o.output_fd = STDERR_FILENO;
	reg.progress_mode = prog.quiet ? "quiet" : prog.plain_set ? "plain" : "auto";
	o.pull = reg.opts.pull == HOIST_PULL_ALWAYS;
	o.registry = cli_registry_finish(&reg);
	hoist_strv_push(&secrets, "");
	secrets.n--;
	free(secrets.v[secrets.n]);
	secrets.v[secrets.n] = NULL;
	o.secrets = (const char *const *)secrets.v;
	if (platform) {
		if (hoist_build_platforms_parse(platform, plats, &n_plats, &err) < 0) {
			rc = cli_fail(&err);
			goto out_outs;
		}
		plat = plats[0];
		o.platform = &plat; /* one platform: one image, no index (as buildx) */
	}
	hoist_strv_push(&bargs, "");
	bargs.n--;
	hoist_strv_push(&labels, "");
	labels.n--;
	hoist_strv_push(&tags, "");
	tags.n--;
	free(bargs.v[bargs.n]);
	bargs.v[bargs.n] = NULL;
	free(labels.v[labels.n]);
	labels.v[labels.n] = NULL;
	free(tags.v[tags.n]);
	tags.v[tags.n] = NULL;
	o.build_args = (const char *const *)bargs.v;
	o.labels = (const char *const *)labels.v;
	o.tags = (const char *const *)tags.v;
	o.on_event = on_event;
	o.userdata = &prog;

	root = hoist_store_default_root(hoist_global.root);
	if (hoist_store_open(root, &s, &err) < 0) {
		rc = cli_fail(&err);
		goto out_outs;
	}
	if (n_plats > 1) {
		prog.multi = true;
		if (hoist_build_run_multi(s, &o, plats, n_plats, ifmt, jobs, &mres, &err) < 0) {
			rc = cli_fail(&err);
			goto out;
		}
		digest = mres.index.digest;
	} else {
		if (hoist_build_run(s, &o, &res, &err) < 0) {
			rc = cli_fail(&err);
			goto out;
		}
		digest = res.manifest.digest;
	}

	/* Names for the archives: the normalized tags. */
	for (size_t t = 0; t < tags.n; t++) {
		struct hoist_ref ref = {0};
		if (hoist_ref_parse(tags.v[t], &ref, NULL) == 0) {
			hoist_strv_take(&names, hoist_ref_string(&ref));
			hoist_ref_release(&ref);
		}
	}
	hoist_strv_push(&names, "");
	names.n--;
	free(names.v[names.n]);
	names.v[names.n] = NULL;
	for (size_t k = 0; k < n_outs; k++) {
		if (outs[k].registry) {
			push = push || !outs[k].dest;
			continue;
		}
		struct hoist_export_item item = {.names = (const char *const *)names.v};
		snprintf(item.digest, sizeof(item.digest), "%s", digest);
		if (hoist_oci_export(s, outs[k].fmt, outs[k].dest, &item, 1, &err) < 0) {
			rc = cli_fail(&err);
			goto out;
		}
	}
	/* --push / --output type=registry: every -t name (or name=REF). */
	for (size_t k = 0; k <= n_outs; k++) {
		const char *const *dests = NULL;
		const char *one[2] = {NULL, NULL};
		if (k == n_outs && push) {
			dests = (const char *const *)names.v;
			if (names.n == 0) {
				hoist_error_set(&err, -EINVAL, "--push needs a name (-t NAME)");
				rc = cli_fail(&err);
				goto out;
			}
		} else if (k < n_outs && outs[k].registry && outs[k].dest) {
			one[0] = outs[k].dest;
			dests = one;
		}
		for (; dests && *dests; dests++) {
			char pushed[HOIST_DIGEST_MAX];
			if (hoist_registry_push(s, o.registry, digest, *dests, pushed, &err) < 0) {
				cli_registry_done(&reg);
				rc = cli_fail(&err);
				goto out;
			}
			cli_registry_done(&reg);
			if (!prog.quiet)
				fprintf(stderr, "pushed %s %s\n", *dests, pushed);
		}
	}
	if (iidfile) {
		FILE *f = fopen(iidfile, "we");
		if (!f || fprintf(f, "%s", digest) < 0 || fclose(f) != 0) {
			fprintf(stderr, "hoist: writing '%s': %s\n", iidfile, strerror(errno));
			goto out;
		}
	}
	printf("%s\n", digest);
	rc = HOIST_EXIT_OK;
out:
	hoist_store_free(s);
out_outs:
	for (size_t k = 0; k < n_outs; k++)
		free(outs[k].dest);
	return rc;
}
