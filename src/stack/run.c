/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hoist stack info / test / tag-stable: commands run inside built images
 * through the sandbox (as `hoist run` does), and registry retags.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hoist/ref.h"
#include "hoist/registry.h"
#include "hoist/sandbox.h"
#include "hoist/stack.h"

#define INFO_OUTPUT_MAX ((size_t)1 << 20)
#define MAX_BINDS 16

int hoist_stack_exec(struct hoist_store *s, const char *name, const char *const *argv,
		     const char *const *binds, int stdout_fd, int stderr_fd, int *ret_status,
		     struct hoist_error *err)
{
	struct hoist_image img;
	struct hoist_image_run ir = {0};
	struct hoist_idmap idmap;
	struct hoist_sandbox_mount mounts[MAX_BINDS];
	size_t n_mounts = 0;
	struct hoist_strv bindstr = HOIST_STRV_INIT;
	char digest[HOIST_DIGEST_MAX];
	int r;

	hoist_image_init(&img);
	if ((r = hoist_store_resolve(s, name, digest, err)) < 0 ||
	    (r = hoist_image_load(s, digest, NULL, &img, err)) < 0)
		goto out;
	for (const char *const *b = binds; b && *b; b++) {
		if (n_mounts >= MAX_BINDS) {
			r = hoist_error_set(err, -E2BIG, "more than %d bind mounts", MAX_BINDS);
			goto out;
		}
		char *spec = hoist_xstrdup(*b);
		hoist_strv_take(&bindstr, spec);
		char *c = strchr(spec, ':');
		if (!c || c[1] != '/') {
			r = hoist_error_set(err, -EINVAL, "bind '%s': want HOST:CONTAINER", *b);
			goto out;
		}
		*c = '\0';
		mounts[n_mounts++] = (struct hoist_sandbox_mount){
		    .type = HOIST_MOUNT_BIND, .source = spec, .target = c + 1, .rw = false};
	}
	/* The rung $HOIST_ISOLATION names, else the first that works. */
	enum hoist_isolation iso_want;
	struct hoist_isolation_choice iso;
	if ((r = hoist_isolation_parse(NULL, &iso_want, err)) < 0 ||
	    (r = hoist_isolation_pick(iso_want, HOIST_IDMODE_AUTO, &iso, &idmap, err)) < 0 ||
	    (r = hoist_image_run_prepare(s, &idmap, &img, NULL, NULL, NULL, &ir, err)) < 0) {
		hoist_error_prefix(err, "image '%s'", name);
		goto out;
	}
	struct hoist_sandbox_opts so;
	hoist_sandbox_opts_init(&so);
	hoist_image_run_apply(&ir, &idmap, &so);
	so.argv = argv;
	so.mounts = mounts;
	so.n_mounts = n_mounts;
	so.stdin_fd = -1;
	so.stdout_fd = stdout_fd;
	so.stderr_fd = stderr_fd;
	so.isolation = iso.rung;
	struct hoist_sandbox_result res;
	r = hoist_sandbox_run(s, &so, &res, err);
	if (r == 0)
		*ret_status = res.exit_status;
out:
	hoist_image_run_release(&ir);
	hoist_image_release(&img);
	hoist_strv_release(&bindstr);
	return r;
}

static bool selected(const char *const *only, const char *name)
{
	if (!only || !only[0])
		return true;
	for (const char *const *o = only; *o; o++)
		if (!strcmp(*o, name))
			return true;
	return false;
}

/* The image's ref in the store, pulled when missing and a registry is set. */
static int local_ref(struct hoist_store *s, const struct hoist_stack_opts *o, const char *ref,
		     struct hoist_error *err)
{
	char dg[HOIST_DIGEST_MAX];
	struct hoist_error e2 = {0};
	if (hoist_store_resolve(s, ref, dg, &e2) == 0)
		return 0;
	if (!o->registry)
		return hoist_error_set(err, -ENOENT, "image '%s' not found in the store", ref);
	int r = hoist_registry_pull(s, o->registry, ref, o->platform, NULL, err);
	return r < 0 ? hoist_error_prefix(err, "pulling '%s'", ref) : 0;
}

