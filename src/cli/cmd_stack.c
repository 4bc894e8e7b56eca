/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hoist stack plan|build|info|test|tag-stable: datahub-style image stacks
 * (spec.yml + change_ignore.json); see docs/stack.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "hoist/stack.h"
#include "hoist/store.h"
#include "hoist/util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: hoist stack plan SPEC [--since REF | --all] [--only NAME]...\n"
		"       hoist stack build SPEC [--since REF | --all] [--only NAME]... [--push]\n"
		"                         [--jobs N] [--keep-going] [--log-dir DIR]\n"
		"       hoist stack info SPEC [-o FILE] [--only NAME]...\n"
		"       hoist stack test SPEC [--only NAME]...\n"
		"       hoist stack tag-stable SPEC [--only NAME]...\n\n"
		"Build a stack of images described by a datahub-docker-stack spec.yml: each\n"
		"image is the folder of its name next to the spec, built FROM its parent\n"
		"(depend_on) with BASE_IMAGE=<parent>, tagged image_name:<prefix>-<branch>.\n\n"
		"  plan        print what would be built and why, build nothing\n"
		"  build       build it, each parent before its children, independent\n"
		"              branches at the same time (--jobs); an image whose tag\n"
		"              already holds a build with the same input hash (label\n"
		"              org.hoist.input-hash; checked in the registry with --push,\n"
		"              else in the store) is not rebuilt\n"
		"  info        run each image's info_cmds in it; Markdown on stdout or -o\n"
		"  test        run the files of each image's test/ folder inside it\n"
		"  tag-stable  retag <tag> as 'stable' (and plans' tag_stable_postfix) in\n"
		"              the registry, without pulling layers\n\n"
		"Options:\n"
		"  --since REF        rebuild what changed since git REF (git diff --name-only\n"
		"                     REF, plus untracked files), their descendants, and all\n"
		"                     on a change to a BuildAll path of change_ignore.json\n"
		"  --all              rebuild everything (the default without --since)\n"
		"  --only NAME        just these images (repeatable)\n"
		"  --tag TAG          the tag to use (default: <tag.prefix>-<git branch>)\n"
		"  --plan NAME        take tag_prefix from this entry of plans:\n"
		"  --registry HOST    put HOST/ before every image_name (e.g. a test registry)\n"
		"  --push             push each image built (and check the registry first)\n"
		"  -j, --jobs N       build: images built at once, each in its own worker\n"
		"                     process (default: the online CPUs; 1: one at a time)\n"
		"  --keep-going       build: after a failure, go on with the images that do\n"
		"                     not depend on it (default: start nothing new)\n"
		"  --log-dir DIR      build: write each image's full log to DIR/NAME.log\n"
		"                     (default: STORE/logs/stack); a failure prints its tail\n"
		"  --no-cache         do not use the build cache\n"
		"  --pull[=WHEN]      FROM images: missing (default), always (--pull\n"
		"                     alone) or never\n"
		"  --platform P       build for P (default: host)\n"
		"  --network MODE     RUN network: host (default) or none\n"
		"  --identity MODE    sandbox identity: auto, root, subuid, single\n"
		"  --isolation RUNG   auto, sandbox, userns-shared-proc, in-place\n"
		"  --progress MODE    auto (images), plain (every instruction, each line\n"
		"                     prefixed [IMAGE]), quiet\n"
		"  -o, --output FILE  info: write the report to FILE\n\n"
		"Registry options:\n%s",
		cli_registry_options_help());
}

struct stack_cli {
	bool quiet, plain;
	size_t failed, not_started;
};

#define LOG_TAIL_LINES 20
#define LOG_TAIL_BYTES 16384

