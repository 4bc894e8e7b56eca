/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hoist run [OPTIONS] IMAGE [CMD...]: run a command in an image with the
 * build sandbox, applying the image config as `docker run` does, and exit
 * with the command's status (125: the sandbox failed, 126: the command
 * cannot be executed, 127: not found — Docker's codes).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "hoist/oci.h"
#include "hoist/ref.h"
#include "hoist/sandbox.h"
#include "hoist/store.h"
#include "hoist/util.h"

#define EXIT_SANDBOX 125

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hoist run [OPTIONS] IMAGE [COMMAND [ARG...]]\n\n"
		"Run a command in an image, in the same rootless sandbox as RUN steps.\n\n"
		"Options:\n"
		"  -e, --env K=V          set an environment variable (K alone: take ours)\n"
		"  -v, --volume H:C[:ro]  bind-mount host path H at C (read-write unless :ro)\n"
		"  -w, --workdir DIR      working directory inside the container\n"
		"  -u, --user USER        user[:group] (names from the image's /etc/passwd)\n"
		"      --entrypoint CMD   override the image's entrypoint\n"
		"      --network MODE     host (default) or none (loopback only)\n"
		"      --hostname NAME    the container's host name\n"
		"      --rm               accepted for compatibility: nothing is kept anyway\n"
		"      --identity MODE    auto (default), root, subuid or single\n"
		"      --isolation RUNG   auto (default; also HOIST_ISOLATION), sandbox,\n"
		"                         userns-shared-proc or in-place (docs/sandbox.md)\n"
		"      --platform P       os/arch[/variant] (default: the image's; foreign\n"
		"                         ones run under qemu-user, see docs/multiarch.md)\n"
		"      --commit NAME      save the changes as a new image tagged NAME\n"
		"      --progress MODE    plain: report the sandbox set-up; quiet (default)\n"
		"      --pull[=WHEN]      missing (default: pull IMAGE when it is not in\n"
		"                         the store), always (--pull alone) or never\n"
		"      --offline          never contact a registry (also HOIST_OFFLINE=1)\n"
		"      --registries-conf FILE  registries.conf to pull through (docs/airgap.md)\n"
		"      --insecure-registry HOST, --tls-ca FILE  as for hoist pull\n"
		"  -h, --help             print this help\n");
}

static void log_plain(const char *msg, void *ud)
{
	(void)ud;
	fprintf(stderr, "#0 %s\n", msg);
}

static void log_debug(const char *msg, void *ud)
{
	hoist_log(1, "%s", msg);
}

/* Append the strings of a JSON array. */
static void push_json_strings(struct hoist_strv *v, const json_t *a)
{
	size_t i;
	json_t *x;
	json_array_foreach(a, i, x) if (json_is_string(x)) hoist_strv_push(v, json_string_value(x));
}

static int commit_image(struct hoist_store *s, const struct hoist_image *base,
			const struct hoist_sandbox_result *res, const char *name,
			const char *const *argv, struct hoist_error *err)
{
	struct hoist_image img;
	struct hoist_ref ref = {0};
	struct hoist_descriptor man;
	char now[64];
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);

	int r = hoist_ref_parse(name, &ref, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *full = hoist_ref_string(&ref);
	hoist_ref_release(&ref);
	struct hoist_buf by = HOIST_BUF_INIT;
	hoist_buf_adds(&by, "hoist run");
	for (const char *const *a = argv; *a; a++)
		hoist_buf_addf(&by, " %s", *a);
	hoist_image_copy(&img, base);
	hoist_image_add_layer(&img, &res->layer, res->diff_id);
	hoist_image_add_history(&img, now, by.data, false);
	hoist_buf_release(&by);
	r = hoist_image_commit(s, &img, &man, err);
	if (r == 0)
		r = hoist_store_tag_set(s, full, man.digest, err);
	hoist_image_release(&img);
	return r;
}

/*
 * An index without this machine's platform, or whose entry for it was not
 * pulled: say which platforms there are and how to get one. True when the
 * message was printed (`digest` is an index).
 */
