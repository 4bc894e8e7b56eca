/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the stack spec parser, path matching and planning. */
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "hoist/stack.h"

static int parse(const char *text, struct hoist_stack_spec *spec, struct hoist_error *err)
{
	hoist_stack_spec_release(spec);
	hoist_error_clear(err);
	return hoist_stack_spec_parse(text, strlen(text), "spec.yml", spec, err);
}

static const char *plan_str(const struct hoist_stack_spec *spec, const char *const *changed,
			    const char *const *only, char *buf, size_t size)
{
	struct hoist_strv ch = HOIST_STRV_INIT;
	struct hoist_stack_plan p;
	struct hoist_error err = {0};
	for (const char *const *c = changed; c && *c; c++)
		hoist_strv_push(&ch, *c);
	buf[0] = '\0';
	if (hoist_stack_plan(spec, changed ? &ch : NULL, only, &p, &err) < 0) {
		snprintf(buf, size, "error: %.200s", err.msg);
	} else {
		size_t off = 0;
		for (size_t k = 0; k < spec->n_images; k++) {
			size_t i = spec->order[k];
			if (p.reasons[i] != HOIST_STACK_SKIP &&
			    p.reasons[i] != HOIST_STACK_ONLY_SKIP)
				off += (size_t)snprintf(buf + off, size - off, "%s ",
							spec->images[i].name);
		}
		hoist_stack_plan_release(&p);
	}
	hoist_strv_release(&ch);
	return buf;
}

