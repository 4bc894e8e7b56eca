/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hoist stack build: input hashes, and one image's job (the registry /
 * store check for an identical build, the build, the push); sched.c runs
 * the jobs in worker processes.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hoist/ref.h"
#include "hoist/registry.h"
#include "hoist/stack.h"
#include "stack-private.h"

#define HASH_MAX_FILES 100000
#define HASH_MAX_DEPTH 64

void hoist_stack_opts_init(struct hoist_stack_opts *o)
{
	memset(o, 0, sizeof(*o));
}

int hoist_stack_tag(const struct hoist_stack_spec *spec, const struct hoist_stack_opts *opts,
		    char **ret, struct hoist_error *err)
{
	const char *prefix = spec->tag_prefix;
	_cleanup_free_ char *branch = NULL;
	char *t;
	if (opts->tag) {
		*ret = hoist_xstrdup(opts->tag);
		return 0;
	}
	if (opts->plan_name) {
		size_t i;
		for (i = 0; i < spec->n_plans; i++)
			if (!strcmp(spec->plans[i].name, opts->plan_name))
				break;
		if (i == spec->n_plans)
			return hoist_error_set(err, -ENOENT, "no plan '%s' in the spec",
					       opts->plan_name);
		if (spec->plans[i].tag_prefix)
			prefix = spec->plans[i].tag_prefix;
	}
	int r = hoist_stack_git_branch(spec->dir, &branch, err);
	if (r < 0)
		return hoist_error_prefix(err,
					  "finding the git branch for the tag (or give --tag)");
	t = prefix ? hoist_xasprintf("%s-%s", prefix, branch) : hoist_xstrdup(branch);
	for (char *p = t; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '.' || *p == '-'))
			*p = '-';
	if (t[0] == '.' || t[0] == '-')
		t[0] = '_';
	if (strlen(t) > 128)
		t[128] = '\0';
	*ret = t;
	return 0;
}

char *hoist_stack_ref(const struct hoist_stack_image *img, const struct hoist_stack_opts *opts,
		      const char *tag)
{
	if (opts->registry_prefix && *opts->registry_prefix)
		return hoist_xasprintf("%s/%s:%s", opts->registry_prefix, img->image_name, tag);
	return hoist_xasprintf("%s:%s", img->image_name, tag);
}

static char *latest_ref(const struct hoist_stack_image *img, const struct hoist_stack_opts *opts)
{
	if (opts->registry_prefix && *opts->registry_prefix)
		return hoist_xasprintf("%s/%s", opts->registry_prefix, img->image_name);
	return hoist_xstrdup(img->image_name);
}

/*
 * The local names a built image gets: its ref, and image_name (with and
 * without the registry prefix) both latest and :tag, so that a child's
 * `FROM image_name`, `FROM image_name:${BASE_TAG}` (the datahub spelling)
 * and `FROM $BASE_IMAGE` all find this build.
 */