static bool no_platform(struct hoist_store *s, const char *name, const char *digest,
			const struct hoist_platform *want)
{
	_cleanup_strv_ struct hoist_strv pulled = HOIST_STRV_INIT;
	_cleanup_strv_ struct hoist_strv absent = HOIST_STRV_INIT;
	struct hoist_platform host;
	char pf[96];
	if (hoist_index_platforms(s, digest, &pulled, &absent, NULL) != 1)
		return false;
	if (!want)
		hoist_platform_host(&host);
	hoist_platform_format(want ? want : &host, pf, sizeof(pf));
	bool listed = false;
	for (size_t i = 0; i < absent.n; i++)
		listed |= !strcmp(absent.v[i], pf);
	struct hoist_buf m = HOIST_BUF_INIT;
	hoist_buf_addf(&m, "image '%s' has no %s image%s: ", name, pf,
		       listed ? " in the store" : "");
	for (size_t i = 0; i < pulled.n; i++)
		hoist_buf_addf(&m, "%s%s", i ? ", " : "it holds ", pulled.v[i]);
	if (!pulled.n)
		hoist_buf_adds(&m, "none of its platforms was pulled");
	for (size_t i = 0; i < absent.n; i++)
		hoist_buf_addf(&m, "%s%s", i ? ", " : " (not pulled: ", absent.v[i]);
	if (absent.n)
		hoist_buf_adds(&m, ")");
	if (pulled.n)
		hoist_buf_addf(&m, "; run one with 'hoist run --platform %s %s'", pulled.v[0],
			       name);
	if (listed)
		hoist_buf_addf(&m, "%s'hoist pull --platform %s %s' fetches this one",
			       pulled.n ? ", or " : "; ", pf, name);
	fprintf(stderr, "hoist: %s\n", m.data);
	hoist_buf_release(&m);
	return true;
}

/*
 * The image to run: from the store, pulled first with --pull always, or
 * when missing (docker run's --pull missing), never with --pull never. The
 * pull has joined its threads when this returns: the sandbox clones next.
 */
static int resolve_or_pull(struct hoist_store *s, struct cli_registry *reg, const char *name,
			   const struct hoist_platform *plat, bool plain,
			   char digest[HOIST_DIGEST_MAX], struct hoist_error *err)
{
	struct hoist_pull_result res;
	struct hoist_error e2 = {0};
	int r;

	if (reg->opts.pull != HOIST_PULL_ALWAYS) {
		r = hoist_store_resolve(s, name, digest, &e2);
		if (r == -ENOENT && reg->opts.pull == HOIST_PULL_NEVER)
			return hoist_error_set(err, r,
					       "no such image '%s' in the store and --pull is 'never': "
					       "'hoist pull %s' or 'hoist load' brings it",
					       name, name);
		if (r != -ENOENT) {
			if (r < 0 && err)
				*err = e2;
			return r;
		}
	}
	reg->progress_mode = plain ? "plain" : "quiet";
	r = hoist_registry_pull(s, cli_registry_finish(reg), name, plat, &res, err);
	cli_registry_done(reg);
	if (r < 0)
		return r;
	return hoist_store_resolve(s, name, digest, err);
}