/* Read all of fd (from offset 0) into b, at most max bytes; note truncation. */
static void slurp(int fd, struct hoist_buf *b, size_t max)
{
	char buf[16384];
	size_t total = 0;
	ssize_t k;
	lseek(fd, 0, SEEK_SET);
	while ((k = read(fd, buf, sizeof(buf))) > 0) {
		size_t take = (size_t)k;
		if (total + take > max)
			take = max - total;
		hoist_buf_add(b, buf, take);
		total += take;
		if (total >= max) {
			hoist_buf_adds(b, "\n[output truncated]\n");
			break;
		}
	}
}

int hoist_stack_info(struct hoist_store *s, const struct hoist_stack_spec *spec,
		     const struct hoist_stack_opts *o, const char *const *only,
		     struct hoist_buf *md, struct hoist_error *err)
{
	_cleanup_free_ char *tag = NULL;
	int r = hoist_stack_tag(spec, o, &tag, err);
	if (r < 0)
		return r;
	for (size_t k = 0; k < spec->n_images; k++) {
		const struct hoist_stack_image *img = &spec->images[spec->order[k]];
		if (!selected(only, img->name))
			continue;
		_cleanup_free_ char *ref = hoist_stack_ref(img, o, tag);
		if ((r = local_ref(s, o, ref, err)) < 0)
			return r;
		hoist_buf_addf(md, "# %s\n\nImage: `%s`\n\n", img->name, ref);
		for (size_t c = 0; c < img->info_cmds.n; c++) {
			const struct hoist_stack_info_cmd *ic = NULL;
			for (size_t j = 0; j < spec->n_info_cmds; j++)
				if (!strcmp(spec->info_cmds[j].key, img->info_cmds.v[c]))
					ic = &spec->info_cmds[j];
			if (!ic)
				continue;
			_cleanup_close_ int fd = memfd_create("hoist-info", MFD_CLOEXEC);
			if (fd < 0)
				return hoist_error_set(err, -errno, "memfd_create: %s",
						       strerror(errno));
			const char *argv[] = {"/bin/sh", "-c", ic->command, NULL};
			int status = 0;
			r = hoist_stack_exec(s, ref, argv, NULL, fd, fd, &status, err);
			if (r < 0)
				return hoist_error_prefix(err, "image '%s': info command '%s'",
							  img->name, ic->key);
			hoist_buf_addf(md, "## %s\n\n`%s`",
				       ic->description ? ic->description : ic->key, ic->command);
			if (status != 0)
				hoist_buf_addf(md, " (exit status %d)", status);
			hoist_buf_adds(md, "\n\n```\n");
			slurp(fd, md, INFO_OUTPUT_MAX);
			if (md->len && md->data[md->len - 1] != '\n')
				hoist_buf_addc(md, '\n');
			hoist_buf_adds(md, "```\n\n");
		}
	}
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int hoist_stack_test(struct hoist_store *s, const struct hoist_stack_spec *spec,
		     const struct hoist_stack_opts *o, const char *const *only,
		     struct hoist_buf *report, struct hoist_error *err)
{
	_cleanup_free_ char *tag = NULL;
	size_t failed = 0, ran = 0;
	int r = hoist_stack_tag(spec, o, &tag, err);
	if (r < 0)
		return r;
	for (size_t k = 0; k < spec->n_images; k++) {
		const struct hoist_stack_image *img = &spec->images[spec->order[k]];
		if (!selected(only, img->name))
			continue;
		_cleanup_free_ char *dir = hoist_xasprintf("%s/%s/test", spec->dir, img->name);
		_cleanup_free_ char *abs = realpath(dir, NULL);
		if (!abs)
			continue; /* no test folder: nothing to run */
		DIR *d = opendir(abs);
		if (!d)
			continue;
		struct hoist_strv files = HOIST_STRV_INIT;
		struct dirent *de;
		while ((de = readdir(d)) && files.n < 1024) {
			struct stat st;
			_cleanup_free_ char *p = hoist_xasprintf("%s/%s", abs, de->d_name);
			if (de->d_name[0] != '.' && stat(p, &st) == 0 && S_ISREG(st.st_mode))
				hoist_strv_push(&files, de->d_name);
		}
		closedir(d);
		if (files.n)
			qsort(files.v, files.n, sizeof(char *), name_cmp);
		_cleanup_free_ char *ref = hoist_stack_ref(img, o, tag);
		_cleanup_free_ char *bind = hoist_xasprintf("%s:/hoist-test", abs);
		const char *binds[] = {bind, NULL};
		if (files.n && (r = local_ref(s, o, ref, err)) < 0) {
			hoist_strv_release(&files);
			return r;
		}
		for (size_t f = 0; f < files.n; f++) {
			_cleanup_free_ char *path = hoist_xasprintf("/hoist-test/%s", files.v[f]);
			const char *sh[] = {"/bin/sh", path, NULL};
			const char *ex[] = {path, NULL};
			int status = 0;
			r = hoist_stack_exec(s, ref, hoist_endswith(files.v[f], ".sh") ? sh : ex,
					     binds, o->output_fd > 0 ? o->output_fd : -1,
					     o->output_fd > 0 ? o->output_fd : -1, &status, err);
			ran++;
			if (r < 0) {
				hoist_buf_addf(report, "not ok %s %s (%s)\n", img->name, files.v[f],
					       err->msg);
				hoist_error_clear(err);
				failed++;
			} else if (status != 0) {
				hoist_buf_addf(report, "not ok %s %s (status %d)\n", img->name,
					       files.v[f], status);
				failed++;
			} else {
				hoist_buf_addf(report, "ok %s %s\n", img->name, files.v[f]);
			}
		}
		hoist_strv_release(&files);
	}
	if (failed)
		return hoist_error_set(err, -EBADMSG, "%zu of %zu tests failed", failed, ran);
	return 0;
}

int hoist_stack_tag_stable(const struct hoist_stack_spec *spec, const struct hoist_stack_opts *o,
			   const char *const *only, struct hoist_buf *report,
			   struct hoist_error *err)
{
	_cleanup_free_ char *tag = NULL;
	int r;
	if (!o->registry)
		return hoist_error_set(err, -EINVAL, "tag-stable needs a registry");
	if ((r = hoist_stack_tag(spec, o, &tag, err)) < 0)
		return r;
	for (size_t k = 0; k < spec->n_images; k++) {
		const struct hoist_stack_image *img = &spec->images[spec->order[k]];
		if (!selected(only, img->name))
			continue;
		_cleanup_free_ char *ref = hoist_stack_ref(img, o, tag);
		struct hoist_registry_manifest m = {0};
		struct hoist_strv dests = HOIST_STRV_INIT;
		if ((r = hoist_registry_inspect(o->registry, ref, &m, err)) < 0)
			return hoist_error_prefix(err, "image '%s'", img->name);
		hoist_strv_push(&dests, "stable");
		for (size_t p = 0; p < spec->n_plans; p++) {
			const struct hoist_stack_plan_def *pd = &spec->plans[p];
			if (!pd->tag_stable_postfix)
				continue;
			if (o->plan_name && strcmp(o->plan_name, pd->name))
				continue;
			hoist_strv_take(
			    &dests, hoist_xasprintf("%s%s", pd->tag_prefix ? pd->tag_prefix : tag,
						    pd->tag_stable_postfix));
		}
		for (size_t d = 0; d < dests.n && r >= 0; d++) {
			_cleanup_free_ char *dst = hoist_stack_ref(img, o, dests.v[d]);
			char dg[HOIST_DIGEST_MAX];
			r = hoist_registry_put_manifest(o->registry, dst, m.data, m.len,
							m.media_type, dg, err);
			if (r < 0)
				hoist_error_prefix(err, "tagging '%s'", dst);
			else
				hoist_buf_addf(report, "%s -> %s %s\n", ref, dst, dg);
		}
		hoist_strv_release(&dests);
		hoist_registry_manifest_release(&m);
		if (r < 0)
			return r;
	}
	return 0;
}