int main(void)
{
	struct hoist_stack_spec spec = {0};
	struct hoist_error err = {0};
	char buf[512];
	tap_plan_auto();

	/* the datahub repository's own spec, in place */
	static const char datahub[] = "dockerfiles/ucsd-ets/datahub-docker-stack/images/spec.yml";
	const char *corp = tap_corpora(datahub);
	char *path = hoist_xasprintf("%s/%s", corp, datahub);
	int r = hoist_stack_spec_load(path, &spec, &err);
	tap_ok(r == 0 && spec.n_images == 3, "datahub images/spec.yml loads (%s)", err.msg);
	if (r == 0) {
		int rs = hoist_stack_find(&spec, "rstudio-notebook");
		tap_ok(rs >= 0 && spec.images[rs].parent ==
				      (size_t)hoist_stack_find(&spec, "datascience-notebook"),
		       "depend_on links the parent");
		tap_ok(spec.images[rs].prune && spec.images[rs].integration_tests,
		       "prune, integration_tests");
		tap_ok(spec.tag_prefix && !strcmp(spec.tag_prefix, "2026.3"), "tag.prefix");
		tap_ok(spec.n_info_cmds == 6 && spec.build_all.n == 4 && spec.change_ignore.n == 0,
		       "all_info_cmds and change_ignore.json");
		int ds = hoist_stack_find(&spec, "datascience-notebook");
		tap_ok(spec.images[ds].build_args.n == 3 &&
			   !strcmp(spec.images[ds].build_args.v[1], "PY_VER_SHORT=3.11"),
		       "build_args as K=V");
	}
	free(path);

	const char *s1 = "images:\n"
			 "  leaf:\n    image_name: x/leaf\n    depend_on: branch\n"
			 "  base:\n    image_name: x/base\n    manifests: [OS]\n"
			 "  branch:\n    image_name: x/branch\n    depend_on: [base]\n"
			 "  other:\n    image_name: x/other\n    depend_on: base\n"
			 "plans:\n  P:\n    tag_prefix: 2021.3\n    tag_stable_postfix: -stable\n"
			 "manifests:\n  OS:\n    description: OS Name\n    command: uname -o\n";
	tap_ok(parse(s1, &spec, &err) == 0, "legacy spec (manifests, depend_on list) %s", err.msg);
	tap_ok(spec.order && !strcmp(spec.images[spec.order[0]].name, "base") &&
		   !strcmp(spec.images[spec.order[3]].name, "leaf"),
	       "order: parents first");
	tap_ok(spec.n_plans == 1 && !strcmp(spec.plans[0].tag_prefix, "2021.3"), "plans");
	hoist_strv_push(&spec.build_all, "spec.yml");
	hoist_strv_push(&spec.build_all, "tests_common");
	hoist_strv_push(&spec.change_ignore, "*.md");

	const char *none[] = {NULL};
	tap_ok(!strcmp(plan_str(&spec, NULL, NULL, buf, sizeof(buf)), "base branch other leaf "),
	       "no change list: everything");
	tap_ok(!strcmp(plan_str(&spec, none, NULL, buf, sizeof(buf)), ""), "empty change list");
	const char *c1[] = {"leaf/Dockerfile", NULL};
	tap_ok(!strcmp(plan_str(&spec, c1, NULL, buf, sizeof(buf)), "leaf "), "leaf");
	const char *c2[] = {"branch/x/y", NULL};
	tap_ok(!strcmp(plan_str(&spec, c2, NULL, buf, sizeof(buf)), "branch leaf "), "branch");
	const char *c3[] = {"base/a", NULL};
	tap_ok(!strcmp(plan_str(&spec, c3, NULL, buf, sizeof(buf)), "base branch other leaf "),
	       "root");
	const char *c4[] = {"../tests_common/conftest.py", NULL};
	tap_ok(!strcmp(plan_str(&spec, c4, NULL, buf, sizeof(buf)), "base branch other leaf "),
	       "BuildAll outside the spec folder");
	const char *c5[] = {"leaf/README.md", "branch/docs/x.md", NULL};
	tap_ok(!strcmp(plan_str(&spec, c5, NULL, buf, sizeof(buf)), ""), "ChangeIgnore");
	const char *c6[] = {"leafy/a", "../leaf/a", "spec.yml.bak", NULL};
	tap_ok(!strcmp(plan_str(&spec, c6, NULL, buf, sizeof(buf)), ""),
	       "near misses are not matches");
	const char *only[] = {"other", NULL};
	tap_ok(!strcmp(plan_str(&spec, c3, only, buf, sizeof(buf)), "other "), "--only");
	tap_ok(!strcmp(plan_str(&spec, none, only, buf, sizeof(buf)), "other "),
	       "--only forces an unchanged image");
	const char *bad_only[] = {"nope", NULL};
	tap_ok(hoist_startswith(plan_str(&spec, none, bad_only, buf, sizeof(buf)), "error"),
	       "--only of an unknown image");

	tap_ok(hoist_stack_path_match("spec.yml", "spec.yml") &&
		   hoist_stack_path_match("spec.yml", "images/spec.yml") &&
		   hoist_stack_path_match("tests_common", "../tests_common/a/b.py") &&
		   hoist_stack_path_match("a/b", "x/a/b/c") &&
		   !hoist_stack_path_match("a/b", "x/a/bc") &&
		   !hoist_stack_path_match("spec.yml", "spec.yml.bak") &&
		   !hoist_stack_path_match("", "x"),
	       "path matching by components");

	tap_ok(parse("images:\n  a:\n    image_name: x/a\n    depend_on: b\n", &spec, &err) ==
		       -EBADMSG &&
		   err.line == 3 && strstr(err.msg, "names no image"),
	       "unknown parent, with its line (%d: %s)", err.line, err.msg);
	tap_ok(parse("images:\n  a:\n    image_name: x/a\n    depend_on: b\n"
		     "  b:\n    image_name: x/b\n    depend_on: a\n",
		     &spec, &err) == -EBADMSG &&
		   strstr(err.msg, "cycle"),
	       "cycle");
	tap_ok(parse("images:\n  a:\n    depend_on: b\n", &spec, &err) == -EBADMSG,
	       "missing image_name");
	tap_ok(parse("images:\n  a:\n    image_name: X/A\n", &spec, &err) == -EBADMSG &&
		   err.line == 3,
	       "upper-case image_name");
	tap_ok(parse("images:\n  a:\n    image_name: x/a:tag\n", &spec, &err) == -EBADMSG,
	       "image_name with a tag");
	tap_ok(parse("images:\n  ../a:\n    image_name: x/a\n", &spec, &err) == -EBADMSG,
	       "image key that is not a folder name");
	tap_ok(parse("images:\n  a:\n    image_name: x/a\n    info_cmds: [NOPE]\n", &spec, &err) ==
		   -EBADMSG,
	       "info command missing from all_info_cmds");
	tap_ok(parse("images: [\n", &spec, &err) == -EBADMSG && err.line >= 1, "bad YAML");
	tap_ok(parse("- a\n", &spec, &err) == -EBADMSG, "not a mapping");
	struct hoist_buf deep = HOIST_BUF_INIT;
	hoist_buf_adds(&deep, "images: {}\nx: ");
	for (int i = 0; i < 100; i++)
		hoist_buf_adds(&deep, "[");
	for (int i = 0; i < 100; i++)
		hoist_buf_adds(&deep, "]");
	tap_ok(parse(deep.data, &spec, &err) == -EBADMSG && strstr(err.msg, "nesting"),
	       "depth bound");
	hoist_buf_release(&deep);
	struct hoist_buf laugh = HOIST_BUF_INIT;
	hoist_buf_adds(&laugh, "images: {}\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
	for (int i = 1; i < 20; i++)
		hoist_buf_addf(&laugh,
			       "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i,
			       i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
	tap_ok(parse(laugh.data, &spec, &err) == -EBADMSG, "alias blow-up is bounded");
	hoist_buf_release(&laugh);

	const char *ci = "{\"BuildAll\": [\"a\"], \"ChangeIgnore\": [\"b\", \"c\"]}";
	hoist_stack_spec_release(&spec);
	tap_ok(hoist_stack_change_ignore_parse(ci, strlen(ci), "ci.json", &spec, &err) == 0 &&
		   spec.build_all.n == 1 && spec.change_ignore.n == 2,
	       "change_ignore.json");
	tap_ok(hoist_stack_change_ignore_parse("{\"BuildAll\": 3}", 15, "ci.json", &spec, &err) ==
		   -EBADMSG,
	       "change_ignore.json: wrong type");
	hoist_stack_spec_release(&spec);
	return tap_done();
}