static void local_names(const struct hoist_stack_image *img, const struct hoist_stack_opts *o,
			const char *tag, struct hoist_strv *out)
{
	hoist_strv_take(out, hoist_stack_ref(img, o, tag));
	hoist_strv_take(out, latest_ref(img, o));
	if (o->registry_prefix && *o->registry_prefix) {
		hoist_strv_take(out, hoist_xasprintf("%s:%s", img->image_name, tag));
		hoist_strv_push(out, img->image_name);
	}
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Hash dirfd's tree into h: sorted names, type, exec bit, content. */
static int hash_tree(int dirfd, const char *rel, int depth, size_t *files, struct hoist_sha256 *h,
		     struct hoist_error *err)
{
	if (depth > HASH_MAX_DEPTH)
		return hoist_error_set(err, -ELOOP, "'%s': nested too deep", rel);
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return hoist_error_set(err, -errno, "cannot open '%s'", rel);
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return hoist_error_set(err, -errno, "cannot read '%s'", rel);
	}
	struct hoist_strv names = HOIST_STRV_INIT;
	struct dirent *de;
	int r = 0;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			hoist_strv_push(&names, de->d_name);
	if (names.n)
		qsort(names.v, names.n, sizeof(char *), name_cmp);
	for (size_t i = 0; i < names.n && r == 0; i++) {
		const char *nm = names.v[i];
		struct stat st;
		_cleanup_free_ char *path = hoist_xasprintf("%s/%s", rel, nm);
		if (++*files > HASH_MAX_FILES) {
			r = hoist_error_set(err, -E2BIG, "more than %d files under an image folder",
					    HASH_MAX_FILES);
			break;
		}
		if (fstatat(fd, nm, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = hoist_error_set(err, -errno, "stat '%s'", path);
			break;
		}
		hoist_sha256_update(h, path, strlen(path) + 1);
		if (S_ISDIR(st.st_mode)) {
			hoist_sha256_update(h, "d", 1);
			int sub = openat(fd, nm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0) {
				r = hoist_error_set(err, -errno, "open '%s'", path);
				break;
			}
			r = hash_tree(sub, path, depth + 1, files, h, err);
			close(sub);
		} else if (S_ISLNK(st.st_mode)) {
			char tgt[4096];
			ssize_t l = readlinkat(fd, nm, tgt, sizeof(tgt));
			if (l < 0) {
				r = hoist_error_set(err, -errno, "readlink '%s'", path);
				break;
			}
			hoist_sha256_update(h, "l", 1);
			hoist_sha256_update(h, tgt, (size_t)l);
		} else if (S_ISREG(st.st_mode)) {
			hoist_sha256_update(h, (st.st_mode & 0111) ? "x" : "f", 1);
			int ffd = openat(fd, nm, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			if (ffd < 0) {
				r = hoist_error_set(err, -errno, "open '%s'", path);
				break;
			}
			char buf[65536];
			ssize_t k;
			while ((k = read(ffd, buf, sizeof(buf))) > 0)
				hoist_sha256_update(h, buf, (size_t)k);
			if (k < 0)
				r = hoist_error_set(err, -errno, "read '%s'", path);
			close(ffd);
		}
		hoist_sha256_update(h, "\n", 1);
	}
	hoist_strv_release(&names);
	closedir(d);
	return r;
}

int hoist_stack_input_hashes(const struct hoist_stack_spec *spec,
			     const struct hoist_platform *platform, char ***ret_hashes,
			     struct hoist_error *err)
{
	size_t n = spec->n_images;
	char **hashes = hoist_xcalloc(n + 1, sizeof(char *));
	struct hoist_platform host;
	char pl[128];
	if (!platform) {
		hoist_platform_host(&host);
		platform = &host;
	}
	hoist_platform_format(platform, pl, sizeof(pl));
	for (size_t k = 0; k < n; k++) {
		size_t i = spec->order[k];
		const struct hoist_stack_image *img = &spec->images[i];
		struct hoist_sha256 h;
		size_t files = 0;
		char out[HOIST_DIGEST_MAX];
		_cleanup_free_ char *folder = hoist_xasprintf("%s/%s", spec->dir, img->name);
		hoist_sha256_init(&h);
		hoist_sha256_update(&h, "hoist-stack-input-v1\n", 21);
		const char *ph = img->parent == SIZE_MAX ? "" : hashes[img->parent];
		hoist_sha256_update(&h, ph, strlen(ph) + 1);
		hoist_sha256_update(&h, pl, strlen(pl) + 1);
		hoist_sha256_update(&h, img->image_name, strlen(img->image_name) + 1);
		for (size_t a = 0; a < img->build_args.n; a++)
			hoist_sha256_update(&h, img->build_args.v[a],
					    strlen(img->build_args.v[a]) + 1);
		int dfd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0) {
			int e = errno;
			hoist_sha256_release(&h);
			hoist_strv_free(hashes);
			return hoist_error_set(err, -e, "image '%s': cannot open folder '%s'",
					       img->name, folder);
		}
		int r = hash_tree(dfd, ".", 0, &files, &h, err);
		close(dfd);
		if (r < 0) {
			hoist_sha256_release(&h);
			hoist_strv_free(hashes);
			return hoist_error_prefix(err, "hashing image '%s'", img->name);
		}
		hoist_sha256_final(&h, out);
		hashes[i] = hoist_xstrdup(out);
	}
	*ret_hashes = hashes;
	return 0;
}

static int config_label(const char *config, size_t len, const char *key, char *out, size_t size)
{
	json_error_t je;
	json_t *j = json_loadb(config, len, 0, &je);
	const char *v = json_string_value(
	    json_object_get(json_object_get(json_object_get(j, "config"), "Labels"), key));
	int r = v ? 0 : -ENOENT;
	if (v)
		snprintf(out, size, "%s", v);
	json_decref(j);
	return r;
}

/* Label `key` of the image the store digest names, or -ENOENT. */
static int store_label(struct hoist_store *s, const char *digest, const struct hoist_platform *plat,
		       const char *key, char *out, size_t size)
{
	struct hoist_image img;
	hoist_image_init(&img);
	struct hoist_error e2 = {0};
	int r = hoist_image_load(s, digest, plat, &img, &e2);
	if (r == 0) {
		const char *v = json_string_value(json_object_get(
		    json_object_get(json_object_get(img.config, "config"), "Labels"), key));
		r = v ? 0 : -ENOENT;
		if (v)
			snprintf(out, size, "%s", v);
	}
	hoist_image_release(&img);
	return r;
}

/*
 * Does `ref` in the registry hold a single manifest whose config carries
 * `hash`? 1 yes, 0 no (absent, another hash, an index), < 0 on errors
 * other than "not there".
 */
static int registry_has(const struct hoist_registry_opts *ro, const char *ref, const char *hash,
			char ret_digest[HOIST_DIGEST_MAX], struct hoist_error *err)
{
	struct hoist_registry_manifest m = {0};
	struct hoist_error e2 = {0};
	char label[HOIST_DIGEST_MAX + 8];
	int r = hoist_registry_manifest_exists(ro, ref, NULL, err);
	if (r <= 0)
		return r;
	r = hoist_registry_inspect(ro, ref, &m, err);
	if (r < 0)
		return r;
	json_error_t je;
	json_t *j = json_loadb(m.data, m.len, 0, &je);
	const char *cfg =
	    json_string_value(json_object_get(json_object_get(j, "config"), "digest"));
	_cleanup_free_ char *cfgd = cfg ? hoist_xstrdup(cfg) : NULL;
	json_decref(j);
	snprintf(ret_digest, HOIST_DIGEST_MAX, "%s", m.digest);
	hoist_registry_manifest_release(&m);
	if (!cfgd || !hoist_digest_valid(cfgd))
		return 0;
	_cleanup_free_ char *config = NULL;
	size_t clen;
	r = hoist_registry_fetch_blob(ro, ref, cfgd, HOIST_MAX_JSON_BLOB, &config, &clen, &e2);
	if (r < 0)
		return 0;
	if (config_label(config, clen, HOIST_STACK_LABEL_HASH, label, sizeof(label)) < 0)
		return 0;
	return strcmp(label, hash) == 0;
}

static void emit(const struct hoist_stack_opts *o, enum hoist_stack_event_kind kind,
		 const struct hoist_stack_image *img, const char *ref, const char *digest,
		 const char *where, const char *hash)
{
	if (!o->on_event)
		return;
	struct hoist_stack_event ev = {.kind = kind,
				       .image = img,
				       .ref = ref,
				       .digest = digest,
				       .where = where,
				       .input_hash = hash};
	o->on_event(&ev, o->userdata);
}

/* Make sure ref is in the store (pull it when a registry is allowed). */
static int ensure_local(struct hoist_store *s, const struct hoist_stack_opts *o, const char *ref,
			char ret_digest[HOIST_DIGEST_MAX], struct hoist_error *err)
{
	struct hoist_error e2 = {0};
	if (hoist_store_tag_get(s, ref, ret_digest, &e2) == 0)
		return 0;
	if (!o->registry)
		return hoist_error_set(err, -ENOENT,
				       "image '%s' is not in the store (and no registry to pull "
				       "it from)",
				       ref);
	struct hoist_pull_result pr;
	int r = hoist_registry_pull(s, o->registry, ref, o->platform, &pr, err);
	if (r < 0)
		return hoist_error_prefix(err, "pulling '%s'", ref);
	snprintf(ret_digest, HOIST_DIGEST_MAX, "%s", pr.digest);
	return 0;
}

static int build_one(const struct stack_job *j, const char *parent_base,
		     char digest[HOIST_DIGEST_MAX], struct hoist_error *err)
{
	const struct hoist_stack_opts *o = j->o;
	const struct hoist_stack_image *img = &j->spec->images[j->i];
	const char *hash = j->hashes[j->i];
	_cleanup_free_ char *ctx = hoist_xasprintf("%s/%s", j->spec->dir, img->name);
	_cleanup_free_ char *lh = hoist_xasprintf("%s=%s", HOIST_STACK_LABEL_HASH, hash);
	_cleanup_free_ char *li = hoist_xasprintf("%s=%s", HOIST_STACK_LABEL_IMAGE, img->name);
	const char *labels[] = {lh, li, NULL};
	struct hoist_strv tags = HOIST_STRV_INIT;
	struct hoist_strv args = HOIST_STRV_INIT;
	struct hoist_build_opts bo;
	struct hoist_build_result br;

	local_names(img, o, j->tag, &tags);
	if (parent_base) {
		hoist_strv_take(&args, hoist_xasprintf("BASE_IMAGE=%s", parent_base));
		hoist_strv_take(&args, hoist_xasprintf("BASE_TAG=%s", j->tag));
	}
	for (size_t a = 0; a < img->build_args.n; a++)
		hoist_strv_push(&args, img->build_args.v[a]);
	hoist_build_opts_init(&bo);
	bo.context_dir = ctx;
	bo.build_args = (const char *const *)args.v;
	bo.labels = labels;
	bo.tags = (const char *const *)tags.v;
	bo.platform = o->platform;
	bo.no_cache = o->no_cache;
	bo.on_event = j->on_build;
	bo.userdata = j->build_userdata;
	bo.network = o->network;
	bo.identity = o->identity;
	bo.isolation = o->isolation;
	bo.output_fd = j->log_fd > 0 ? j->log_fd : 0;
	bo.registry = o->registry;
	bo.pull = o->registry && o->registry->pull == HOIST_PULL_ALWAYS;
	int r = hoist_build_run(j->s, &bo, &br, err);
	hoist_strv_release(&args);
	hoist_strv_release(&tags);
	if (r < 0)
		return hoist_error_prefix(err, "building image '%s'", img->name);
	snprintf(digest, HOIST_DIGEST_MAX, "%s", br.manifest.digest);
	return 0;
}

/*
 * The parent of image i in the store, under its local names (so that
 * `FROM <parent image_name>` finds it): built or checked in this run, else
 * its tag as it is. "<parent ref>@<digest>" in *ret.
 */
static int resolve_parent(const struct stack_job *j, char **ret, struct hoist_error *err)
{
	struct hoist_store *s = j->s;
	const struct hoist_stack_opts *o = j->o;
	const struct hoist_stack_image *img = &j->spec->images[j->i];
	const struct hoist_stack_image *par = &j->spec->images[img->parent];
	_cleanup_free_ char *pref = hoist_stack_ref(par, o, j->tag);
	char *pd = j->digests[img->parent];
	int r;

	if (!*pd && (r = ensure_local(s, o, pref, pd, err)) < 0)
		return hoist_error_prefix(err, "image '%s': its parent '%s'", img->name, par->name);
	if (!hoist_store_blob_exists(s, pd)) {
		/* found up to date in the registry, not here: pull that
		 * very build (a local tag of the name may be older) */
		struct hoist_pull_result pr;
		if (!o->registry)
			return hoist_error_set(err, -ENOENT, "'%s' is not in the store", pref);
		r = hoist_registry_pull(s, o->registry, pref, o->platform, &pr, err);
		if (r < 0)
			return hoist_error_prefix(err, "pulling '%s'", pref);
		snprintf(pd, HOIST_DIGEST_MAX, "%s", pr.digest);
	}
	struct hoist_strv names = HOIST_STRV_INIT;
	local_names(par, o, j->tag, &names);
	r = 0;
	for (size_t k = 0; k < names.n && r >= 0; k++)
		r = hoist_store_tag_set(s, names.v[k], pd, err);
	hoist_strv_release(&names);
	if (r < 0)
		return r;
	*ret = hoist_xasprintf("%s@%s", pref, pd);
	return 0;
}

int stack_job_run(const struct stack_job *j, char ret_digest[HOIST_DIGEST_MAX],
		  struct hoist_error *err)
{
	struct hoist_store *s = j->s;
	const struct hoist_stack_opts *o = j->o;
	const struct hoist_stack_image *img = &j->spec->images[j->i];
	const char *hash = j->hashes[j->i];
	_cleanup_free_ char *ref = hoist_stack_ref(img, o, j->tag);
	char have[HOIST_DIGEST_MAX] = "", label[HOIST_DIGEST_MAX + 8];
	char digest[HOIST_DIGEST_MAX];
	struct hoist_error e2 = {0};
	int r;

	/* Identical build already there? The registry is the truth when we
	 * push; else the store. --no-cache rebuilds whatever is there. */
	if (o->no_cache) {
		/* nothing to look up */
	} else if (o->push) {
		r = registry_has(o->registry, ref, hash, have, err);
		if (r < 0)
			return hoist_error_prefix(err, "checking '%s' in the registry", ref);
		if (r == 1) {
			emit(o, HOIST_STACK_EV_UPTODATE, img, ref, have, "registry", hash);
			snprintf(ret_digest, HOIST_DIGEST_MAX, "%s", have);
			return STACK_JOB_UPTODATE;
		}
	} else if (hoist_store_tag_get(s, ref, have, &e2) == 0 &&
		   store_label(s, have, o->platform, HOIST_STACK_LABEL_HASH, label,
			       sizeof(label)) == 0 &&
		   strcmp(label, hash) == 0) {
		emit(o, HOIST_STACK_EV_UPTODATE, img, ref, have, "store", hash);
		snprintf(ret_digest, HOIST_DIGEST_MAX, "%s", have);
		return STACK_JOB_UPTODATE;
	}

	_cleanup_free_ char *base = NULL;
	if (img->parent != SIZE_MAX && (r = resolve_parent(j, &base, err)) < 0)
		return r;
	emit(o, HOIST_STACK_EV_BUILD, img, ref, NULL, hoist_stack_reason_name(j->reason), hash);
	r = build_one(j, base, digest, err);
	if (r < 0)
		return r;
	emit(o, HOIST_STACK_EV_BUILT, img, ref, digest, NULL, hash);
	if (o->push) {
		char pushed[HOIST_DIGEST_MAX];
		r = hoist_registry_push(s, o->registry, digest, ref, pushed, err);
		if (r < 0)
			return hoist_error_prefix(err, "pushing '%s'", ref);
		emit(o, HOIST_STACK_EV_PUSHED, img, ref, pushed, NULL, hash);
	}
	snprintf(ret_digest, HOIST_DIGEST_MAX, "%s", digest);
	return STACK_JOB_BUILT;
}