int cmd_run(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"env", required_argument, NULL, 'e'},
	    {"volume", required_argument, NULL, 'v'},
	    {"workdir", required_argument, NULL, 'w'},
	    {"user", required_argument, NULL, 'u'},
	    {"network", required_argument, NULL, 'N'},
	    {"net", required_argument, NULL, 'N'},
	    {"hostname", required_argument, NULL, 'H'},
	    {"entrypoint", required_argument, NULL, 'E'},
	    {"rm", no_argument, NULL, 'R'},
	    {"identity", required_argument, NULL, 'I'},
	    {"isolation", required_argument, NULL, 'Z'},
	    {"commit", required_argument, NULL, 'C'},
	    {"progress", required_argument, NULL, 'P'},
	    {"platform", required_argument, NULL, 'T'},
	    {"pull", optional_argument, NULL, 'p'},
	    {"offline", no_argument, NULL, 'O'},
	    {"registries-conf", required_argument, NULL, 'G'},
	    {"insecure-registry", required_argument, NULL, 'K'},
	    {"tls-ca", required_argument, NULL, 'L'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	_cleanup_strv_ struct hoist_strv envopts = HOIST_STRV_INIT;
	struct hoist_sandbox_mount mounts[64];
	_cleanup_strv_ struct hoist_strv mstr = HOIST_STRV_INIT;
	size_t n_mounts = 0;
	const char *workdir = NULL, *user = NULL, *hostname = NULL, *entrypoint = NULL;
	const char *commit = NULL, *platform_opt = NULL, *isolation_opt = NULL;
	enum hoist_isolation iso_want;
	struct hoist_isolation_choice iso;
	enum hoist_net_mode net = HOIST_NET_HOST;
	enum hoist_idmode want = HOIST_IDMODE_AUTO;
	bool plain = false;
	struct cli_registry reg __attribute__((cleanup(cli_registry_release)));
	int c, word = 1;

	cli_registry_init(&reg);

	optind = 1;
	opterr = 0;
	/* `word`: the argument getopt is reading (optind moves past a cluster
	 * such as -it only after its last letter), for the error messages. */
	for (; (c = getopt_long(argc, argv, "+:e:v:w:u:h", longopts, NULL)) != -1; word = optind) {
		switch (c) {
		case 'e':
			if (strchr(optarg, '=')) {
				hoist_strv_push(&envopts, optarg);
			} else if (getenv(optarg)) {
				_cleanup_free_ char *kv =
				    hoist_xasprintf("%s=%s", optarg, getenv(optarg));
				hoist_strv_push(&envopts, kv);
			}
			break;
		case 'v': {
			if (n_mounts >= ARRAY_SIZE(mounts))
				return cli_usage_error("run", "too many volumes");
			char *spec = hoist_xstrdup(optarg);
			hoist_strv_take(&mstr, spec);
			char *c1 = strchr(spec, ':');
			char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
			if (!c1 || spec[0] != '/' || c1[1] != '/')
				return cli_usage_error(
				    "run", "volume '%s': want HOST:CONTAINER[:ro]", optarg);
			*c1 = '\0';
			if (c2)
				*c2++ = '\0';
			if (c2 && strcmp(c2, "ro") != 0 && strcmp(c2, "rw") != 0)
				return cli_usage_error("run", "volume '%s': unknown option '%s'",
						       optarg, c2);
			mounts[n_mounts++] = (struct hoist_sandbox_mount){
			    .type = HOIST_MOUNT_BIND,
			    .source = spec,
			    .target = c1 + 1,
			    .rw = !(c2 && strcmp(c2, "ro") == 0),
			};
			break;
		}
		case 'w':
			workdir = optarg;
			break;
		case 'u':
			user = optarg;
			break;
		case 'N':
			if (strcmp(optarg, "host") == 0 || strcmp(optarg, "default") == 0)
				net = HOIST_NET_HOST;
			else if (strcmp(optarg, "none") == 0)
				net = HOIST_NET_NONE;
			else
				return cli_usage_error("run", "unknown network '%s' (host or none)",
						       optarg);
			break;
		case 'H':
			hostname = optarg;
			break;
		case 'E':
			entrypoint = optarg;
			break;
		case 'R':
			break;
		case 'I':
			if (hoist_idmode_parse(optarg, &want) < 0)
				return cli_usage_error("run", "unknown identity mode '%s'", optarg);
			break;
		case 'C':
			commit = optarg;
			break;
		case 'T':
			platform_opt = optarg;
			break;
		case 'Z':
			isolation_opt = optarg;
			break;
		case 'P':
			if (strcmp(optarg, "plain") == 0)
				plain = true;
			else if (strcmp(optarg, "quiet") == 0 || strcmp(optarg, "auto") == 0)
				plain = false;
			else
				return cli_usage_error("run", "unknown progress mode '%s'", optarg);
			break;
		case 'p': {
			/* --pull, --pull=WHEN, or --pull WHEN when WHEN is one of the words */
			char *pv[3] = {NULL, NULL, NULL};
			int k = 0;
			pv[0] =
			    optarg ? hoist_xasprintf("--pull=%s", optarg) : hoist_xstrdup("--pull");
			if (!optarg && optind < argc)
				pv[1] = argv[optind];
			int pr = cli_pull_arg(&reg, "run", pv[1] ? 2 : 1, pv, &k);
			free(pv[0]);
			if (pr < 0)
				return HOIST_EXIT_USAGE;
			optind += k;
			break;
		}
		case 'O':
			reg.opts.offline = true;
			break;
		case 'G':
			reg.opts.registries_conf = optarg;
			break;
		case 'K':
			hoist_strv_push(&reg.insecure, optarg);
			break;
		case 'L':
			reg.opts.tls_ca = optarg;
			break;
		case 'h':
			usage(stdout);
			return HOIST_EXIT_OK;
		case ':':
			return cli_unknown_option("run", argv[word], true, longopts, "evwuh", NULL);
		default: {
			/* docker run -i/-t: what hoist run always does anyway. */
			const char *a = argv[word];
			bool it = strspn(a + 1, "it") == strlen(a + 1) ||
				  !strcmp(a, "--interactive") || !strcmp(a, "--tty");
			return cli_unknown_option(
			    "run", a, false, longopts, "evwuh",
			    it ? "the command always gets hoist's stdin, stdout and stderr" : NULL);
		}
		}
	}
	if (optind >= argc)
		return cli_usage_error("run", "no image given");
	const char *image_name = argv[optind++];

	struct hoist_error err = {0};
	struct hoist_store *s = NULL;
	struct hoist_image img;
	struct hoist_image_run ir = {0};
	struct hoist_idmap idmap;
	_cleanup_strv_ struct hoist_strv args = HOIST_STRV_INIT;
	_cleanup_free_ char *root = hoist_store_default_root(hoist_global.root);
	char digest[HOIST_DIGEST_MAX] = "";
	int ret = EXIT_SANDBOX, r;

	struct hoist_platform plat;
	bool have_plat = false;
	if (platform_opt) {
		if (hoist_platform_parse_known(platform_opt, &plat, &err) < 0) {
			cli_fail(&err);
			return HOIST_EXIT_USAGE;
		}
		have_plat = true;
	}
	hoist_image_init(&img);
	if ((r = hoist_store_open(root, &s, &err)) < 0 ||
	    (r = resolve_or_pull(s, &reg, image_name, have_plat ? &plat : NULL, plain, digest,
				 &err)) < 0 ||
	    (r = hoist_image_load(s, digest, have_plat ? &plat : NULL, &img, &err)) < 0) {
		if (r != -ENOENT || !s ||
		    !no_platform(s, image_name, digest, have_plat ? &plat : NULL))
			cli_fail(&err);
		goto out;
	}
	/* Without --platform the image's own platform decides: `hoist run`
	 * of an arm64 image goes through qemu by itself. */
	if (!have_plat && hoist_index_config_platform(img.config, &plat, NULL, NULL) == 0)
		have_plat = true;
	const json_t *cfg = json_object_get(img.config, "config");
	if ((r = hoist_isolation_parse(isolation_opt, &iso_want, &err)) < 0 ||
	    (r = hoist_isolation_pick(iso_want, want, &iso, &idmap, &err)) < 0 ||
	    (r = hoist_image_run_prepare(s, &idmap, &img, user, (const char *const *)envopts.v,
					 workdir, &ir, &err)) < 0) {
		hoist_error_prefix(&err, "image '%s'", image_name);
		cli_fail(&err);
		goto out;
	}

	/* docker run: Entrypoint + (our args, else the image's Cmd). */
	if (entrypoint) {
		if (*entrypoint)
			hoist_strv_push(&args, entrypoint);
	} else {
		push_json_strings(&args, json_object_get(cfg, "Entrypoint"));
	}
	if (optind < argc)
		for (int i = optind; i < argc; i++)
			hoist_strv_push(&args, argv[i]);
	else if (!entrypoint)
		push_json_strings(&args, json_object_get(cfg, "Cmd"));
	if (args.n == 0) {
		hoist_error_set(&err, -EINVAL, "no command specified");
		cli_fail(&err);
		goto out;
	}

	struct hoist_sandbox_opts o;
	hoist_sandbox_opts_init(&o);
	hoist_image_run_apply(&ir, &idmap, &o);
	o.argv = (const char *const *)args.v;
	o.net = net;
	o.hostname = hostname;
	o.mounts = mounts;
	o.n_mounts = n_mounts;
	o.stdin_fd = 0;
	o.stdout_fd = 1;
	o.stderr_fd = 2;
	o.want_layer = commit != NULL;
	o.log = plain ? log_plain : log_debug;
	o.platform = have_plat ? &plat : NULL;
	o.isolation = iso.rung;
	{
		char line[800];
		snprintf(line, sizeof(line), "isolation: %s (%s)", hoist_isolation_name(iso.rung),
			 iso.reason);
		o.log(line, NULL);
	}

	struct hoist_sandbox_result res;
	fflush(NULL);
	r = hoist_sandbox_run(s, &o, &res, &err);
	if (r < 0) {
		cli_fail(&err);
		ret = r == -ENOENT ? 127 : r == -EACCES ? 126 : EXIT_SANDBOX;
		goto out;
	}
	ret = res.exit_status;
	if (res.term_signal && res.emulator.name[0]) {
		char what[256];
		hoist_sandbox_describe_exit(&res, what, sizeof(what));
		fprintf(stderr, "hoist: %s %s\n", o.argv[0], what);
	}
	if (commit && res.has_layer) {
		if (commit_image(s, &img, &res, commit, o.argv, &err) < 0) {
			cli_fail(&err);
			ret = EXIT_SANDBOX;
		} else if (plain) {
			fprintf(stderr, "#0 committed %s as '%s'\n", res.diff_id, commit);
		}
	} else if (commit) {
		fprintf(stderr, "hoist: command failed with status %d: nothing committed\n", ret);
	}
out:
	hoist_image_run_release(&ir);
	hoist_image_release(&img);
	hoist_store_free(s);
	return ret;
}