/* The last lines of an image's log, each as "[NAME] | line". */
static void print_log_tail(const char *name, const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	char buf[LOG_TAIL_BYTES + 1];
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return;
	off_t off = st.st_size > LOG_TAIL_BYTES ? st.st_size - LOG_TAIL_BYTES : 0;
	ssize_t n = pread(fd, buf, LOG_TAIL_BYTES, off);
	if (n <= 0)
		return;
	while (n > 0 && buf[n - 1] == '\n')
		n--;
	buf[n] = '\0';
	char *start = buf;
	int lines = 0;
	for (ssize_t i = n; i-- > 0;)
		if (buf[i] == '\n' && ++lines == LOG_TAIL_LINES) {
			start = buf + i + 1;
			break;
		}
	if (start == buf && off > 0) {
		/* cut mid-line: drop the partial first line */
		char *nl = strchr(buf, '\n');
		start = nl ? nl + 1 : buf;
	}
	fprintf(stderr, "[%s] last lines of %s:\n", name, path);
	for (char *line = start; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		fprintf(stderr, "[%s] | %s\n", name, line);
		line = nl ? nl + 1 : NULL;
	}
}

static void on_stack(const struct hoist_stack_event *ev, void *userdata)
{
	struct stack_cli *c = userdata;
	if (ev->kind == HOIST_STACK_EV_FAILED)
		c->failed++;
	else if (ev->kind == HOIST_STACK_EV_NOTSTARTED)
		c->not_started++;
	if (c->quiet && ev->kind != HOIST_STACK_EV_FAILED)
		return;
	switch (ev->kind) {
	case HOIST_STACK_EV_BUILD:
		fprintf(stderr, "[stack] build %s as %s (%s)\n", ev->image->name, ev->ref,
			ev->where);
		break;
	case HOIST_STACK_EV_BUILT:
		fprintf(stderr, "[stack] built %s %s\n", ev->image->name, ev->digest);
		break;
	case HOIST_STACK_EV_UPTODATE:
		fprintf(stderr, "[stack] up to date %s: %s in the %s has input hash %.19s\n",
			ev->image->name, ev->ref, ev->where, ev->input_hash);
		break;
	case HOIST_STACK_EV_PUSHED:
		fprintf(stderr, "[stack] pushed %s %s\n", ev->ref, ev->digest);
		break;
	case HOIST_STACK_EV_NOTBUILT:
		fprintf(stderr, "[stack] skip %s (not in the plan)\n", ev->image->name);
		break;
	case HOIST_STACK_EV_FAILED:
		fprintf(stderr, "[stack] failed %s: %s\n", ev->image->name, ev->message);
		if (ev->log)
			print_log_tail(ev->image->name, ev->log);
		break;
	case HOIST_STACK_EV_NOTSTARTED:
		fprintf(stderr, "[stack] not built %s: %s\n", ev->image->name, ev->message);
		break;
	}
}

static void on_build(const struct hoist_stack_image *img, const struct hoist_build_event *ev,
		     void *userdata)
{
	const struct stack_cli *c = userdata;
	/* A failed RUN's output tail: the image's log tail is printed with
	 * its failure instead. */
	if (ev->kind == HOIST_BUILD_EVENT_OUTPUT || c->quiet || !c->plain)
		return;
	if (ev->kind == HOIST_BUILD_EVENT_WARNING)
		fprintf(stderr, "[%s] warning: %s\n", img->name, ev->text);
	else if (ev->kind == HOIST_BUILD_EVENT_STEP && ev->step > 0)
		fprintf(stderr, "[%s] [%d/%d] %s%s\n", img->name, ev->step + 1, ev->n_steps,
			ev->cached ? "CACHED " : "", ev->text);
}

static void print_plan(const struct hoist_stack_spec *spec, const struct hoist_stack_plan *p,
		       const char *tag, const struct hoist_stack_opts *o)
{
	for (size_t k = 0; k < spec->n_images; k++) {
		size_t i = spec->order[k];
		enum hoist_stack_reason rs = p->reasons[i];
		bool build = rs != HOIST_STACK_SKIP && rs != HOIST_STACK_ONLY_SKIP;
		_cleanup_free_ char *ref = hoist_stack_ref(&spec->images[i], o, tag);
		printf("%-5s %-24s %s  %s%s%s\n", build ? "build" : "skip", spec->images[i].name,
		       ref, hoist_stack_reason_name(rs), p->why[i] ? ": " : "",
		       p->why[i] ? p->why[i] : "");
	}
	for (size_t i = 0; i < p->ignored.n; i++)
		printf("# ignored change %s\n", p->ignored.v[i]);
}

int cmd_stack(int argc, char **argv)
{
	struct cli_registry reg;
	struct hoist_stack_opts o;
	struct hoist_stack_spec spec = {0};
	struct hoist_stack_plan plan = {0};
	struct hoist_error err = {0};
	struct hoist_platform plat;
	struct stack_cli sc = {0};
	_cleanup_strv_ struct hoist_strv only = HOIST_STRV_INIT;
	const char *spec_path = NULL, *since = NULL, *output = NULL;
	bool all = false, has_plat = false;
	int ret = HOIST_EXIT_USAGE, r;

	if (argc < 2 || cli_is_help(argv[1])) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? HOIST_EXIT_USAGE : HOIST_EXIT_OK;
	}
	const char *sub = argv[1];
	static const char *const subs[] = {"plan", "build", "info", "test", "tag-stable"};
	size_t which;
	for (which = 0; which < ARRAY_SIZE(subs); which++)
		if (!strcmp(sub, subs[which]))
			break;
	if (which == ARRAY_SIZE(subs))
		return cli_usage_error(
		    "stack", "unknown subcommand '%s' (plan, build, info, test, tag-stable)", sub);

	hoist_stack_opts_init(&o);
	cli_registry_init(&reg);
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = NULL;
		if (cli_is_help(a)) {
			usage(stdout);
			ret = HOIST_EXIT_OK;
			goto out;
		}
		static const char *const valued[] = {
		    "--since",	  "--only",    "--tag",	     "--plan",	   "--registry",
		    "--platform", "--network", "--identity", "--progress", "--output",
		    "--jobs",	  "--log-dir", "--isolation"};
		size_t k;
		for (k = 0; k < ARRAY_SIZE(valued); k++) {
			r = cli_opt_value(argc, argv, &i, valued[k],
					  k == 9    ? "-o"
					  : k == 10 ? "-j"
						    : NULL,
					  &v);
			if (r < 0) {
				cli_usage_error("stack", "option '%s' needs a value", a);
				goto out;
			}
			if (r > 0)
				break;
		}
		switch (k) {
		case 0:
			since = v;
			continue;
		case 1:
			hoist_strv_push(&only, v);
			continue;
		case 2:
			o.tag = v;
			continue;
		case 3:
			o.plan_name = v;
			continue;
		case 4:
			o.registry_prefix = v;
			continue;
		case 5:
			if (hoist_platform_parse_known(v, &plat, &err) < 0) {
				cli_usage_error("stack", "%s", err.msg);
				goto out;
			}
			has_plat = true;
			continue;
		case 6:
			o.network = v;
			continue;
		case 7:
			o.identity = v;
			continue;
		case 8:
			sc.plain = !strcmp(v, "plain");
			sc.quiet = !strcmp(v, "quiet");
			if (!sc.plain && !sc.quiet && strcmp(v, "auto") && strcmp(v, "tty")) {
				cli_usage_error("stack", "unknown progress mode '%s'", v);
				goto out;
			}
			reg.progress_mode = sc.quiet ? "quiet" : "plain";
			continue;
		case 9:
			output = v;
			continue;
		case 10: {
			uint64_t jobs;
			if (hoist_parse_u64(v, 1024, &jobs) < 0 || jobs == 0) {
				cli_usage_error(
				    "stack", "--jobs needs a number from 1 to 1024, not '%s'", v);
				goto out;
			}
			o.jobs = (unsigned)jobs;
			continue;
		}
		case 11:
			o.log_dir = v;
			continue;
		case 12:
			o.isolation = v;
			continue;
		default:
			break;
		}
		if (!strcmp(a, "--all")) {
			all = true;
		} else if (!strcmp(a, "--push")) {
			o.push = true;
		} else if (!strcmp(a, "--keep-going")) {
			o.keep_going = true;
		} else if (!strcmp(a, "--no-cache")) {
			o.no_cache = true;
		} else if ((r = cli_pull_arg(&reg, "stack", argc, argv, &i)) != 0 ||
			   (r = cli_registry_arg(&reg, "stack", argc, argv, &i)) != 0) {
			if (r < 0)
				goto out;
		} else if (a[0] == '-' && a[1]) {
			cli_usage_error("stack", "unknown option '%s'", a);
			goto out;
		} else if (!spec_path) {
			spec_path = a;
		} else {
			cli_usage_error("stack", "too many arguments ('%s')", a);
			goto out;
		}
	}
	if (!spec_path) {
		cli_usage_error("stack", "no SPEC given");
		goto out;
	}
	if (all && since) {
		cli_usage_error("stack", "--all and --since exclude each other");
		goto out;
	}
	if (has_plat)
		o.platform = &plat;
	o.registry = cli_registry_finish(&reg);
	o.on_event = on_stack;
	o.on_build_event = on_build;
	o.userdata = &sc;
	ret = HOIST_EXIT_FAIL;

	if (hoist_stack_spec_load(spec_path, &spec, &err) < 0) {
		cli_fail(&err);
		goto out;
	}
	const char *const *onlyv = only.n ? (const char *const *)only.v : NULL;
	if (which <= 1) {
		struct hoist_strv changed = HOIST_STRV_INIT;
		if (since && hoist_stack_git_changed(spec.dir, since, &changed, &err) < 0) {
			hoist_strv_release(&changed);
			cli_fail(&err);
			goto out;
		}
		r = hoist_stack_plan(&spec, since ? &changed : NULL, onlyv, &plan, &err);
		hoist_strv_release(&changed);
		if (r < 0) {
			cli_fail(&err);
			goto out;
		}
	}
	if (which == 0) {
		_cleanup_free_ char *tag = NULL;
		if (hoist_stack_tag(&spec, &o, &tag, &err) < 0) {
			cli_fail(&err);
			goto out;
		}
		print_plan(&spec, &plan, tag, &o);
		ret = HOIST_EXIT_OK;
		goto out;
	}
	struct hoist_store *s = cli_store_open();
	if (!s)
		goto out;
	struct hoist_buf out = HOIST_BUF_INIT;
	fflush(NULL);
	if (which == 1) {
		size_t built = 0;
		r = hoist_stack_build(s, &spec, &plan, &o, &built, &err);
		if (r == 0 && !sc.quiet)
			fprintf(stderr, "[stack] %zu image%s built\n", built,
				built == 1 ? "" : "s");
		else if (sc.failed)
			fprintf(stderr, "[stack] %zu image%s built, %zu failed, %zu not built\n",
				built, built == 1 ? "" : "s", sc.failed, sc.not_started);
	} else if (which == 2) {
		r = hoist_stack_info(s, &spec, &o, onlyv, &out, &err);
	} else if (which == 3) {
		r = hoist_stack_test(s, &spec, &o, onlyv, &out, &err);
	} else {
		r = hoist_stack_tag_stable(&spec, &o, onlyv, &out, &err);
	}
	hoist_store_free(s);
	if (out.data) {
		if (which == 2 && output) {
			_cleanup_close_ int fd =
			    open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
			if (fd < 0 || hoist_write_all(fd, out.data, out.len) < 0) {
				hoist_error_set(&err, -errno, "cannot write '%s'", output);
				r = -EIO;
			}
		} else {
			fwrite(out.data, 1, out.len, stdout);
		}
	}
	hoist_buf_release(&out);
	if (r < 0) {
		cli_fail(&err);
		goto out;
	}
	ret = HOIST_EXIT_OK;
out:
	hoist_stack_plan_release(&plan);
	hoist_stack_spec_release(&spec);
	cli_registry_release(&reg);
	return ret;
}
